"""What one user learns about others' bastions: a non-admin's list shows only their own, and a
FORBIDDEN answer carries none of the bastion's details."""

from __future__ import annotations

import json

import pytest

from tests.support.doors import direct, via_iam, via_slack
from tests.support.iam_requests import ALICE_ID
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("door", ["slack", "iam"])
def test_list_shows_a_non_admin_only_their_own(aws, slack, clock, lambda_context, door):
    # Given bastions of two people
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    direct(lambda_context, {"action": "create", "user_id": "UOTHER", "username": "other"})
    via_iam(lambda_context, {"action": "create"})
    # When a non-admin lists
    if door == "slack":
        _, body = via_slack(lambda_context, clock, slash_command("bastion list"))
        shown = body["text"] + json.dumps(body["blocks"])
        # Then only their own is shown
        assert "1 active bastion" in shown and "UOTHER" not in shown and "U12345" in shown
    else:
        _, body = via_iam(lambda_context, {"action": "list"})
        assert [b["user_id"] for b in body["bastions"]] == [ALICE_ID]
    # And the direct door (operators) still sees all three
    assert len(direct(lambda_context, {"action": "list"})["bastions"]) == 3


def test_a_slack_admin_lists_everyone(aws, slack, clock, lambda_context):
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    direct(lambda_context, {"action": "create", "user_id": "UOTHER", "username": "other"})
    _, body = via_slack(lambda_context, clock, slash_command("bastion list", user_id="UADMIN"))
    assert "2 active bastion" in body["text"]


def test_a_forbidden_answer_tells_nothing_about_the_bastion(aws, slack, clock, lambda_context):
    # Given the victim's bastion with a reason and an RDS endpoint
    victim = direct(
        lambda_context,
        {
            "action": "create",
            "user_id": "UVICTIM",
            "username": "victim.name",
            "display_name": "Victim Person",
            "reason": "INC-SECRET",
        },
    )
    iid = victim["instance_id"]
    # When another user asks about it on each door
    answers = [
        direct(lambda_context, {"action": "status", "instance_id": iid, "user_id": "UMALLORY"}),
        via_iam(lambda_context, {"action": "status", "instance_id": iid})[1],
    ]
    # Then the answers are FORBIDDEN and carry none of its details
    for answer in answers:
        assert answer["error"] == "FORBIDDEN"
        text = json.dumps(answer)
        leaks = ["UVICTIM", "victim.name", "Victim Person", "INC-SECRET", victim["expires_at"]]
        leaks += [victim["private_ip"]] if victim["private_ip"] else []
        for leak in [*leaks, "start-session"]:
            assert leak not in text, leak
