"""Break-glass extends: a reason is required and must be printable, only the owner may, a
redelivery extends and announces once, and where no approvals exist it locks nobody out."""

from __future__ import annotations

from datetime import timedelta

import pytest

import handler
from tests.integration.conftest import CHANNEL
from tests.integration.test_approval_grants import OWNER, break_glass_bastion, expiry, extend
from tests.integration.test_approvals import run_queued, slack_post
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "text",
    [
        "bastion extend dev --break-glass",
        "bastion extend --break-glass dev",
        "bastion extend dev --break-glass    ",
        "bastion extend dev --BREAK-GLASS --break-glass",
    ],
)
def test_a_slack_break_glass_extend_needs_a_reason(
    aws, approvals, clock, lambda_context, lambda_async, text
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before, announced = expiry(aws, iid), len(approvals.to(CHANNEL))

    slack_post(lambda_context, clock, slash_command(text, user_id=OWNER))
    results = run_queued(lambda_context, lambda_async)

    assert all(r.get("success") is not True for r in results)
    assert expiry(aws, iid) == before and len(approvals.to(CHANNEL)) == announced


@pytest.mark.parametrize("reason", ["   ", "\t", "INC\n1", "\u200b"])
def test_a_direct_break_glass_extend_with_a_blank_or_unprintable_reason_is_refused(
    aws, approvals, clock, lambda_context, lambda_async, reason
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    refused = extend(lambda_context, iid, break_glass=True, reason=reason)
    assert refused["error"] == "VALIDATION_ERROR" and expiry(aws, iid) == before


def test_a_break_glass_extend_of_someone_elses_bastion_is_forbidden_and_not_announced(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before, announced = expiry(aws, iid), len(approvals.to(CHANNEL))
    refused = handler.lambda_handler(
        {
            "action": "extend",
            "instance_id": iid,
            "user_id": "U99999",
            "break_glass": True,
            "reason": "INC-1",
        },
        lambda_context,
    )
    assert refused["error"] == "FORBIDDEN" and expiry(aws, iid) == before
    assert len(approvals.to(CHANNEL)) == announced


def test_a_redelivered_break_glass_extend_extends_and_announces_once(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before, announced = expiry(aws, iid), len(approvals.to(CHANNEL))
    slack_post(
        lambda_context,
        clock,
        slash_command("bastion extend dev --break-glass INC-2", user_id=OWNER),
    )
    [job] = lambda_async
    run_queued(lambda_context, lambda_async)
    handler.lambda_handler(job, lambda_context)  # Lambda's async retry

    assert expiry(aws, iid) == before + timedelta(hours=1)
    assert len(approvals.to(CHANNEL)) == announced + 1


def test_a_break_glass_extend_in_an_unprotected_deployment_does_not_lock_the_owner_out(
    aws, slack, idempotency_table, clock, lambda_context
):
    created = handler.lambda_handler(
        {"action": "create", "user_id": OWNER, "username": "john", "hours": 1}, lambda_context
    )
    iid = created["instance_id"]
    extend(lambda_context, iid, break_glass=True, reason="INC-5")

    later = extend(lambda_context.next(), iid)

    assert later.get("success") is True and "pending_approval" not in later
