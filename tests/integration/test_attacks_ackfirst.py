"""Adversarial review of the ack-first Slack door (SECURITY.md, row 38).

The door now acknowledges slow verbs right after Slack's signature check and seals what it
reads of the signed request for an asynchronous self-invocation, which decides it (policy,
validation, environment) and answers through ``response_url``. Each test encodes the SECURE
(or merely correct) behaviour. Tests marked ``# HOLE:`` failed against the change as first
written (all are closed now); the comment says what the attacker got and the fix. The
others document what the change resisted from the start.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

import handler
from tests.support.api_calls import counting
from tests.support.doors import SECRET, deliver, reset_with, sealed, signed, via_slack
from tests.support.slack_requests import button, slash_command

pytestmark = pytest.mark.integration

LAMBDA_ASYNC_PAYLOAD_MAX = 256 * 1024  # what Lambda accepts for InvocationType=Event
SLACK_VERIFICATION_TOKEN = "gIkuvaNzQIHg97ATvDxqgjtO"  # the legacy token slash_command sends
APPROVERS = "UAPPROVER1,UAPPROVER2"


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture(autouse=True)
def outbound(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every webhook/response_url post that would leave 127.0.0.1: recorded, never sent. (The
    ``slack`` fixture routes Slack's own hooks to its stand-in before this sees them.)"""
    from bastion_orchestrator.adapters.slack import notifier
    from bastion_orchestrator.errors import NotificationFailed

    attempts: list[str] = []
    post = notifier._post_webhook

    def guarded(url: str, what: str, **message: Any) -> None:
        if not url.startswith("http://127.0.0.1:"):
            attempts.append(url)
            raise NotificationFailed("blocked by the test: not 127.0.0.1")
        post(url, what, **message)

    monkeypatch.setattr(notifier, "_post_webhook", guarded)
    return attempts


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


def create_as(ctx: Any, clock: Any, queued: list[dict[str, Any]], user: str) -> str:
    via_slack(ctx, clock, slash_command("bastion create", user_id=user))
    [created] = deliver(ctx, queued)
    assert created["success"] is True, created
    return str(created["instance_id"])


def blank_secret(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    import boto3

    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="blank-signing-secret", SecretString=json.dumps({"signing_secret": secret})
    )["ARN"]
    reset_with(monkeypatch, SLACK_SECRET_ARN=arn)


# ================================================================== a refused member
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


def test_a_non_approvers_approve_click_is_refused_to_them_alone(
    aws, approvals, clock, lambda_context, lambda_async
):
    # Given a create waiting in the approval channel
    via_slack(lambda_context, clock, slash_command("bastion create dev INC-9", user_id="U12345"))
    [pending] = deliver(lambda_context, lambda_async)
    approval_id = pending["approval_id"]
    # When Mallory, who reads the channel but approves nothing, presses Approve
    click = button("bastion_approve", approval_id, user_id="UMALLORY")
    status, ack = via_slack(lambda_context, clock, click)
    [refused] = deliver(lambda_context, lambda_async)
    # Then nothing launches; she alone is told, and the channel's request is left in place
    assert status == 200 and approval_id in ack["text"]
    assert refused["success"] is False and aws.running() == []
    reply = approvals.replies()[-1]
    assert reply.body["response_type"] == "ephemeral" and reply.body["replace_original"] is False
    assert not [m for m in approvals.messages if m.endpoint == "chat.update"]
    # And a real approver can still approve it
    via_slack(lambda_context, clock, button("bastion_approve", approval_id, user_id="UAPPROVER1"))
    [approved] = deliver(lambda_context, lambda_async)
    assert approved["success"] is True and len(aws.running()) == 1


# ================================================================== parser differentials
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


def test_raw_non_ascii_text_survives_the_seal_and_launches_once(
    aws, slack, clock, lambda_context, lambda_async
):
    # When the signed body carries raw (not percent-encoded) UTF-8
    body = slash_command("bastion create REASON").replace("REASON", "caf\u00e9-\U0001f680")
    via_slack(lambda_context, clock, body)
    job = lambda_async[0]
    first = handler.lambda_handler(job, lambda_context)
    again = handler.lambda_handler(json.loads(json.dumps(job, ensure_ascii=False)), lambda_context)
    # Then it verifies after JSON re-encoding, launches once, and the reason is intact
    assert first["success"] is True and again["instance_id"] == first["instance_id"]
    assert aws.tags(first["instance_id"])["Reason"] == "caf\u00e9-\U0001f680"
    assert aws.running() == [first["instance_id"]]


# ================================================================== response_url and markup
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com.evil.example/commands/x",
        "https://hooks.slack.com@evil.example/commands/x",
        "https://evil.example/https://hooks.slack.com/commands/x",
        "http://hooks.slack.com/commands/x",
        "https://hooks.slack.com/commands/x\nHost: evil.example",
    ],
)
def test_a_refusal_is_never_posted_to_a_look_alike_response_url(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, outbound, url
):
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    via_slack(
        lambda_context, clock, slash_command("bastion create", user_id="UM", response_url=url)
    )
    [refused] = deliver(lambda_context, lambda_async)
    # Then it is refused and posted nowhere: not to the look-alike, not to Slack
    assert refused["error"] == "FORBIDDEN"
    assert outbound == [] and slack.replies() == []


def test_the_ack_never_echoes_what_the_user_typed(aws, slack, clock, lambda_context, lambda_async):
    # When the text after approve is markup, not a request id
    status, ack = via_slack(lambda_context, clock, slash_command("bastion approve <!channel>"))
    [refused] = deliver(lambda_context, lambda_async)
    # Then the ack names "that request", and the refusal goes to the user alone
    assert status == 200 and "<!channel>" not in json.dumps(ack)
    assert "that request" in ack["text"]
    assert refused["success"] is False
    assert all(r.body["response_type"] == "ephemeral" for r in slack.replies())
    assert not [m for m in slack.messages if m.endpoint == "chat.postMessage"]


# ================================================================== the inline fallback
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


# ================================================================== the continuation door
def _deepest_parseable_json() -> Any:
    """The deepest object ``json.loads`` parses here, deeper than the Lambda runtime's frame."""
    depth = 1000
    while True:
        try:
            return json.loads('{"a":' * depth + "1" + "}" * depth)
        except RecursionError:
            depth -= 1


def test_a_deeply_nested_continuation_is_refused_not_raised(aws, slack, clock, lambda_context):
    # HOLE: unseal's _mac runs json.dumps over the job and catches only TypeError/ValueError.
    # A direct invoker sends {"continuation": {"job": <JSON nested just under the parser's
    # limit>, ...}}: the runtime parses it, the handler (a few frames deeper) raises
    # RecursionError: an unhandled error for a direct invoke (the contract says never), an
    # exception log and Lambda retries for an async one. Fix: catch RecursionError in _mac
    # (or bound the job's depth/size before canonicalising).
    nested = _deepest_parseable_json()
    envelope = {
        "job": {"slack_request": "x", "a": nested},
        "issued_at": int(clock().timestamp()),
        "signature": "v1=" + "0" * 64,
    }
    result = handler.lambda_handler({"continuation": envelope}, lambda_context)
    assert result.get("error") == "FORBIDDEN" and aws.running() == []


def test_a_blank_signing_secret_vouches_for_no_continuation(
    aws, clock, lambda_context, monkeypatch, idempotency_table
):
    # HOLE: the Slack door treats a whitespace-only signing_secret as none (every request 401),
    # but unseal only checks `not signing_secret`: with "   " configured (a bad copy-paste),
    # anyone who may invoke the function seals a continuation under "   " and speaks as any
    # Slack user, approvers included: here Mallory's pending request is approved "by"
    # UAPPROVER1 and launched, though the direct door cannot approve at all. Fix: unseal (and
    # the ack's _enqueue) refuse a blank secret the way _signed does (`not secret.strip()`).
    reset_with(
        monkeypatch,
        APPROVAL_REQUIRED="true",
        APPROVER_USER_IDS=APPROVERS,
        APPROVAL_CHANNEL="C0APPROVALS",
        SLACK_API_URL="http://127.0.0.1:9/api/",  # nothing here may reach Slack
    )
    blank_secret(monkeypatch, "   ")
    pending = handler.lambda_handler(
        {"action": "create", "user_id": "UMALLORY", "username": "mallory"}, lambda_context
    )
    assert pending.get("pending_approval") is True, pending
    approve = slash_command(f"bastion approve {pending['approval_id']}", user_id="UAPPROVER1")
    result = handler.lambda_handler(sealed(clock, secret="   ", body=approve), lambda_context)
    assert aws.running() == [], result
    assert result.get("error") == "FORBIDDEN"


def test_a_job_the_previous_release_queued_is_not_dropped_silently(
    aws, slack, clock, lambda_context
):
    # HOLE: during a deploy, a create/extend/destroy the previous release acknowledged ("...
    # I'll post the result here and in a direct message") arrives as its sealed parsed job;
    # this release refuses it (right: it is not re-decided) but tells nobody, though the job
    # carries a sealed, Slack-only response_url. The requester waits for an answer that never
    # comes. Fix: for a genuine job of the previous shape, post "not done, please retry" to
    # its response_url (already validated and sealed), then refuse.
    from bastion_orchestrator.doors.slack import sealing

    old_job = {
        "user_id": "U12345",
        "username": "john.doe",
        "action": {"action": "destroy", "user_id": "U12345"},
        "request_id": "0123456789abcdef0123456789abcdef",
        "response_url": slack.response_url,
        "replace_original": False,
    }
    result = handler.lambda_handler(sealing.seal(old_job, SECRET, clock()), lambda_context)
    assert result["success"] is False and aws.running() == []
    [told] = slack.replies()
    assert told.body["response_type"] == "ephemeral"


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


def test_a_duplicate_delivery_of_an_extend_extends_once(
    aws, slack, clock, lambda_context, lambda_async
):
    # HOLE: Lambda delivers async events at least once (and the ack falls back inline when an
    # Invoke errs after Lambda queued it). A create is idempotent (its request id is the
    # RunInstances client token) but without IDEMPOTENCY_TABLE an extend continuation
    # delivered twice extends twice: EXTEND_HOURS more than the user asked, up to the cap.
    # Fix: make extend idempotent on the request id (e.g. remember the last request id in a
    # tag and answer it again), or require IDEMPOTENCY_TABLE for the Slack door.
    iid = create_as(lambda_context, clock, lambda_async, "U12345")
    clock.advance(hours=1)
    via_slack(lambda_context, clock, button("bastion_extend", iid))
    job = lambda_async[0]
    first = handler.lambda_handler(job, lambda_context)
    again = handler.lambda_handler(job, lambda_context)
    assert first["success"] is True
    assert again.get("expires_at") == first["expires_at"]


def test_a_genuine_continuation_is_decided_under_the_policy_when_it_runs(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    # Given Mallory's create acknowledged while she was allowed ...
    reset_with(monkeypatch, ALLOWED_USER_IDS="UMALLORY")
    via_slack(lambda_context, clock, slash_command("bastion create", user_id="UMALLORY"))
    # ... and taken off the list before the worker runs
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    clock.advance(seconds=30)
    [result] = deliver(lambda_context, lambda_async)
    # Then nothing launches: the ack decided nothing
    assert result["error"] == "FORBIDDEN" and aws.running() == []


def test_a_replayed_continuation_outside_its_window_changes_nothing(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = create_as(lambda_context, clock, lambda_async, "U12345")
    via_slack(lambda_context, clock, slash_command("bastion destroy"))
    captured = lambda_async.pop()
    # When someone who may invoke the function replays the captured destroy 16 minutes later
    clock.advance(minutes=16)
    result = handler.lambda_handler(captured, lambda_context)
    # Then it is refused as stale and the bastion lives
    assert result["error"] == "FORBIDDEN" and aws.state(iid) == "running"


def test_a_signed_request_cannot_be_fed_to_the_continuation_door(
    aws, slack, clock, lambda_context, lambda_async
):
    # When a direct invoker wraps a Slack-signed Function URL event (or its body) as a
    # continuation, or sends the signed event beside one
    event = signed(clock, slash_command("bastion create"))
    attempts = [
        {"continuation": event},
        {"continuation": {"job": {"slack_request": event["body"]}}},
        {**sealed(clock), "requestContext": event["requestContext"]},
    ]
    results = [handler.lambda_handler(a, lambda_context) for a in attempts]
    # Then nothing launches (the last one is a Function URL request, whose body is not Slack's)
    assert all(r.get("error") == "FORBIDDEN" or r.get("statusCode") in (400, 401) for r in results)
    assert aws.running() == [] and lambda_async == []
