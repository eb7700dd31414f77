"""The Slack door acknowledges a slow verb at once and queues it to its asynchronous half: what a
member the policy refuses costs, what a retried or misconfigured worker answers, when the door
decides inline instead (no Invoke, or a request too big for one), and what the queue carries."""

from __future__ import annotations

import json
from typing import Any

import pytest

import handler
from tests.support.api_calls import counting
from tests.support.doors import deliver, reset_with, via_slack
from tests.support.slack_requests import slash_command

# Every webhook or response_url post that would leave 127.0.0.1 is recorded, never sent.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("outbound")]


LAMBDA_ASYNC_PAYLOAD_MAX = 256 * 1024  # what Lambda accepts for InvocationType=Event
SLACK_VERIFICATION_TOKEN = "gIkuvaNzQIHg97ATvDxqgjtO"  # the legacy token slash_command sends


@pytest.fixture
def lambda_limited(aws: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The door's async Invoke as Lambda answers it, 256 KB limit included."""
    from botocore.exceptions import ClientError

    from tests.support import roots

    queued: list[dict[str, Any]] = []

    def enqueue(function_arn: str, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload)
        if len(raw.encode()) > LAMBDA_ASYNC_PAYLOAD_MAX:
            raise ClientError(
                {"Error": {"Code": "RequestEntityTooLargeException", "Message": "Too long"}},
                "Invoke",
            )
        queued.append(json.loads(raw))

    monkeypatch.setattr(roots.current(), "enqueue", enqueue)
    return queued


def test_a_refused_create_costs_one_invoke_and_no_ec2_call(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    # When Mallory (a workspace member off the allow-list) asks for a bastion
    body = slash_command("bastion create", user_id="UMALLORY", response_url=slack.response_url)
    with counting() as ack_calls:
        status, ack = via_slack(lambda_context, clock, body)
    assert status == 200 and "Launching your bastion" in ack["text"] and len(lambda_async) == 1
    with counting() as worker_calls:
        [refused] = deliver(lambda_context, lambda_async)
    # Then she cost one Invoke (no more: the worker queues nothing) and no EC2 call at all
    assert lambda_async == []
    assert not [c for c in (*ack_calls, *worker_calls) if c.startswith(("ec2.", "scheduler."))]
    # And the refusal reached only her, ephemerally, where she asked
    assert refused["error"] == "FORBIDDEN" and aws.running() == []
    [reply] = slack.replies()
    assert reply.body["response_type"] == "ephemeral" and "ALLOWED_USER_IDS" in reply.text
    assert not [m for m in slack.messages if m.endpoint == "chat.postMessage"]


def test_a_refusal_retried_by_lambda_answers_again_and_never_raises(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    via_slack(lambda_context, clock, slash_command("bastion create", user_id="UMALLORY"))
    job = lambda_async[0]
    # When Lambda delivers the same refused continuation three times
    results = [handler.lambda_handler(job, lambda_context) for _ in range(3)]
    # Then each is a FORBIDDEN answer (no exception for Lambda to retry), nothing launched
    assert [r["error"] for r in results] == ["FORBIDDEN"] * 3
    assert aws.running() == []


def test_a_worker_with_broken_settings_answers_configuration_error_and_never_raises(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    # Given a create acknowledged (the ack reads no settings) ...
    via_slack(lambda_context, clock, slash_command("bastion create"))
    # ... and a deployment whose settings break before the worker runs
    monkeypatch.delenv("IAM_INSTANCE_PROFILE")
    reset_with(monkeypatch)
    [answer] = deliver(lambda_context, lambda_async)
    # Then the worker answers CONFIGURATION_ERROR naming the variable, where the user asked
    assert answer["error"] == "CONFIGURATION_ERROR" and aws.running() == []
    assert "IAM_INSTANCE_PROFILE" in slack.replies()[-1].all_text()


def test_without_an_invoke_a_refusal_is_answered_inline_and_posted_nowhere(
    aws, slack, clock, lambda_context, monkeypatch
):
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    # Given no async self-invocation (moto has no such function: Invoke fails)
    status, body = via_slack(
        lambda_context, clock, slash_command("bastion create", user_id="UMALLORY")
    )
    # Then the refusal is the HTTP answer itself; nothing is launched or posted
    assert status == 200 and "ALLOWED_USER_IDS" in body["text"]
    assert aws.running() == [] and slack.replies() == []


def test_a_signed_request_too_big_for_an_async_invoke_is_still_answered_once(
    aws, slack, clock, lambda_context, lambda_limited
):
    # Given a signed create whose text is beyond Lambda's 256 KB async payload limit
    body = slash_command("bastion create " + "A" * (LAMBDA_ASYNC_PAYLOAD_MAX + 1))
    # When it arrives (the Invoke is refused as too large)
    status, answer = via_slack(lambda_context, clock, body)
    # Then it is decided and done inline: answered, one bastion, nothing queued
    assert status == 200 and answer["text"].startswith("Done: create i-")
    assert len(aws.running()) == 1 and lambda_limited == []


def test_the_queued_continuation_does_not_carry_slacks_verification_token(
    aws, slack, clock, lambda_context, lambda_async
):
    # HOLE: the ack seals the whole signed body, so every queued continuation (Lambda's async
    # queue, then the dead-letter queue on failure, kept for days) now holds the Slack app's
    # legacy verification token (and channel names, trigger ids), which the parsed job of the
    # previous release never carried. Anyone who can read the DLQ gets an app-wide credential
    # that token-checking integrations still accept. Fix: seal only the fields the worker
    # reads (user_id, user_name, command, text, response_url or payload) plus the request id.
    via_slack(lambda_context, clock, slash_command("bastion create"))
    assert len(lambda_async) == 1
    assert SLACK_VERIFICATION_TOKEN not in json.dumps(lambda_async)
