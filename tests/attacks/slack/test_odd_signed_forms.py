"""Correctly signed forms and button payloads of odd shapes: two requests in one body, repeated
keys, look-alike user ids, environment words the parser might drop, fields of the wrong type.
The acknowledgement and the worker read each alike; nobody becomes an admin or someone else,
and nothing meant for another environment is done here."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.support.doors import create_as, deliver, direct, reset_with, via_slack
from tests.support.slack_requests import button, slash_command

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("outbound")
def test_a_body_with_both_a_command_and_a_button_is_read_as_the_button_by_both_halves(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = create_as(lambda_context, clock, lambda_async, "U12345")
    # When one signed body carries Mallory's create command AND her destroy button on U12345's
    body = (
        slash_command("bastion create", user_id="UMALLORY")
        + "&"
        + button("bastion_destroy", iid, user_id="UMALLORY")
    )
    status, ack = via_slack(lambda_context, clock, body)
    [result] = deliver(lambda_context, lambda_async)
    # Then the ack and the worker agree it is the button: refused, nothing created or destroyed
    assert status == 200 and iid in ack["text"]
    assert result["error"] == "FORBIDDEN"
    assert aws.running() == [iid]


@pytest.mark.usefixtures("outbound")
def test_a_repeated_user_id_is_the_first_one_in_both_halves(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    # When a signed create names Mallory, then Alice
    body = slash_command("bastion create", user_id="UMALLORY") + "&user_id=UALICE"
    via_slack(lambda_context, clock, body)
    [result] = deliver(lambda_context, lambda_async)
    # Then the worker reads Mallory, as the ack did: refused
    assert result["error"] == "FORBIDDEN" and aws.running() == []


def test_repeated_form_keys_never_make_a_user_an_admin(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given bastions of two users and UADMIN an admin
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    direct(lambda_context, {"action": "create", "user_id": "UOTHER", "username": "other"})
    form = slash_command("bastion list") + "&user_id=UADMIN&text=bastion+destroy"
    # When a (signed) form carries user_id and text twice
    status, body = via_slack(lambda_context, clock, form)
    # Then one value of each is taken consistently: John's scoped list, nothing destroyed
    assert status == 200 and "1 active bastion" in body["text"]
    assert "UOTHER" not in json.dumps(body)
    assert len(aws.running()) == 2 and lambda_async == []


@pytest.mark.parametrize(
    "user_id",
    ["*", "U*", "U?", "UADMIN\n", "UADMIN ", " UADMIN", "UADMİN", "", "U" * 65],
    ids=[
        "star",
        "prefix-star",
        "question",
        "trailing-newline",
        "trailing-space",
        "leading-space",
        "dotted-I",
        "empty",
        "too-long",
    ],
)
def test_a_signed_form_with_an_odd_user_id_is_nobody(
    aws, slack, clock, lambda_context, lambda_async, user_id
):
    # Given someone's bastion and UADMIN an admin
    victim = direct(lambda_context, {"action": "create", "user_id": "UVICTIM", "username": "v"})
    # When a signed form names an odd user id (a tag-filter wildcard, whitespace, a look-alike)
    for text in ("bastion list", "bastion destroy", "bastion status"):
        status, body = via_slack(lambda_context, clock, slash_command(text, user_id=user_id))
        deliver(lambda_context, lambda_async)
        # Then it is refused or scoped to nobody: never UVICTIM's bastion, never admin
        assert status in (200, 400)
        assert victim["instance_id"] not in json.dumps(body), (text, body)
    assert aws.state(victim["instance_id"]) == "running"


@pytest.mark.usefixtures("outbound")
@pytest.mark.parametrize(
    "payload",
    [
        {"type": "block_actions", "user": {"id": ["U1"]}, "actions": []},
        {"type": "block_actions", "user": {"id": "U12345"}, "actions": {"a": 1}},
        {"type": "block_actions", "user": {"id": "U12345"}, "actions": [1]},
        {
            "type": "block_actions",
            "user": {"id": "U12345"},
            "actions": [{"action_id": "bastion_destroy", "value": ["i-0123456789abcdef0"]}],
        },
        {
            "type": "block_actions",
            "user": {"id": "U12345"},
            "actions": [{"action_id": {"x": 1}, "value": "i-0123456789abcdef0"}],
        },
        {
            "type": "block_actions",
            "user": {"id": "U12345", "username": {"x": 1}},
            "response_url": ["https://hooks.slack.com/x"],
            "actions": [{"action_id": "bastion_destroy", "value": "i-0123456789abcdef0"}],
        },
        {"type": "view_submission", "user": {"id": "U12345"}},
    ],
    ids=[
        "user-id-list",
        "actions-dict",
        "action-int",
        "value-list",
        "action-id-dict",
        "odd-name-and-url",
        "other-type",
    ],
)
def test_odd_signed_buttons_are_answered_and_never_raise(
    aws, slack, clock, lambda_context, lambda_async, outbound, payload
):
    from urllib.parse import urlencode

    # When a signed button payload of an odd shape arrives
    status, _ = via_slack(lambda_context, clock, urlencode({"payload": json.dumps(payload)}))
    results = deliver(lambda_context, lambda_async)
    # Then the door answers (never a 500) and whatever was queued answers too; nothing changes
    assert status in (200, 400)
    assert all(r.get("success") is False for r in results)
    assert aws.running() == [] and outbound == []


@pytest.mark.usefixtures("outbound")
def test_the_ack_reading_without_the_environment_never_changes_the_verb(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    # Given a deployment whose environment is no common word (the ack parses with served="")
    reset_with(monkeypatch, ENVIRONMENT="blue")
    # When its own word, a duration and a reason are given
    via_slack(lambda_context, clock, slash_command("bastion create blue 1h INC-7 db"))
    [created] = deliver(lambda_context, lambda_async)
    # Then the worker reads the environment, the duration and the reason as inline would
    tags = aws.tags(created["instance_id"])
    assert tags["Reason"] == "INC-7 db" and tags["Environment"] == "blue"
    lifetime = datetime.fromisoformat(tags["ExpiresAt"]) - datetime.fromisoformat(tags["CreatedAt"])
    assert lifetime == timedelta(hours=1)
    # And another environment's word is refused where the user asked, nothing launched
    via_slack(lambda_context, clock, slash_command("bastion destroy prod"))
    [refused] = deliver(lambda_context, lambda_async)
    assert refused["success"] is False and "serves *blue*" in slack.replies()[-1].text
    assert aws.running() == [created["instance_id"]]


@pytest.mark.parametrize(
    "text",
    [
        "bastion destroy prod.",  # a trailing full stop
        "bastion destroy 'prod'",  # quoted
        "bastion destroy pr\u043ed",  # a homoglyph: Cyrillic o
        "bastion destroy production-eu-west-1-blue-green-cluster",  # longer than 31
        "bastion extend prod!",
    ],
)
def test_a_destructive_command_naming_another_environment_is_never_run_here(
    aws, slack, clock, lambda_context, lambda_async, text
):
    # HOLE: an env word not matching _ENV_WORD is silently dropped and the verb runs here.
    # commands.parse ignores "prod.", "'prod'", a homoglyph or a long name after
    # status/extend/destroy and acts on THIS deployment's bastion.
    # Given John's bastion in dev
    via_slack(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    iid = created["instance_id"]
    expires = aws.tags(iid)["ExpiresAt"]
    # When he types a destroy/extend meant for another environment, slightly mistyped
    status, body = via_slack(lambda_context, clock, slash_command(text))
    deliver(lambda_context, lambda_async)
    # Then nothing is done to the dev bastion
    assert status == 200
    assert aws.state(iid) == "running" and aws.tags(iid)["ExpiresAt"] == expires, body["text"]
