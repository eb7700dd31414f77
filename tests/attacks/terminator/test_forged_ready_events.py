"""Readiness events (``{"action": "ready"}``) for a foreign or destroyed instance, malformed, or
sent to the orchestrator: they tag nothing and tell nobody."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

import auto_terminate
import handler

pytestmark = pytest.mark.integration

OWNER = "U12345"


def foreign_instance(environment: str | None) -> str:
    ec2: Any = boto3.client("ec2", region_name="us-east-1")
    tags: list[dict[str, str]] = [{"Key": "Name", "Value": "not-ours"}]
    if environment is not None:
        tags += [
            {"Key": "Project", "Value": "docustack"},
            {"Key": "Environment", "Value": environment},
            {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
            {"Key": "RequestedByUserId", "Value": OWNER},
            {"Key": "CreatedAt", "Value": "2026-01-01T00:00:00+00:00"},
        ]
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    run = ec2.run_instances(
        ImageId=images[0]["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(run["Instances"][0]["InstanceId"])


@pytest.mark.parametrize("environment", [None, "prod"])
def test_a_ready_event_for_a_foreign_instance_tags_and_tells_nothing(
    aws, slack, clock, lambda_context, environment
):
    iid = foreign_instance(environment)
    before, told = aws.tags(iid), len(slack.messages)
    for attempt in (1, 3, 10):
        result = auto_terminate.lambda_handler(
            {"action": "ready", "instance_id": iid, "attempt": attempt}, lambda_context
        )
        assert result["outcome"] == "not_ours_or_gone"
    assert aws.tags(iid) == before and len(slack.messages) == told


@pytest.mark.parametrize(
    "event",
    [
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 0},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 11},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": "1"},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": True},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 1.0},
        {"action": "ready", "instance_id": "i-0123456789abcdef0"},
        {"action": "ready", "instance_id": "i-0123", "attempt": 1},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 1, "user_id": "U1"},
        {"action": "READY", "instance_id": "i-0123456789abcdef0", "attempt": 1},
    ],
)
def test_a_malformed_ready_event_is_a_validation_error(aws, lambda_context, event):
    result = auto_terminate.lambda_handler(event, lambda_context)
    assert result["error"] == "VALIDATION_ERROR"


def test_a_ready_event_sent_to_the_orchestrator_does_nothing(aws, slack, clock, lambda_context):
    created = handler.lambda_handler(
        {"action": "create", "user_id": OWNER, "username": "john"}, lambda_context
    )
    iid = created["instance_id"]
    result = handler.lambda_handler(
        {"action": "ready", "instance_id": iid, "attempt": 1}, lambda_context
    )
    assert result["error"] == "VALIDATION_ERROR" and "ReadyNotified" not in aws.tags(iid)


def test_a_ready_event_for_a_destroyed_bastion_tells_nothing(aws, slack, clock, lambda_context):
    created = handler.lambda_handler(
        {"action": "create", "user_id": OWNER, "username": "john"}, lambda_context
    )
    iid = created["instance_id"]
    handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)
    told = len(slack.messages)
    result = auto_terminate.lambda_handler(
        {"action": "ready", "instance_id": iid, "attempt": 3}, lambda_context
    )
    assert result["outcome"] == "not_ours_or_gone" and len(slack.messages) == told
