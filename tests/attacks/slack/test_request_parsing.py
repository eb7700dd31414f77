"""``SlackRequest``, the one parse of a signed Slack form both halves of the door read: odd
payloads, buttons of ours among others', non-string and duplicated values, a presser named
twice, response URLs that are almost Slack's, and an acknowledging half that reads another
environment than the deciding half. The acknowledgement and the queued request must read
alike, the presser is always the payload's user, and no shape makes the door answer 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion_orchestrator.doors.slack.acknowledge import slow_work
from bastion_orchestrator.doors.slack.request import (
    SlackRequest,
    form_of,
    request_id_of,
    slack_hook,
)
from tests.support.doors import create_as, deliver, direct, via_slack
from tests.support.slack_requests import slash_command

IID = "i-0123456789abcdef0"
APR = "apr-0123456789abcdef"
HOOK = "https://hooks.slack.com/actions/T0/1/x"
OURS = {"action_id": "bastion_destroy", "value": IID}
THEIRS = {"action_id": "other_apps_button", "value": IID}


def _button_body(actions: list[Any], *, user: Any = None, **extra: Any) -> str:
    payload = {
        "type": "block_actions",
        "user": user if user is not None else {"id": "U12345", "username": "john.doe"},
        "actions": actions,
        "response_url": HOOK,
        **extra,
    }
    return urlencode({"payload": json.dumps(payload)})


def _read(body: str, served: str = "dev") -> SlackRequest:
    return SlackRequest.read(form_of(body), request_id_of(body), served)


def _as_queued(request: SlackRequest, served: str = "dev") -> SlackRequest:
    """The request as the deciding half reads it back from its (JSON) continuation."""
    job = json.loads(json.dumps(request.queued()))
    unqueued = SlackRequest.unqueued(job, served)
    assert unqueued is not None
    return unqueued


def _seen(request: SlackRequest) -> tuple[Any, ...]:
    return (
        request.kind,
        request.user_id,
        request.user_name,
        request.button,
        request.response_url,
        request.foreign_response_url,
        request.command,
    )


# Raw JSON (not built with json.dumps) so that a key may be repeated.
_ODD_PAYLOADS = {
    "ours-after-theirs": json.dumps(
        {"type": "block_actions", "user": {"id": "U12345"}, "actions": [THEIRS, OURS]}
    ),
    "non-objects-after-ours": json.dumps(
        {"type": "block_actions", "user": {"id": "U12345"}, "actions": [OURS, 1, "x", None]}
    ),
    "two-of-ours": json.dumps(
        {
            "type": "block_actions",
            "user": {"id": "U12345"},
            "actions": [{"action_id": "bastion_extend", "value": IID}, OURS],
        }
    ),
    "repeated-user-id": '{"type": "block_actions", "user": {"id": "UMALLORY", "id": "UADMIN"},'
    f' "actions": [{json.dumps(OURS)}]}}',
    "repeated-action-id": '{"type": "block_actions", "user": {"id": "U12345"}, "actions": '
    f'[{{"action_id": "other", "action_id": "bastion_destroy", "value": "{IID}"}}]}}',
    "repeated-payload-keys": '{"type": "view_submission", "type": "block_actions", '
    f'"user": {{"id": "U12345"}}, "actions": [{json.dumps(OURS)}]}}',
    "odd-names-and-url": json.dumps(
        {
            "type": "block_actions",
            "user": {"id": "U12345", "username": None, "name": ["x"], "team_id": "T9"},
            "actions": [{**OURS, "block_id": "b", "extra": {"deep": [1, [2]]}}],
            "response_url": "https://evil.example/hook",
        }
    ),
    "approve-with-a-request-id": json.dumps(
        {
            "type": "block_actions",
            "user": {"id": "UAPPROVER1", "username": "ann"},
            "actions": [THEIRS, {"action_id": "bastion_approve", "value": APR}],
            "response_url": HOOK,
        }
    ),
    "nan-in-anothers-value": '{"type": "block_actions", "user": {"id": "U12345"}, '
    f'"actions": [{json.dumps(OURS)}, {{"action_id": "x", "value": NaN}}]}}',
}


@pytest.mark.parametrize("payload", list(_ODD_PAYLOADS.values()), ids=list(_ODD_PAYLOADS))
def test_the_queued_request_reads_as_the_acknowledgement_did(payload):
    # Given a signed button payload of an odd shape, queued as slow work
    request = _read(urlencode({"payload": payload}))
    assert slow_work(request) is not None, request
    # When the deciding half reads it back from the continuation
    queued = _as_queued(request)
    # Then it reads the same presser, button, name and reply address as the ack did
    assert _seen(queued) == _seen(request)
    assert queued.request_id == request.request_id


def test_repeated_keys_are_read_one_way_in_both_halves():
    # Given a payload naming its presser twice and a form naming a user outside it
    body = urlencode({"payload": _ODD_PAYLOADS["repeated-user-id"], "user_id": "UOTHER"})
    request = _read(body)
    # Then the presser is the payload's user (JSON keeps the last), in both halves
    assert request.user_id == "UADMIN" == _as_queued(request).user_id


@pytest.mark.parametrize(
    "text",
    [
        "bastion create dev 1h INC-1 the db",
        "bastion create prod",
        "bastion approve " + APR,
        "bastion deny apr-not-an-id because",
        "bastion extend --break-glass INC-9",
        "bastion destroy pr\u043ed",
        "bastion create --brea\u212a-glass p1",  # the Kelvin sign lower-cases to k
    ],
)
@pytest.mark.parametrize("ack_reads", ["", "prod", "dev"])
def test_a_queued_command_decides_as_it_would_inline_whatever_the_ack_read(text, ack_reads):
    # Given a slash command the ack parsed for whatever ENVIRONMENT it read
    body = slash_command(text)
    acknowledged = _read(body, served=ack_reads)
    # When the deciding half parses it for the environment its settings validate (dev)
    decided = _as_queued(acknowledged, served=ack_reads).for_environment("dev")
    # Then it is the command an inline answer in dev would have read
    assert decided.command == _read(body, served="dev").command
    assert decided.user_id == "U12345" and decided.response_url is not None


def test_a_form_with_a_command_and_a_payload_is_queued_as_the_button_only():
    # Given one signed body with Mallory's create and a button press of hers
    body = slash_command("bastion create", user_id="UMALLORY") + "&" + _button_body([OURS])
    request = _read(body)
    # Then only the button is queued, without the command's fields
    queued = request.queued()
    assert request.kind == "button" and set(queued["slack_form"]) == {"payload"}
    assert _as_queued(request).command is None


# ---------------------------------------------------------------- response URLs
@pytest.mark.parametrize(
    "url",
    [
        HOOK + "\n",
        HOOK + " ",
        " " + HOOK,
        HOOK + "\t",
        "https://hooks.sl\u0430ck.com/actions/T0/1/x",  # Cyrillic a
        "https://hooks.slack.com\u3002evil.example/x",  # ideographic full stop
        "https://hooks.slack.com%2f@evil.example/x",
        "https://hooks.slack.com/",
        "https://hooks.slack.com",
        "https:/hooks.slack.com/actions/x",
        "https://hooks.slack.com./actions/x",
        "//hooks.slack.com/actions/x",
        "https://hooks.slack.com/actions/x?next=https://evil.example",
        "https://hooks.slack.com/actions/x;@evil.example",
        "https://hooks.slack.com/actions/x\u2028",
        "https://hooks.slack.com/\uff45vil",  # fullwidth e
    ],
)
def test_almost_slacks_response_urls_are_not_slacks(url):
    assert slack_hook(url) is None
    # And the request that carries one replies by direct message only
    request = _read(slash_command("bastion create", response_url=url))
    assert request.response_url is None and request.foreign_response_url is True


_URLISH = st.text(
    alphabet=st.sampled_from(list("hoks.lacm/:@?#%2fe\\AZ09_-~+ \n\t\u0430\u3002")),
    max_size=24,
)


@given(
    prefix=st.sampled_from(["https://hooks.slack.com", "https://hooks.slack.com/"]), tail=_URLISH
)
def test_every_url_taken_for_slacks_is_sent_to_slacks_host(prefix, tail):
    # Given whatever follows the hooks host
    url = prefix + tail
    # Then a URL taken for Slack's is https, to hooks.slack.com, no port, no user info,
    # read the same way by urllib and by urllib3 (which requests posts with)
    if slack_hook(url) is None:
        return
    from urllib3.util import parse_url

    parts, parsed = urlsplit(url), parse_url(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.username) == (
        "https",
        "hooks.slack.com",
        None,
        None,
    )
    assert (parsed.scheme, parsed.host, parsed.port, parsed.auth) == (
        "https",
        "hooks.slack.com",
        None,
        None,
    )


# ---------------------------------------------------------------- through the door
@pytest.mark.integration
@pytest.mark.usefixtures("outbound")
@pytest.mark.parametrize(
    "actions",
    [[THEIRS, OURS], [OURS, 1], [{"action_id": "bastion_extend", "value": IID}, OURS]],
    ids=["behind-theirs", "before-a-non-object", "extend-first"],
)
def test_a_button_of_ours_among_others_is_pressed_by_the_payloads_user(
    aws, slack, clock, lambda_context, lambda_async, actions
):
    # Given John's bastion, and UADMIN an admin
    iid = create_as(lambda_context, clock, lambda_async, "U12345")
    actions = [{**a, "value": iid} if isinstance(a, dict) else a for a in actions]
    # When Mallory's press of a button of ours among others arrives, with the admin's id in
    # the form and in the user object's other fields
    user = {"id": "UMALLORY", "username": "UADMIN", "name": "UADMIN", "team_id": "UADMIN"}
    body = _button_body(actions, user=user) + "&user_id=UADMIN"
    status, _ = via_slack(lambda_context, clock, body)
    [result] = deliver(lambda_context, lambda_async)
    # Then it is Mallory's press: refused, the bastion untouched
    assert status == 200 and result["error"] == "FORBIDDEN", result
    assert aws.running() == [iid]


@pytest.mark.integration
@pytest.mark.usefixtures("outbound")
def test_the_owners_press_behind_another_apps_button_is_honoured(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given John's bastion
    iid = create_as(lambda_context, clock, lambda_async, "U12345")
    # When he presses our destroy button on a message that also carries another app's button
    body = _button_body([{**THEIRS, "value": iid}, {**OURS, "value": iid}])
    via_slack(lambda_context, clock, body)
    [result] = deliver(lambda_context, lambda_async)
    # Then ours is found and run
    assert result["success"] is True and aws.running() == []


_ODD_FORMS = {
    "payload-null": urlencode({"payload": "null"}),
    "payload-list": urlencode({"payload": "[]"}),
    "payload-string": urlencode({"payload": '"block_actions"'}),
    "payload-truncated": urlencode({"payload": '{"type": "block_actions", "user": {'}),
    "payload-huge-int": urlencode(
        {"payload": '{"type": "block_actions", "n": ' + "9" * 5000 + "}"}
    ),
    "payload-blank-beside-a-command": slash_command("bastion destroy") + "&payload=",
    "type-list": _button_body([OURS], type=["block_actions"]),
    "type-number": _button_body([OURS], type=1),
    "user-a-string": _button_body([OURS], user="U12345"),
    "user-id-number": _button_body([OURS], user={"id": 12345}),
    "user-id-bool": _button_body([OURS], user={"id": True}),
    "actions-string": _button_body("bastion_destroy"),  # type: ignore[arg-type]
    "actions-null": _button_body(None),  # type: ignore[arg-type]
    "value-object": _button_body([{"action_id": "bastion_destroy", "value": {"id": IID}}]),
    "value-number": _button_body([{"action_id": "bastion_extend", "value": 1}]),
    "value-padded": _button_body([{"action_id": "bastion_destroy", "value": f" {IID}\n"}]),
    "value-homoglyph": _button_body([{"action_id": "bastion_destroy", "value": "\u0456-0123"}]),
    "approve-an-instance": _button_body([{"action_id": "bastion_approve", "value": IID}]),
    "action-id-look-alike": _button_body([{"action_id": "bastion_destr\u043ey", "value": IID}]),
    "team-and-app-odd": _button_body([OURS], team="T0001", api_app_id=["A123456"]),
    "response-url-object": _button_body([OURS], response_url={"url": HOOK}),
    "no-command-no-payload": urlencode({"text": "bastion destroy", "user_id": "U12345"}),
    "command-without-user": urlencode({"command": "/infra", "text": "bastion destroy"}),
    "command-huge-text": slash_command("bastion destroy " + "x " * 200_000),
    "command-nul-text": slash_command("bastion create \x00\x1b[31m INC"),
}


@pytest.mark.integration
def test_odd_signed_forms_are_answered_never_500_and_touch_nobodys_bastion(
    outbound, aws, slack, clock, lambda_context, lambda_async
):
    # Given someone's bastion (at the instance id the odd buttons name, or not); one
    # deployment for all the forms (each is checked on its own, in turn)
    made = direct(lambda_context, {"action": "create", "user_id": "UVICTIM", "username": "v"})
    victim = made["instance_id"]
    for name, odd in _ODD_FORMS.items():
        body = odd.replace(IID, victim)
        # When a correctly signed form of an odd shape arrives
        status, answer = via_slack(lambda_context, clock, body)
        results = deliver(lambda_context, lambda_async)
        # Then it is answered (200 or 400, never the 500 of an uncaught exception), whatever
        # was queued answers too, and the bastion is untouched
        assert status in (200, 400), (name, answer)
        assert all(r.get("success") is False for r in results), (name, results)
        assert aws.running() == [victim] and outbound == [], name
