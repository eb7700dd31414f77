"""Genuine continuations delivered again, late, or after the policy changed: each is done at most
once, only inside its 15-minute window, and under the policy of the moment it runs."""

from __future__ import annotations

import pytest

import handler
from tests.support.doors import create_as, deliver, direct, reset_with, sealed, via_slack
from tests.support.slack_requests import button, slash_command

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("outbound")
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


@pytest.mark.parametrize("table", [False, True], ids=["tags-only", "idempotency-table"])
def test_a_genuine_continuation_delivered_twice_launches_once(
    aws, slack, clock, lambda_context, lambda_async, request, table
):
    if table:
        request.getfixturevalue("idempotency_table")
    via_slack(lambda_context, clock, slash_command("bastion create"))
    [queued] = lambda_async
    first = handler.lambda_handler(queued, lambda_context)
    second = handler.lambda_handler(queued, lambda_context)
    assert first["instance_id"] == second["instance_id"]
    assert len(aws.running()) == 1


@pytest.mark.usefixtures("outbound")
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


def test_idempotency_knows_the_lambda_context(aws, slack, clock, lambda_async, idempotency_table):
    # Given a real-looking context with a remaining-time clock (Lambda's)
    from tests.conftest import FakeLambdaContext

    class Context(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    ctx = Context()
    via_slack(ctx, clock, slash_command("bastion create"))
    deliver(ctx, lambda_async)
    # Then the idempotency record carries the invocation's deadline: a continuation that
    # times out frees its key when that passes, instead of an hour later
    items = idempotency_table.scan(TableName="docustack-dev-idempotency")["Items"]
    records = [i for i in items if "in_progress_expiration" in i]
    assert records, items


@pytest.mark.usefixtures("outbound")
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


def test_a_genuine_continuation_obeys_the_policy_of_the_moment_it_runs(
    aws, slack, clock, lambda_context, monkeypatch
):
    # Given a genuine job for U12345, sealed while the allow-list named him
    envelope = sealed(clock)
    # When the allow-list drops him before the continuation runs
    reset_with(monkeypatch, ALLOWED_USER_IDS="USOMEONEELSE")
    refused = direct(lambda_context, envelope)
    # Then the seal vouches for who asked, not for the permission: FORBIDDEN, nothing launched
    assert refused["error"] == "FORBIDDEN"
    assert aws.running() == []
