"""The host the orchestrator launches: its boot script (dead-man switch, MOTD, profile), as
EC2 received it."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest

import handler

pytestmark = pytest.mark.integration


def launched_user_data(aws: Any, instance_id: str) -> str:
    attribute = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(attribute["UserData"]["Value"]).decode()


def test_every_bastion_boots_with_its_dead_man_switch_at_the_hard_cap(aws, clock, lambda_context):
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "reason": "$(reboot)"},
        lambda_context,
    )
    script = launched_user_data(aws, created["instance_id"])
    cap = datetime.fromisoformat(created["created_at"]) + timedelta(hours=12)
    assert f"OnCalendar={cap.strftime('%Y-%m-%d %H:%M:%S UTC')}" in script
    assert "$(reboot)" not in script  # the reason travels base64-encoded only
    # And the instance terminates when it powers itself off
    shutdown = aws.ec2.describe_instance_attribute(
        InstanceId=created["instance_id"], Attribute="instanceInitiatedShutdownBehavior"
    )
    assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"


def test_create_may_name_a_profile_the_deployment_offers(aws, clock, lambda_context, monkeypatch):
    from bastion_orchestrator.app import wiring

    monkeypatch.setenv("BOOT_PROFILES", "minimal,db-clients")
    wiring.reset()
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "profile": "db-clients"},
        lambda_context,
    )
    assert "dnf -y -q install postgresql16" in launched_user_data(aws, created["instance_id"])
    default = handler.lambda_handler(
        {"action": "create", "user_id": "U2", "username": "v"}, lambda_context
    )
    assert "dnf" not in launched_user_data(aws, default["instance_id"])


def test_a_profile_the_deployment_does_not_offer_launches_nothing(aws, clock, lambda_context):
    refused = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "profile": "db-clients"},
        lambda_context,
    )
    assert refused["error"] == "VALIDATION_ERROR" and "BOOT_PROFILES" in refused["message"]
    assert aws.running() == []
