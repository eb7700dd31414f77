"""The audit trail: every line names the actor and the door, and a refusal a user caused is a
warning, not an error (no caller trips the error alarm at will)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.doors import direct, via_iam
from tests.support.iam_requests import ALICE_ARN

pytestmark = pytest.mark.integration


def test_refusals_a_user_caused_are_warnings_not_errors(aws, clock, lambda_context, caplog):
    caplog.set_level(logging.INFO)
    direct(lambda_context, {"action": "status", "instance_id": "i-0123456789abcdef0"})
    via_iam(lambda_context, {"action": "create", "user_id": "U2", "username": "u"})
    refusals = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert len(refusals) == 2 and {r.levelname for r in refusals} == {"WARNING"}


def test_every_audit_line_names_the_actor_and_the_door(aws, clock, lambda_context, caplog):
    from bastion_orchestrator.observability import logger

    caplog.set_level(logging.INFO)
    via_iam(lambda_context, {"action": "create"})
    # The lines as Powertools writes them (JSON, with the keys the door appended)
    render = logger.registered_formatter.format
    lines = [json.loads(render(r)) for r in caplog.records]
    created = [line for line in lines if line.get("message") == "bastion created"]
    assert created and created[0]["door"] == "iam" and created[0]["actor"] == ALICE_ARN
