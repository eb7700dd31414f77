"""A door that fails (Secrets Manager, the wiring, an answer JSON cannot write) answers the
generic 500 JSON, never raises, and leaks no secret, path or exception name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import handler
from tests.support.doors import SECRET, signed
from tests.support.iam_requests import iam_event
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


INTERNAL_ERROR_BODY = {
    "success": False,
    "error": "INTERNAL_ERROR",
    "message": "Unexpected failure; nothing was changed. Retry, and check the "
    "function's logs if it persists.",
}


class _Boom(RuntimeError):
    pass


def test_a_failing_slack_secret_is_a_bare_500_that_leaks_nothing(
    aws, signing, clock, lambda_context, lambda_async, monkeypatch
):
    from tests.support import roots

    # Given Secrets Manager failing with an error whose text holds secrets and internals
    def broken() -> str:
        raise _Boom(f"secret {SECRET} at /var/task/bastion_orchestrator/slack/secret.py line 9")

    monkeypatch.setattr(roots.current(), "signing_secret", broken)
    # When a correctly signed create arrives
    response = handler.lambda_handler(
        signed(clock, slash_command("bastion create")), lambda_context
    )
    # Then it is exactly the generic 500: no secret, no path, no exception name, nothing queued
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == INTERNAL_ERROR_BODY
    for leak in (SECRET, "/var/task", "_Boom", "Traceback", "secret.py"):
        assert leak not in response["body"]
    assert lambda_async == [] and aws.running() == []


def test_a_failing_iam_door_is_a_bare_500_that_leaks_nothing(
    aws, clock, lambda_context, monkeypatch
):
    from tests.support import roots

    # Given the wiring failing with the credentials it was building in its message
    def broken() -> Any:
        raise _Boom("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG in /var/task/wiring.py")

    monkeypatch.setattr(roots.current(), "dispatcher", broken)
    # When a signed IAM create arrives
    response = handler.lambda_handler(iam_event({"action": "create"}), lambda_context)
    # Then it is the generic 500 and nothing more
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == INTERNAL_ERROR_BODY
    assert "wJalrXUtnFEMI" not in response["body"] and "/var/task" not in response["body"]
    assert aws.running() == []


def test_a_door_answer_that_cannot_be_serialised_is_still_a_500_not_a_crash(
    aws, clock, lambda_context, monkeypatch
):
    # HOLE: function_url.handle serialises the door's answer (answer() -> json.dumps) outside
    # its try/except. With Powertools' resolver the json.dumps ran inside the route, so its
    # exception handler turned a TypeError into the generic 500; now any answer that is not
    # plain JSON (a datetime, a Decimal from DynamoDB, a set, bytes) escapes the handler as an
    # unhandled exception: the contract "HTTP doors never raise" is broken, the Function URL
    # caller gets Lambda's own 502 and the error is not counted as InternalErrors.
    from bastion_orchestrator.doors import iam
    from bastion_orchestrator.doors.http import HttpAnswer

    def answers_a_datetime(self: Any, request: Any, context: Any) -> HttpAnswer:
        return HttpAnswer(200, {"success": True, "expires_at": datetime.now(UTC)})

    # Given a door whose answer holds a value json.dumps cannot write
    monkeypatch.setattr(iam.IamDoor, "__call__", answers_a_datetime)
    # When a request reaches it
    try:
        response = handler.lambda_handler(iam_event({"action": "list"}), lambda_context)
    except TypeError as e:
        pytest.fail(f"the Function URL transport raised: {e!r}")
    # Then it is the generic 500, as every other failure of a door
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == INTERNAL_ERROR_BODY
