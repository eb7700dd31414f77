"""Every Slack message names the instance and the expiry and says what to do next."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.slack.messages import render

pytestmark = pytest.mark.unit

EXPIRES = datetime(2025, 12, 18, 15, 0, tzinfo=UTC)
IID = "i-0123456789abcdef0"


@pytest.mark.parametrize("kind", ["created", "warning", "extended", "terminated", "failed"])
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
