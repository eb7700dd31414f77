"""Requester text never reaches Slack as live markup. A reason, name or denial reason sent through
any door (Slack, IAM, direct), in every field it can reach, is searched for in everything the
Slack stand-in received (message text, blocks, webhook and response_url posts): ``<!channel>``
(a ping of everyone), ``<@U…>`` (a ping of anyone) and ``<https://evil|AWS console>`` (a link
that hides where it goes) arrive escaped, as text."""

from __future__ import annotations

import json
from typing import Any

import pytest

import handler
from tests.attacks.conftest import approval_posts
from tests.integration.conftest import CHANNEL
from tests.integration.test_approval_grants import break_glass_bastion, extend, with_identities
from tests.integration.test_approvals import press
from tests.support.doors import deliver, iam, via_slack
from tests.support.iam_requests import BOB_ARN, BOB_ID
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


HOSTILE = "<!channel> <@U12345678> <https://evil.example|AWS console> & done"
LIVE = ("<!channel>", "<@U12345678>", "<https://evil")
# A direct create whose every free-text field is the hostile text.
HOSTILE_CREATE = {
    "action": "create",
    "user_id": "U12345",
    "username": "john.doe",
    "display_name": HOSTILE,
    "reason": HOSTILE,
}


def assert_inert(slack: Any, *, expect: bool = True) -> str:
    """No live sequence of HOSTILE in anything posted; with ``expect``, it was posted, escaped."""
    posted = json.dumps([m.body for m in slack.messages], ensure_ascii=False)
    for sequence in LIVE:
        assert sequence not in posted, sequence
    if expect:
        assert "&lt;!channel&gt;" in posted, posted[:2000]
    return posted


def test_an_iam_requests_reason_reaches_approvers_as_text(aws, approvals, lambda_context):
    answer = iam(lambda_context, {"action": "create", "reason": HOSTILE})
    assert answer["pending_approval"] is True
    [posted] = approvals.to(CHANNEL)
    assert_inert(approvals)
    # The approvers' own mentions, which this code writes, stay live
    assert "<@UAPPROVER1>" in posted.all_text()


def test_a_direct_requests_fields_reach_approvers_as_text(aws, approvals, lambda_context):
    answer = handler.lambda_handler(
        dict(HOSTILE_CREATE),
        lambda_context,
    )
    assert answer["pending_approval"] is True
    [posted] = approvals.to(CHANNEL)
    assert "<@U12345>" in posted.all_text()  # the requester's mention, ours, stays live
    assert_inert(approvals)


@pytest.mark.parametrize("door", ["iam", "direct"])
def test_a_break_glass_reason_is_announced_as_text(aws, approvals, lambda_context, door):
    request = {"action": "create", "break_glass": True, "reason": HOSTILE}
    if door == "iam":
        result = iam(lambda_context, request)
    else:
        result = handler.lambda_handler(
            {**request, "user_id": "U12345", "username": "john.doe"}, lambda_context
        )
    assert result["success"] is True and aws.running() == [result["instance_id"]]
    [loud] = approvals.to(CHANNEL)
    assert "BREAK-GLASS" in loud.text
    assert_inert(approvals)


def test_a_slack_request_and_an_approvers_denial_reason_reach_everyone_as_text(
    aws, approvals, clock, lambda_context, lambda_async
):
    # Given a Slack requester whose reason is hostile
    via_slack(lambda_context, clock, slash_command(f"bastion create dev {HOSTILE}"))
    [asked] = deliver(lambda_context, lambda_async)
    approval_id = asked["approval_id"]
    # When an approver denies it with a hostile reason of their own
    deny = slash_command(
        f"bastion deny {approval_id} {HOSTILE}",
        user_id="UAPPROVER1",
        response_url=approvals.response_url,
    )
    via_slack(lambda_context, clock, deny)
    [denied] = deliver(lambda_context, lambda_async)
    assert denied["success"] is True and aws.running() == []
    # Then the request, its update in place and the requester's messages show it all as text
    assert [m.endpoint for m in approvals.to(CHANNEL)] == ["chat.postMessage", "chat.update"]
    told = [m.all_text() for m in approvals.to("U12345")]
    assert any("denied by <@UAPPROVER1>" in t and "&lt;!channel&gt;" in t for t in told)
    assert_inert(approvals)


def test_a_break_glass_extend_reason_is_shown_as_text(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    announced = len(approvals.to(CHANNEL))
    hostile = "<!here> <!channel> <#C0SECRET> <!subteam^S0ADMINS> <https://evil.example|INC>"
    extend(lambda_context, iid, break_glass=True, reason=hostile)

    [loud] = approvals.to(CHANNEL)[announced:]
    shown = json.dumps(loud.body)
    for live in ("<!here>", "<!channel>", "<#C0SECRET>", "<!subteam", "<https://evil"):
        assert live not in shown
    assert "&lt;!here&gt;" in loud.text


def test_a_hostile_reason_is_text_in_the_extension_request(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    hostile = "<!channel> <@UEVIL0001> <https://evil.example|INC-7>"
    # pending: an IAM create in a protected environment; UAPPROVER2 signs as nobody
    created = iam(lambda_context, {"action": "create", "reason": hostile}, BOB_ARN, BOB_ID)
    with_identities(monkeypatch, {"UAPPROVER2": []})
    launched = press(
        lambda_context, clock, lambda_async, "bastion_approve", created["approval_id"], "UAPPROVER2"
    )
    iid = launched["instance_id"]
    iam(lambda_context, {"action": "extend", "instance_id": iid}, BOB_ARN, BOB_ID)

    posted = approval_posts(approvals)[-1]
    shown = json.dumps(posted.body)
    assert "extend bastion" in posted.all_text()
    for live in ("<!channel>", "<@UEVIL0001>", "<https://evil"):
        assert live not in shown


def test_a_slack_create_with_a_hostile_reason_posts_nothing_live(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    # Launching, ready (or not ready) and the terminated notice: the reason is not shown in
    # them, and nothing else typed is live either
    body = slash_command(f"bastion create dev {HOSTILE}", response_url=slack.response_url)
    via_slack(lambda_context, clock, body)
    [created] = deliver(lambda_context, lambda_async)
    assert created["success"] is True
    via_slack(lambda_context, clock, slash_command("bastion destroy dev"))
    [destroyed] = deliver(lambda_context, lambda_async)
    assert destroyed["success"] is True
    kinds = " ".join(m.text for m in slack.messages)
    assert "ready" in kinds or "running but not ready" in kinds
    assert "terminated" in kinds
    assert_inert(slack, expect=False)


def test_a_direct_create_with_hostile_fields_posts_nothing_live(aws, slack, lambda_context):
    result = handler.lambda_handler(
        dict(HOSTILE_CREATE),
        lambda_context,
    )
    assert result["success"] is True
    handler.lambda_handler({"action": "destroy", "user_id": "U12345"}, lambda_context)
    assert_inert(slack, expect=False)


@pytest.mark.parametrize(
    ("typed", "echoed"),
    [
        (f"bastion approve {HOSTILE}", False),
        (f"bastion status {HOSTILE}", True),
        (f"bastion {HOSTILE}", True),
    ],
    ids=["a refused approve", "another environment's word", "an unknown verb"],
)
def test_what_a_user_typed_comes_back_to_them_as_text(
    aws, slack, clock, lambda_context, lambda_async, typed, echoed
):
    status, answer = via_slack(
        lambda_context, clock, slash_command(typed, response_url=slack.response_url)
    )
    assert status == 200
    deliver(lambda_context, lambda_async)
    shown = json.dumps([answer, *(m.body for m in slack.messages)], ensure_ascii=False)
    for sequence in LIVE:
        assert sequence not in shown, sequence
    assert ("&lt;" in shown) is echoed


@pytest.mark.usefixtures("outbound")
def test_the_ack_never_echoes_what_the_user_typed(aws, slack, clock, lambda_context, lambda_async):
    # When the text after approve is markup, not a request id
    status, ack = via_slack(lambda_context, clock, slash_command("bastion approve <!channel>"))
    [refused] = deliver(lambda_context, lambda_async)
    # Then the ack names "that request", and the refusal goes to the user alone
    assert status == 200 and "<!channel>" not in json.dumps(ack)
    assert "that request" in ack["text"]
    assert refused["success"] is False
    assert all(r.body["response_type"] == "ephemeral" for r in slack.replies())
    assert not [m for m in slack.messages if m.endpoint == "chat.postMessage"]
