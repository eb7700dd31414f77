"""A grant is the lifetime it grants: an extend past it is a request to the approvers, asked once,
by the owner only; approved, it never revives a destroyed or expired bastion, never extends
twice and never shortens one."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import handler
from tests.attacks.conftest import approval_posts
from tests.integration.test_approval_grants import (
    OWNER,
    approved_bastion,
    break_glass_bastion,
    expiry,
    extend,
    schedules,
)
from tests.integration.test_approvals import press, run_queued, slack_post
from tests.support.doors import iam
from tests.support.iam_requests import BOB_ARN, BOB_ID
from tests.support.slack_requests import button

pytestmark = pytest.mark.integration


def test_extend_twice_is_one_open_request_and_changes_nothing(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before, posted = expiry(aws, iid), len(approval_posts(approvals))

    first = extend(lambda_context, iid)
    second = extend(lambda_context.next(), iid)

    assert first["approval_id"] == second["approval_id"]
    assert len(approval_posts(approvals)) == posted + 1
    assert expiry(aws, iid) == before


def test_a_non_owner_cannot_ask_to_extend_someone_elses_bastion(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    posted = len(approval_posts(approvals))

    direct = handler.lambda_handler(
        {"action": "extend", "instance_id": iid, "user_id": "U99999"}, lambda_context
    )
    through_iam = iam(lambda_context, {"action": "extend", "instance_id": iid}, BOB_ARN, BOB_ID)
    slack_post(lambda_context, clock, button("bastion_extend", iid, user_id="U99999"))
    [by_button] = run_queued(lambda_context, lambda_async)

    for refused in (direct, through_iam, by_button):
        assert refused["error"] == "FORBIDDEN", refused
    assert len(approval_posts(approvals)) == posted


def test_an_approver_who_is_not_the_owner_gets_no_grant_on_someone_elses_bastion(
    aws, approvals, clock, lambda_context, lambda_async
):
    # grants=True is only worth something on a bastion the approver may act on
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    refused = handler.lambda_handler(
        {"action": "extend", "instance_id": iid, "user_id": "UAPPROVER2"}, lambda_context
    )
    assert refused["error"] == "FORBIDDEN" and expiry(aws, iid) == before


def test_an_extension_approved_after_the_bastion_was_destroyed_revives_nothing(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    asked = extend(lambda_context, iid)
    handler.lambda_handler(
        {"action": "destroy", "instance_id": iid, "user_id": OWNER}, lambda_context
    )
    tags, left = aws.tags(iid), schedules(aws)

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert result["success"] is False
    assert aws.state(iid) in ("shutting-down", "terminated") and aws.tags(iid) == tags
    assert schedules(aws) == left


def test_an_extension_approved_after_the_bastion_expired_does_not_revive_it(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async, hours="1h")
    # Asked 10 min before the expiry; approved (the request still open, for 30 min) 15 min
    # later, after the expiry passed and before the termination ran
    clock.advance(minutes=50)
    asked = extend(lambda_context, iid)
    before = aws.tags(iid)
    clock.advance(minutes=15)
    assert clock() > datetime.fromisoformat(before["ExpiresAt"])

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    # the request was still open: it is the expired bastion that refuses
    assert result["success"] is False and "expired at" in result["message"]
    assert aws.tags(iid) == before


def test_a_second_press_after_the_owner_asked_again_does_not_extend_twice(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    first = extend(lambda_context, iid)
    press(
        lambda_context, clock, lambda_async, "bastion_approve", first["approval_id"], "UAPPROVER2"
    )
    second = extend(lambda_context.next(), iid)  # past the new grant: a new request
    assert second["approval_id"] != first["approval_id"]

    again = press(
        lambda_context, clock, lambda_async, "bastion_approve", first["approval_id"], "UAPPROVER1"
    )

    assert "already approved" in again["message"]
    assert expiry(aws, iid) == before + timedelta(hours=2)


def test_an_extension_request_without_its_kind_launches_nothing(
    aws, approvals, clock, lambda_context, lambda_async, idempotency_table
):
    # A stored item that lost "kind" reads as a create: its payload is no create, so it fails
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    asked = extend(lambda_context, iid)
    items = idempotency_table.scan(TableName="docustack-dev-idempotency")["Items"]
    [item] = [i for i in items if i.get("kind", {}).get("S") == "extend"]
    del item["kind"]
    idempotency_table.put_item(TableName="docustack-dev-idempotency", Item=item)

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert result.get("success") is not True
    assert aws.running() == [iid] and expiry(aws, iid) == before


def test_an_approved_extension_never_shortens_a_bastion(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    asked = extend(lambda_context, iid)  # until: expiry + 2 h
    for n in range(3):  # three new break-glasses of 1 h each: expiry + 3 h
        extend(lambda_context.next(), iid, break_glass=True, reason=f"INC-911 still down {n}")
    longer = expiry(aws, iid)

    press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert expiry(aws, iid) >= longer
