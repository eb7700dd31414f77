"""Requests through the doors as tests send them: signed Slack posts, queued continuations
run as Lambda would, continuations sealed with a chosen key, IAM-door requests and direct
invokes."""

from __future__ import annotations

import json
from typing import Any

import handler
from tests.support.iam_requests import ALICE_ARN, ALICE_ID, iam_event
from tests.support.slack_requests import function_url_event, slash_command

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the signing secret the slack fixture stores


def reset_with(monkeypatch: Any, **env: str) -> None:
    """Change the deployment's environment variables, and forget what was built from them."""
    from tests.support import roots

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    roots.fresh()


def signed(clock: Any, body: str) -> dict[str, Any]:
    return function_url_event(body, secret=SECRET, timestamp=int(clock().timestamp()))


def via_slack(ctx: Any, clock: Any, body: str) -> tuple[int, dict[str, Any]]:
    response = handler.lambda_handler(signed(clock, body), ctx)
    return response["statusCode"], json.loads(response["body"])


def deliver(ctx: Any, queued: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the queued async invocations, as Lambda would (and empty the queue)."""
    results = [handler.lambda_handler(payload, ctx) for payload in queued]
    queued.clear()
    return results


def sealed(clock: Any, secret: str = SECRET, body: str | None = None) -> dict[str, Any]:
    """A continuation as the Slack door queues it: what it keeps of a signed request's form
    (U12345's ``/infra bastion create`` unless ``body`` is given) and the request's id,
    sealed with ``secret``."""
    from bastion_orchestrator.doors.slack import sealing
    from bastion_orchestrator.doors.slack.request import SlackRequest
    from tests.support.slack_requests import slash_command

    request = body if body is not None else slash_command("bastion create")
    job = SlackRequest.parse(request).queued()
    return sealing.seal(job, secret, clock())


def create_as(ctx: Any, clock: Any, queued: list[dict[str, Any]], user: str) -> str:
    """A Slack create by ``user``, acknowledged and run: the new bastion's id."""
    via_slack(ctx, clock, slash_command("bastion create", user_id=user))
    [created] = deliver(ctx, queued)
    assert created["success"] is True, created
    return str(created["instance_id"])


def http_call(event: Any, ctx: Any) -> tuple[int, dict[str, Any]]:
    """A Function URL event through the handler: the status and the JSON body."""
    response = handler.lambda_handler(event, ctx)
    return response["statusCode"], json.loads(response["body"])


def direct(ctx: Any, payload: Any) -> dict[str, Any]:
    """A direct invoke (an operator's, or a continuation): the handler's answer."""
    return handler.lambda_handler(payload, ctx)


def via_iam(ctx: Any, body: Any, **identity: Any) -> tuple[int, dict[str, Any]]:
    """An IAM-door request (Alice's unless ``identity`` says): the status and the JSON body."""
    response = handler.lambda_handler(iam_event(body, **identity), ctx)
    return response["statusCode"], json.loads(response["body"])


def iam(ctx: Any, body: Any, arn: str = ALICE_ARN, user_id: str = ALICE_ID) -> dict[str, Any]:
    """An IAM-door request signed as ``arn`` (Alice unless given): the JSON body."""
    response = handler.lambda_handler(iam_event(body, user_arn=arn, user_id=user_id), ctx)
    answer: dict[str, Any] = json.loads(response["body"])
    return answer
