"""The app and workspace a Slack door is pinned to (``SLACK_APP_ID``, ``SLACK_TEAM_ID``). Apps and
workspaces may share one signing secret: a pinned door answers a correctly signed request from
any other, or from one that names none, as it answers an unsigned one."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

import handler
from tests.support import fresh
from tests.support.doors import SECRET, deliver, reset_with, signed, via_slack
from tests.support.slack_requests import button, slash_command

pytestmark = pytest.mark.integration

OWNER = "U12345"
PINNED = {"SLACK_APP_ID": "A123456", "SLACK_TEAM_ID": "T0001"}  # what the helpers send


def _requests(instance_id: str, **origin: str) -> dict[str, str]:
    return {
        "slash command": slash_command("bastion create", **origin),
        "button": button("bastion_destroy", instance_id, **origin),
    }


def _a_bastion(ctx: Any) -> str:
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U12345", "username": "john.doe"}, ctx
    )
    assert created["success"] is True, created
    return str(created["instance_id"])


@pytest.mark.parametrize(
    "origin",
    [{"api_app_id": "A0THERAPP"}, {"team_id": "T0THERTEAM"}],
    ids=["another app", "another workspace"],
)
@pytest.mark.parametrize("kind", ["slash command", "button"])
def test_a_signed_request_from_another_app_or_workspace_is_refused_when_pinned(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, caplog, origin, kind
):
    # Given a deployment pinned to app A123456 in workspace T0001, and a running bastion
    instance_id = _a_bastion(lambda_context)
    reset_with(monkeypatch, **PINNED)
    # When a correctly signed command or Destroy button arrives from another app or workspace
    status, body = via_slack(lambda_context, clock, _requests(instance_id, **origin)[kind])
    # Then it is answered as an unsigned request is, and nothing is queued or changed
    assert status == 401 and body == {"error": "invalid_signature"}
    assert lambda_async == [] and aws.running() == [instance_id]
    assert slack.replies() == []
    assert "another app or workspace" in caplog.text


@pytest.mark.parametrize("kind", ["slash command", "button"])
def test_the_pinned_app_and_workspace_are_served(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, kind
):
    instance_id = _a_bastion(lambda_context)
    reset_with(monkeypatch, **PINNED)
    status, body = via_slack(lambda_context, clock, _requests(instance_id)[kind])
    assert status == 200 and "…" in body["text"] and len(lambda_async) == 1
    [result] = deliver(lambda_context, lambda_async)
    assert result["success"] is True


@pytest.mark.parametrize("kind", ["slash command", "button"])
def test_unpinned_any_app_and_workspace_are_served_as_before(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, kind
):
    instance_id = _a_bastion(lambda_context)
    reset_with(monkeypatch, SLACK_APP_ID="", SLACK_TEAM_ID="")
    request = _requests(instance_id, api_app_id="A0THERAPP", team_id="T0THERTEAM")[kind]
    status, _ = via_slack(lambda_context, clock, request)
    assert status == 200 and len(lambda_async) == 1


def test_a_pinned_door_refuses_an_interaction_that_names_no_workspace(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    reset_with(monkeypatch, SLACK_TEAM_ID="T0001")
    instance_id = _a_bastion(lambda_context)
    payload = json.loads(_payload_of(button("bastion_destroy", instance_id)))
    for broken in ({**payload, "team": None}, {**payload, "team": "T0001"}, [payload]):
        body = "payload=" + json.dumps(broken)
        status, _ = via_slack(lambda_context, clock, body)
        assert status == 401
    status, _ = via_slack(lambda_context, clock, "payload={not json")
    assert status == 401
    assert lambda_async == [] and aws.running() == [instance_id]


def _payload_of(form: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(form)["payload"][0]


def test_a_pinned_cold_acknowledgement_still_loads_no_pydantic(aws):
    from tests.integration.test_slack_door import _COLD_ACK

    result = fresh.last_json(_COLD_ACK, SECRET, json.dumps({**aws.env, **PINNED}))
    assert result["status"] == 200 and result["queued"] == 1
    loaded = set(result["loaded"])
    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core")}
    assert "bastion_orchestrator.config" not in loaded


def interaction(**fields: Any) -> str:
    """A button press; a field given as ``...`` is left out."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": OWNER, "username": "john", "team_id": "T0001"},
        "api_app_id": "A123456",
        "team": {"id": "T0001"},
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [{"action_id": "bastion_extend", "value": "i-0123456789abcdef0"}],
    }
    payload.update(fields)
    return urlencode({"payload": json.dumps({k: v for k, v in payload.items() if v is not ...})})


@pytest.mark.parametrize(
    "body",
    [
        interaction(team=None),  # an org-wide install: only user.team_id names the workspace
        interaction(team=...),
        interaction(api_app_id=...),
        interaction(team={"id": ["T0001"]}),
        interaction(team={"id": {"id": "T0001"}}),
        interaction(api_app_id=["A123456"]),
        interaction(team="T0001"),
        urlencode({"payload": "[1]"}),
        urlencode({"payload": "{"}),
        urlencode({"payload": "[" * 5000 + "]" * 5000}),
        slash_command("bastion create", team_id="T0002"),
        slash_command("bastion create", api_app_id="A999999"),
        # the first of duplicated keys is the one read everywhere
        slash_command("bastion create", team_id="T0002") + "&team_id=T0001",
        "command=%2Finfra&text=bastion+create&user_id=U12345&user_name=john",
    ],
)
def test_a_signed_request_outside_the_pins_is_401_and_does_nothing(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, body
):
    reset_with(monkeypatch, **PINNED)
    response = handler.lambda_handler(signed(clock, body), lambda_context)
    assert response["statusCode"] == 401
    assert lambda_async == [] and aws.running() == []


def test_a_pinned_request_is_answered(aws, slack, clock, lambda_context, lambda_async, monkeypatch):
    reset_with(monkeypatch, **PINNED)
    response = handler.lambda_handler(
        signed(clock, slash_command("bastion create")), lambda_context
    )
    assert response["statusCode"] == 200 and len(lambda_async) == 1
