"""Requests through the doors as tests send them: signed Slack posts, queued continuations
run as Lambda would, and continuations sealed with a chosen key."""

from __future__ import annotations

import json
from typing import Any

import handler
from tests.support.slack_requests import function_url_event

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
