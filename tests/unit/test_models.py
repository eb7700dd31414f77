"""Payload parsing: the seeds parse, and refusals say how to fix them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bastion_orchestrator.doors import direct
from models import ACTION_ADAPTER, EVENT_ADAPTER, Create

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).parents[1] / "events"


@pytest.mark.parametrize("name", ["create", "status", "extend", "destroy", "list"])
def test_event_files_parse(name):
    parsed = ACTION_ADAPTER.validate_python(json.loads((EVENTS / f"{name}.json").read_text()))
    assert parsed.action == name


@pytest.mark.parametrize("name", ["warn", "terminate", "sweep"])
def test_scheduler_events_parse(name):
    assert EVENT_ADAPTER.validate_python(json.loads((EVENTS / f"{name}.json").read_text()))


@pytest.mark.parametrize("instance_id", ["i-01234567", "i-0123456789abcdef0"])
def test_instance_ids_of_8_or_17_hex_digits(instance_id):
    ACTION_ADAPTER.validate_python({"action": "status", "instance_id": instance_id})


@pytest.mark.parametrize("instance_id", ["i-0123456789", "i-0123456", "i-0123456789ABCDEF0"])
def test_other_lengths_and_uppercase_are_refused(instance_id):
    with pytest.raises(ValidationError):
        ACTION_ADAPTER.validate_python({"action": "status", "instance_id": instance_id})


def test_boundaries_are_inclusive():
    Create.model_validate(
        {
            "action": "create",
            "user_id": "U" * 64,
            "username": "u" * 80,
            "display_name": "d" * 128,
            "reason": "r" * 256,
            "rds_endpoint": "a" * 63 + ".b",
            "rds_port": 65535,
        }
    )


def _contract(outcome: Any) -> dict[str, Any]:
    from bastion_orchestrator.presenters.contract import Contract, Guide

    return Contract(Guide).present(outcome)


def test_refusal_messages_name_field_and_remedy():
    # The direct door refuses before any AWS client exists: no dispatcher is needed
    request = {"action": "status", "instance_id": "i-xyz", "extra": 1}
    response = direct.handle(request, "req", None, _contract)  # type: ignore[arg-type]
    assert response["error"] == "VALIDATION_ERROR"
    fields = {e["field"]: e["problem"] for e in response["errors"]}
    assert "8 or 17 lowercase hex digits" in fields["instance_id"]
    assert "allowed: action, instance_id, user_id" in fields["extra"]
