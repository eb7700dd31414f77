"""Issue 17, finding 4: nothing a person typed reaches Slack as live markup (SECURITY.md).

Before the fix a reason such as ``<!channel> <https://evil.example|AWS console>`` reached the
approval channel as a channel-wide ping and a disguised link. Every message kind that carries
text from outside this code is rendered here with that text in every field it can reach, and
the JSON as it would be posted is searched for a live control sequence.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bastion_orchestrator.domain.approval import Approval
from bastion_orchestrator.domain.bastion import Bastion
from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.domain.results import Facts, Inspected
from bastion_orchestrator.presenters.slack import messages
from bastion_orchestrator.presenters.slack.mrkdwn import escape, label, mention

pytestmark = pytest.mark.unit

HOSTILE = "<!channel> <@U12345678> <https://evil.example|AWS console> & done"
LIVE = ("<!channel>", "<@U12345678>", "<https://evil")
EXPIRES = datetime(2025, 12, 18, 15, 0, tzinfo=UTC)
IID = "i-0123456789abcdef0"


def assert_inert(*posted: Any) -> str:
    """Nothing of HOSTILE is live anywhere in what would be posted, and it is all still there,
    escaped (Slack shows it as typed)."""
    raw = json.dumps(posted, ensure_ascii=False)
    for sequence in LIVE:
        assert sequence not in raw, sequence
    assert "&lt;!channel&gt;" in raw and "&amp; done" in raw
    return raw


def test_escape_is_slacks_rule_and_nothing_more():
    assert escape("a & b < c > d *bold* `code`") == "a &amp; b &lt; c &gt; d *bold* `code`"
    assert escape(HOSTILE) == (
        "&lt;!channel&gt; &lt;@U12345678&gt; &lt;https://evil.example|AWS console&gt; &amp; done"
    )


def test_only_mentions_of_slack_user_ids_are_live():
    assert mention("U12345") == "<@U12345>" and mention(None) == "someone"
    assert mention("AROAEXAMPLE:<!channel>") == "AROAEXAMPLE:&lt;!channel&gt;"
    assert label("<@U12345>") == "<@U12345>"
    assert (
        label("arn:aws:sts::1:assumed-role/r/<!here>")
        == "arn:aws:sts::1:assumed-role/r/&lt;!here&gt;"
    )
    assert label("<@U1> <!channel>") == "&lt;@U1&gt; &lt;!channel&gt;"


@pytest.mark.parametrize(
    "kind",
    ["launching", "ready", "created", "not_ready", "warning", "extended", "terminated", "failed"],
)
def test_every_notice_shows_outside_text_as_text(kind):
    notice = Notice(
        kind,
        "U12345",
        IID,
        EXPIRES,
        f"dev {HOSTILE}",
        cause=f"expiry {HOSTILE}",
        lived_seconds=60,
        connection={"terminal": f"aws ssm start-session {HOSTILE}", "port_forward": HOSTILE},
        detail=f"Invalid request. reason: {HOSTILE} is not valid",
    )
    text, blocks = messages.render(notice)
    raw = assert_inert(text, blocks)
    assert "<@U12345>" in raw or kind in ("launching", "not_ready", "warning", "extended", "failed")


def _approval(**fields: Any) -> Approval:
    base: dict[str, Any] = {
        "id": "apr-0123456789abcdef0123",
        "status": "pending",
        "environment": "prod",
        "requester_id": "AROAEXAMPLE:jane@example.com",
        "requester_label": f"arn:aws:sts::123456789012:assumed-role/dev/{HOSTILE}",
        "requester_email": None,
        "door": "iam",
        "request": {"action": "create", "reason": HOSTILE, "display_name": HOSTILE},
        "owner": {},
        "hours": 2.0,
        "created_at": EXPIRES,
        "expires_at": EXPIRES,
    }
    return Approval(**{**base, **fields})


def test_the_approval_request_shows_the_reason_and_requester_as_text():
    text, blocks = messages.approval_request(_approval(), ["UAPPROVER1"])
    raw = assert_inert(text, blocks)
    assert "<@UAPPROVER1>" in raw  # our own mention of an approver stays live


@pytest.mark.parametrize("status", ["approved", "denied", "expired"])
def test_the_decided_request_shows_the_reasons_as_text(status):
    decided = _approval(status=status, decided_by="UAPPROVER1", decided_at=EXPIRES, reason=HOSTILE)
    text, blocks = messages.approval_outcome(decided)
    raw = assert_inert(text, blocks)
    assert "<@UAPPROVER1>" in raw or status == "expired"


def test_a_slack_requesters_mention_stays_live_in_the_request():
    text, blocks = messages.approval_request(
        _approval(requester_label="<@U12345>", door="slack"), ["UAPPROVER1"]
    )
    assert "<@U12345>" in text and "<@U12345>" in json.dumps(blocks)
    assert_inert(text, blocks)


def test_the_break_glass_announcement_shows_the_reason_and_arn_as_text():
    text, blocks = messages.break_glass(
        f"prod {HOSTILE}", f"arn:aws:iam::123456789012:user/{HOSTILE}", IID, 1.0, HOSTILE
    )
    assert_inert(text, blocks)


def test_answers_show_what_was_typed_as_text():
    for answer in (
        messages.error_answer(f"Invalid request. approval_id: {HOSTILE!r} is not valid", "dev"),
        messages.help_answer("help", "dev", unknown=HOSTILE),
    ):
        assert_inert(answer)
    launched = datetime(2025, 12, 18, 12, 0, tzinfo=UTC)
    facts = Facts(Bastion(IID, "running", None, launched), launched, launched, 0)
    status = messages.status_answer(
        Inspected(facts, "Online", ready=True), {"port_forward": HOSTILE}, "dev"
    )
    assert_inert(status)
