"""A continuation sealed by another deployment that shares the Slack signing secret (another
environment, project, or function of the same project) is refused; each deployment runs its
own, and the Slack function queues its continuations to itself."""

from __future__ import annotations

from typing import Any

import pytest

import handler
from tests.support.doors import SECRET, deliver, reset_with, via_slack
from tests.support.slack_requests import function_url_event, slash_command

pytestmark = pytest.mark.integration


FUNCTION = "docustack-dev-bastion-orchestrator"


def queue_a_create(ctx: Any, clock: Any, queued: list[dict[str, Any]], slack: Any) -> None:
    body = slash_command("bastion create", response_url=slack.response_url)
    status, ack = via_slack(ctx, clock, body)
    assert status == 200 and "Launching your bastion" in ack["text"] and len(queued) == 1


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


def test_a_continuation_sealed_by_the_slack_function_does_not_run_on_the_orchestrator(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    from bastion_orchestrator.doors.slack.request import SlackRequest, form_of
    from bastion_orchestrator.doors.slack.sealing import Scope, seal

    form = form_of(slash_command("bastion create"))
    job = SlackRequest.read(form, "a" * 32, "dev").queued()
    envelope = seal(job, SECRET, clock(), scope=Scope("docustack", "dev", "docustack-dev-slack"))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "docustack-dev-orchestrator")

    refused = handler.lambda_handler(envelope, lambda_context)

    assert refused["error"] == "FORBIDDEN" and aws.running() == []
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "docustack-dev-slack")
    ran = handler.lambda_handler(envelope, lambda_context)  # its own function runs it
    assert ran["success"] is True and aws.running() == [ran["instance_id"]]


def test_the_slack_function_queues_its_continuation_to_itself(
    aws, slack, clock, lambda_context, monkeypatch
):
    from tests.support import roots

    sent: list[str] = []
    monkeypatch.setattr(roots.current(), "enqueue", lambda arn, payload: sent.append(arn))
    body = slash_command("bastion create")
    event = function_url_event(body, secret=SECRET, timestamp=int(clock().timestamp()))
    response = handler.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert sent == [lambda_context.invoked_function_arn]
