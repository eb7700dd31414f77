"""Approvals for protected environments: nobody enters alone. Every path through the Slack
door and the direct and IAM doors (CONTRACT.md, "Approvals")."""

from __future__ import annotations

import json
from typing import Any

import pytest

import auto_terminate
import handler
from tests.integration.conftest import CHANNEL
from tests.support.iam_requests import ALICE_ID, iam_event
from tests.support.slack_requests import button, function_url_event, slash_command

pytestmark = pytest.mark.integration

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def slack_post(ctx: Any, clock: Any, body: str) -> dict[str, Any]:
    event = function_url_event(body, secret=SECRET, timestamp=int(clock().timestamp()))
    response = handler.lambda_handler(event, ctx)
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])  # type: ignore[no-any-return]


def run_queued(ctx: Any, queued: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = [handler.lambda_handler(payload, ctx) for payload in queued]
    queued.clear()
    return results


def ask(ctx: Any, clock: Any, queued: list[dict[str, Any]], user: str = "U12345") -> str:
    """A Slack create that must wait; answers the request's id from the approval channel."""
    slack_post(ctx, clock, slash_command("bastion create dev INC-9 fix data", user_id=user))
    [result] = run_queued(ctx, queued)
    assert result["pending_approval"] is True
    return str(result["approval_id"])


def press(
    ctx: Any, clock: Any, queued: list[dict[str, Any]], action: str, approval_id: str, user: str
) -> dict[str, Any]:
    slack_post(ctx, clock, button(action, approval_id, user_id=user, username=user.lower()))
    results = run_queued(ctx, queued)
    return results[0] if results else {}


def test_a_create_waits_then_another_person_approves_it(
    aws, approvals, clock, lambda_context, lambda_async
):
    # When a non-approver asks in Slack
    approval_id = ask(lambda_context, clock, lambda_async)
    # Then nothing is launched, the request is posted to the approval channel with the
    # requester, environment, reason and duration, and Approve/Deny buttons carrying its id
    assert aws.running() == []
    [posted] = approvals.to(CHANNEL)
    shown = posted.all_text()
    assert "<@U12345>" in shown and "dev" in shown and "INC-9 fix data" in shown and "3 h" in shown
    assert posted.action_ids() == ["bastion_approve", "bastion_deny"]
    assert all(
        a["value"] == approval_id
        for b in posted.body["blocks"]
        if b["type"] == "actions"
        for a in b["elements"]
    )
    # And the requester hears that it waits, and for whom
    [waiting] = approvals.to("U12345")
    assert "<@UAPPROVER1>" in waiting.all_text() and approval_id in waiting.all_text()

    # When another person, an approver, approves it
    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", approval_id, "UAPPROVER1"
    )
    # Then the bastion is launched once, owned by the requester, tagged ApprovedBy
    iid = result["instance_id"]
    assert aws.running() == [iid]
    tags = aws.tags(iid)
    assert tags["RequestedByUserId"] == "U12345" and tags["ApprovedBy"] == "UAPPROVER1"
    assert tags["Reason"] == "INC-9 fix data"
    # And the approval message is updated in place to show who approved and when
    [update] = [m for m in approvals.messages if m.endpoint == "chat.update"]
    assert update.body["ts"] == "1.000100" or update.body["ts"]
    assert "Approved by <@UAPPROVER1>" in update.all_text() and iid in update.all_text()
    assert "actions" not in json.dumps(update.body.get("blocks"))
    # And the requester is told it is launching
    assert any("launching" in m.text for m in approvals.to("U12345"))


def test_double_approve_and_redelivery_launch_once(
    aws, approvals, clock, lambda_context, lambda_async
):
    approval_id = ask(lambda_context, clock, lambda_async)
    first = press(lambda_context, clock, lambda_async, "bastion_approve", approval_id, "UAPPROVER1")
    # When the second approver also presses Approve, and the first press is redelivered
    second = press(
        lambda_context, clock, lambda_async, "bastion_approve", approval_id, "UAPPROVER2"
    )
    slack_post(lambda_context, clock, button("bastion_approve", approval_id, user_id="UAPPROVER1"))
    redelivered = lambda_async[0]
    run_queued(lambda_context, lambda_async)
    handler.lambda_handler(redelivered, lambda_context)
    # Then exactly one bastion exists, and the later presses say it was already approved
    assert aws.running() == [first["instance_id"]]
    assert second["approval_status"] == "approved" and "already approved" in second["message"]


def test_a_requester_cannot_approve_their_own_request(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    from tests.support import roots

    # Given U12345's request, and U12345 made an approver afterwards
    approval_id = ask(lambda_context, clock, lambda_async)
    monkeypatch.setenv("APPROVER_USER_IDS", "UAPPROVER1,U12345")
    roots.fresh()
    # When they approve their own request
    slack_post(lambda_context, clock, button("bastion_approve", approval_id, user_id="U12345"))
    [refused] = run_queued(lambda_context, lambda_async)
    # Then it is refused and nothing is launched
    assert refused["error"] == "FORBIDDEN" and "own request" in refused["message"]
    assert aws.running() == []


def test_an_iam_requester_cannot_approve_it_as_their_slack_self(
    aws, approvals, clock, lambda_context, lambda_async
):
    # Given alice@example.com asks through the IAM door
    response = handler.lambda_handler(
        iam_event({"action": "create", "reason": "INC-1"}), lambda_context
    )
    asked = json.loads(response["body"])
    assert response["statusCode"] == 200 and asked["pending_approval"] is True
    # And she is also an approver in Slack, with the same address
    approvals.emails["UAPPROVER1"] = "Alice@Example.com"
    slack_post(
        lambda_context, clock, button("bastion_approve", asked["approval_id"], user_id="UAPPROVER1")
    )
    [refused] = run_queued(lambda_context, lambda_async)
    assert refused["error"] == "FORBIDDEN" and aws.running() == []


def test_a_non_approver_cannot_approve(aws, approvals, clock, lambda_context, lambda_async):
    approval_id = ask(lambda_context, clock, lambda_async)
    # When someone who is not an approver presses Approve
    slack_post(lambda_context, clock, button("bastion_approve", approval_id, user_id="UMALLORY"))
    [refused] = run_queued(lambda_context, lambda_async)
    # Then it is refused where they pressed it, and nothing is launched
    assert refused["error"] == "FORBIDDEN"
    assert "not an approver" in approvals.replies()[-1].text
    assert aws.running() == []


def test_deny_then_approve_launches_nothing(aws, approvals, clock, lambda_context, lambda_async):
    approval_id = ask(lambda_context, clock, lambda_async)
    # When an approver denies it with a reason (the command form), then another approves
    slack_post(
        lambda_context,
        clock,
        slash_command(f"bastion deny {approval_id} not during the freeze", user_id="UAPPROVER2"),
    )
    run_queued(lambda_context, lambda_async)
    late = press(lambda_context, clock, lambda_async, "bastion_approve", approval_id, "UAPPROVER1")
    # Then nothing is launched, the approve answers that it was denied
    assert aws.running() == []
    assert late["error"] == "LIMIT_EXCEEDED" and "already denied" in late["message"]
    # And the requester was told why
    assert any("not during the freeze" in m.all_text() for m in approvals.to("U12345"))


def test_an_unanswered_request_expires_and_its_buttons_say_so(
    aws, approvals, clock, lambda_context, lambda_async
):
    approval_id = ask(lambda_context, clock, lambda_async)
    # When nobody answers for longer than APPROVAL_TIMEOUT_MINUTES, and the sweep runs
    clock.advance(minutes=31)
    swept = auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
    # Then it expired, launching nothing; the requester is told
    assert swept["approvals_expired"] == 1 and aws.running() == []
    assert any("expired" in m.text for m in approvals.to("U12345"))
    # And a late press answers that it expired
    late = press(lambda_context, clock, lambda_async, "bastion_approve", approval_id, "UAPPROVER1")
    assert late["error"] == "LIMIT_EXCEEDED" and "expired" in late["message"]
    assert aws.running() == []


def test_a_press_after_the_timeout_but_before_the_sweep_also_expires_it(
    aws, approvals, clock, lambda_context, lambda_async
):
    approval_id = ask(lambda_context, clock, lambda_async)
    clock.advance(minutes=45)
    late = press(lambda_context, clock, lambda_async, "bastion_approve", approval_id, "UAPPROVER1")
    assert late["approval_status"] == "expired" and aws.running() == []


def test_break_glass_launches_at_once_for_at_most_its_hours_and_says_so_loudly(
    aws, approvals, clock, lambda_context, lambda_async
):
    slack_post(
        lambda_context,
        clock,
        slash_command("bastion create dev 8h --break-glass INC-911 prod down"),
    )
    [result] = run_queued(lambda_context, lambda_async)
    iid = result["instance_id"]
    assert aws.running() == [iid]
    tags = aws.tags(iid)
    assert tags["BreakGlass"] == "true" and tags["Reason"] == "INC-911 prod down"
    # At most BREAK_GLASS_HOURS, whatever was asked for
    from datetime import datetime

    lived = datetime.fromisoformat(result["expires_at"]) - datetime.fromisoformat(
        result["created_at"]
    )
    assert lived.total_seconds() == 3600
    [loud] = approvals.to(CHANNEL)
    assert "BREAK-GLASS" in loud.text and "<@U12345>" in loud.text and "prod down" in loud.text


def test_break_glass_without_a_reason_is_a_validation_error(
    aws, approvals, clock, lambda_context, lambda_async
):
    refused = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "break_glass": True},
        lambda_context,
    )
    assert refused["error"] == "VALIDATION_ERROR" and "reason" in refused["message"]
    slack_post(lambda_context, clock, slash_command("bastion create dev --break-glass"))
    [refused] = run_queued(lambda_context, lambda_async)
    assert refused["error"] == "VALIDATION_ERROR"
    assert "reason" in approvals.replies()[-1].text
    assert aws.running() == []


def test_direct_and_iam_creates_answer_pending_approval(
    aws, approvals, clock, lambda_context, lambda_async
):
    direct = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "reason": "r"}, lambda_context
    )
    assert direct["success"] is True and direct["pending_approval"] is True
    assert direct["message"] and direct["approval_id"].startswith("apr-")
    # Asking again while it waits is the same request, not a second one
    again = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "reason": "r"}, lambda_context
    )
    assert again["approval_id"] == direct["approval_id"]
    iam = json.loads(
        handler.lambda_handler(iam_event({"action": "create"}), lambda_context)["body"]
    )
    assert iam["pending_approval"] is True
    assert aws.running() == [] and len(approvals.to(CHANNEL)) == 2


def test_an_approver_launches_without_approval(aws, approvals, clock, lambda_context, lambda_async):
    result = handler.lambda_handler(
        {"action": "create", "user_id": "UAPPROVER1", "username": "a"}, lambda_context
    )
    assert result["success"] is True and "instance_id" in result


@pytest.mark.parametrize(
    "value",
    [
        "apr-0123456789abcdef01234567;user=UADMIN",
        '{"approval_id": "apr-0123456789abcdef", "user_id": "UADMIN", "hours": 12}',
        "i-0123456789abcdef0",
    ],
)
def test_a_tampered_approve_button_changes_nothing(
    aws, approvals, clock, lambda_context, lambda_async, value
):
    approval_id = ask(lambda_context, clock, lambda_async)
    answer = slack_post(
        lambda_context, clock, button("bastion_approve", value, user_id="UAPPROVER1")
    )
    assert "does not name a request" in answer["text"]
    assert lambda_async == [] and aws.running() == []
    assert approval_id not in value


def test_the_request_approved_is_the_request_asked_for(
    aws, approvals, clock, lambda_context, lambda_async
):
    # Given U12345 asked for 3 hours
    approval_id = ask(lambda_context, clock, lambda_async)
    # When an approver approves it with a command carrying extra words (a hopeful "12h")
    slack_post(
        lambda_context,
        clock,
        slash_command(f"bastion approve {approval_id} 12h for UADMIN", user_id="UAPPROVER1"),
    )
    [result] = run_queued(lambda_context, lambda_async)
    # Then the stored request is what launches: the requester's, for the hours asked
    from datetime import datetime

    lived = datetime.fromisoformat(result["expires_at"]) - datetime.fromisoformat(
        result["created_at"]
    )
    assert aws.tags(result["instance_id"])["RequestedByUserId"] == "U12345"
    assert lived.total_seconds() == 3 * 3600


def test_another_deployments_request_is_not_found_here(
    aws, approvals, clock, lambda_context, lambda_async
):
    answer = press(
        lambda_context,
        clock,
        lambda_async,
        "bastion_approve",
        "apr-00000000000000000000beef",
        "UAPPROVER1",
    )
    assert answer["error"] == "NOT_FOUND" and aws.running() == []


def test_approve_is_not_a_direct_action(aws, approvals, clock, lambda_context):
    refused = handler.lambda_handler(
        {"action": "approve", "approval_id": "apr-0123456789abcdef"}, lambda_context
    )
    assert refused["error"] == "VALIDATION_ERROR"


def test_every_step_is_an_audit_line_with_actor_and_door(
    aws, approvals, clock, lambda_context, lambda_async, caplog
):
    import logging

    from bastion_orchestrator.observability import logger

    caplog.set_level(logging.INFO)
    approval_id = ask(lambda_context, clock, lambda_async)
    press(lambda_context, clock, lambda_async, "bastion_approve", approval_id, "UAPPROVER1")
    render = logger.registered_formatter.format
    lines = [json.loads(render(r)) for r in caplog.records]
    steps = {line["message"]: line for line in lines if "approval" in line["message"]}
    assert steps["approval requested"]["door"] == "slack"
    assert steps["approval requested"]["actor"] == "U12345"
    assert steps["approval approved"]["actor"] == "UAPPROVER1"
    assert ALICE_ID  # the IAM identity used elsewhere in this module
