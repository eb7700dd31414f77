"""Every Slack message names the instance and the expiry and says what to do next."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bastion_orchestrator.domain.bastion import Bastion, Tag
from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.domain.results import Facts, Inspected
from bastion_orchestrator.presenters.slack.messages import render

pytestmark = pytest.mark.unit

EXPIRES = datetime(2025, 12, 18, 15, 0, tzinfo=UTC)
IID = "i-0123456789abcdef0"


@pytest.mark.parametrize(
    "kind",
    ["launching", "ready", "not_ready", "created", "warning", "extended", "terminated", "failed"],
)
def test_every_message_names_instance_and_expiry(kind):
    text, blocks = render(
        Notice(kind, "U1", IID, EXPIRES, "dev", cause="expiry", lived_seconds=10800, detail="boom")
    )
    rendered = text + json.dumps(blocks)
    assert IID in rendered
    assert "2025-12-18T15:00:00+00:00" in rendered or kind == "failed"


def test_warning_offers_extend_and_destroy_for_that_instance():
    _, blocks = render(Notice("warning", "U1", IID, EXPIRES, "dev"))
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [(a["action_id"], a["value"]) for a in actions] == [
        ("bastion_extend", IID),
        ("bastion_destroy", IID),
    ]
    assert "confirm" in actions[1]


def test_termination_says_why_and_how_long_it_lived():
    text, blocks = render(
        Notice(
            "terminated", "U1", IID, EXPIRES, "dev", cause="sweep", lived_seconds=3 * 3600 + 15 * 60
        )
    )
    body = json.dumps(blocks)
    assert "safety sweep" in body and "3 h 15 min" in body
    assert "<@U1>" in text


# ------------------------------------------------------------------ Slack's limits
from typing import Any  # noqa: E402

from slack_sdk.models.blocks import Block  # noqa: E402

from bastion_orchestrator.presenters.slack import messages  # noqa: E402
from bastion_orchestrator.presenters.slack.messages import list_answer  # noqa: E402


def validated(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parse Slack JSON back into slack-sdk's models and serialise it again: the library
    raises SlackObjectFormationError on anything Slack documents as invalid."""
    assert len(blocks) <= 50
    again = [Block.parse(b).to_dict() for b in blocks]  # type: ignore[union-attr]
    for block in again:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    return again


def view(n: int) -> Facts:
    """Bastion n as a list shows it (running, expiring 2025-12-18T15:00Z)."""
    launched = datetime(2025, 12, 18, 12, 0, tzinfo=UTC)
    bastion = Bastion(f"i-{n:017x}", "running", None, launched, tags={Tag.USER_ID: f"U{n:010d}"})
    return Facts(bastion, launched, datetime(2025, 12, 18, 15, 0, tzinfo=UTC), 3600)


@pytest.mark.parametrize("count", [1, 23, 59, 60, 61, 400])
def test_list_of_any_length_is_a_message_slack_accepts(count):
    # Given more bastions than one 3,000-character section holds (23 lines ~ 3,000 characters)
    answer = list_answer([view(n) for n in range(count)], "dev")
    blocks = validated(answer["blocks"])
    shown = json.dumps(blocks)
    # Then every bastion up to the page is listed, and the rest is summarised, not dropped
    assert all(view(n).instance_id in shown for n in range(min(count, messages.LIST_LINES)))
    if count > messages.LIST_LINES:
        assert f"and {count - messages.LIST_LINES} more" in shown


LONG = "x" * 5000 + " `rm -rf /` <!channel> *bold*"
KINDS = [
    "launching",
    "ready",
    "not_ready",
    "created",
    "warning",
    "extended",
    "terminated",
    "failed",
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_notice_with_the_longest_inputs_is_a_message_slack_accepts(kind):
    connection = {"terminal": "aws ssm start-session " + "y" * 4000, "port_forward": "z" * 4000}
    text, blocks = render(
        Notice(
            kind,
            "U1",
            IID,
            EXPIRES,
            "dev",
            cause=LONG,
            lived_seconds=1,
            detail=LONG,
            connection=connection,
        )
    )
    validated(blocks)
    assert len(text) <= 4000


def test_every_answer_with_the_longest_inputs_is_a_message_slack_accepts():
    status = Inspected(view(1), "Online", ready=True)
    connection = {"terminal": "t" * 4000, "port_forward": "p" * 4000}
    for answer in (
        messages.answer(LONG),
        messages.error_answer(LONG, "dev"),
        messages.help_answer(LONG, "dev", unknown=LONG),
        messages.status_answer(status, connection, "dev"),
        list_answer([], "dev"),
    ):
        validated(answer["blocks"])
        assert answer["response_type"] == "ephemeral"


def test_a_long_failure_detail_is_cut_not_refused_by_slack():
    _, blocks = render(Notice("failed", "U1", IID, None, "dev", detail=LONG))
    [section] = validated(blocks)
    assert section["text"]["text"].endswith("…") and IID in section["text"]["text"]
