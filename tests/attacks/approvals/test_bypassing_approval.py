"""Entering a protected environment without an approver: a non-approver's Approve click, and
``APPROVAL_REQUIRED`` silently ignored."""

from __future__ import annotations

import pytest

from tests.support.doors import deliver, direct, reset_with, via_iam, via_slack
from tests.support.slack_requests import button, slash_command

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("outbound")
def test_a_non_approvers_approve_click_is_refused_to_them_alone(
    aws, approvals, clock, lambda_context, lambda_async
):
    # Given a create waiting in the approval channel
    via_slack(lambda_context, clock, slash_command("bastion create dev INC-9", user_id="U12345"))
    [pending] = deliver(lambda_context, lambda_async)
    approval_id = pending["approval_id"]
    # When Mallory, who reads the channel but approves nothing, presses Approve
    click = button("bastion_approve", approval_id, user_id="UMALLORY")
    status, ack = via_slack(lambda_context, clock, click)
    [refused] = deliver(lambda_context, lambda_async)
    # Then nothing launches; she alone is told, and the channel's request is left in place
    assert status == 200 and approval_id in ack["text"]
    assert refused["success"] is False and aws.running() == []
    reply = approvals.replies()[-1]
    assert reply.body["response_type"] == "ephemeral" and reply.body["replace_original"] is False
    assert not [m for m in approvals.messages if m.endpoint == "chat.update"]
    # And a real approver can still approve it
    via_slack(lambda_context, clock, button("bastion_approve", approval_id, user_id="UAPPROVER1"))
    [approved] = deliver(lambda_context, lambda_async)
    assert approved["success"] is True and len(aws.running()) == 1


def test_approval_required_is_never_silently_ignored(aws, clock, lambda_context, monkeypatch):
    # HOLE: APPROVAL_REQUIRED=true is ignored (nothing reads it): fail-open, instant launch.
    # CONTRACT "Approvals": a create launches nothing until an approver approves; Settings has
    # extra="ignore", so the variable is silently dropped.
    reset_with(
        monkeypatch,
        APPROVAL_REQUIRED="true",
        APPROVER_USER_IDS="UAPPROVER",
        APPROVAL_CHANNEL="C0APPROVALS",
    )
    # When a non-approver creates on the direct and IAM doors
    answer = direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "j"})
    _, iam_answer = via_iam(lambda_context, {"action": "create", "reason": "INC-1"})
    # Then nothing is launched: the requests wait (or, unimplemented, are refused)
    assert aws.running() == [], (answer, iam_answer)
    for got in (answer, iam_answer):
        assert got.get("pending_approval") is True or got.get("success") is False
