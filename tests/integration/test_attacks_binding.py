"""Issue 17, finding 5: seals and Slack requests bound to one deployment (SECURITY.md).

Dev and prod may share a Slack app, and so its signing secret; one app may be installed in
many workspaces. Before this change a continuation sealed by deployment A was obeyed by
deployment B, and a correctly signed request from any app or workspace sharing the secret was
served. Now the continuation key names the deployment (project, environment, function), and
the door can pin the app and workspace it answers (``SLACK_APP_ID``, ``SLACK_TEAM_ID``).
Each test would fail on the code before the change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import handler
from tests.support import fresh
from tests.support.doors import SECRET, deliver, reset_with, via_slack
from tests.support.slack_requests import button, slash_command

pytestmark = pytest.mark.integration

FUNCTION = "docustack-dev-bastion-orchestrator"
PINNED = {"SLACK_APP_ID": "A123456", "SLACK_TEAM_ID": "T0001"}  # what the helpers send


def queue_a_create(ctx: Any, clock: Any, queued: list[dict[str, Any]], slack: Any) -> None:
    body = slash_command("bastion create", response_url=slack.response_url)
    status, ack = via_slack(ctx, clock, body)
    assert status == 200 and "Launching your bastion" in ack["text"] and len(queued) == 1


# ================================================================== sealed for one deployment
@pytest.mark.parametrize(
    "elsewhere",
    [
        {"ENVIRONMENT": "prod"},
        {"PROJECT_NAME": "otherproject"},
        {"AWS_LAMBDA_FUNCTION_NAME": "docustack-dev-bastion-orchestrator-b"},
    ],
    ids=["another environment", "another project", "another function"],
)
def test_a_job_sealed_by_one_deployment_is_refused_by_another_and_changes_nothing(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, caplog, elsewhere
):
    # Given deployment A (docustack/dev, FUNCTION) queued a genuine create, sealed
    reset_with(monkeypatch, AWS_LAMBDA_FUNCTION_NAME=FUNCTION)
    queue_a_create(lambda_context, clock, lambda_async, slack)
    # When the sealed job is handed to deployment B, which shares the Slack signing secret
    reset_with(monkeypatch, **elsewhere)
    [result] = deliver(lambda_context, lambda_async)
    # Then B refuses it as a continuation it did not produce, and nothing happens
    assert result["success"] is False and result["error"] == "FORBIDDEN"
    assert "another deployment" in result["message"]
    assert "continuation refused" in caplog.text
    assert aws.running() == [] and slack.replies() == [] and slack.messages == []


def test_a_genuine_job_still_runs_in_the_deployment_that_sealed_it(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    reset_with(monkeypatch, AWS_LAMBDA_FUNCTION_NAME=FUNCTION)
    queue_a_create(lambda_context, clock, lambda_async, slack)
    [result] = deliver(lambda_context, lambda_async)
    assert result["success"] is True and aws.running() == [result["instance_id"]]


# ================================================================== pinned app and workspace
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
