"""Slash command text → command, with the deployment's environment in mind."""

from __future__ import annotations

import pytest

from bastion_orchestrator.doors.slack.commands import Command, parse

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bastion create", Command("create")),
        ("bastion create dev", Command("create", "dev")),
        ("bastion create dev INC-42 slow queries", Command("create", "dev", "INC-42 slow queries")),
        ("bastion create INC-42 slow queries", Command("create", None, "INC-42 slow queries")),
        ("bastion create prod", Command("create", "prod")),
        ("bastion create fix the index", Command("create", None, "fix the index")),
        ("  Bastion STATUS Dev ", Command("status", "Dev")),
        ("bastion extend", Command("extend")),
        ("bastion destroy eu-sandbox", Command("destroy", "eu-sandbox")),
        ("bastion list", Command("list")),
        ("bastion help", Command("help")),
        ("bastion", Command("help")),
        ("", Command("help")),
        ("bastion nuke dev", Command("help", unknown="nuke")),
        ("deploy prod", Command("help", unknown="deploy prod")),
    ],
)
def test_parse(text, expected):
    assert parse(text, "dev") == expected


def test_reason_is_capped_at_the_tag_limit():
    command = parse("bastion create " + "x" * 400, "dev")
    assert command.reason is not None and len(command.reason) == 256
