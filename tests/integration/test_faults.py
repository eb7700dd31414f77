"""Faults a bastion service meets in real life, each injected: throttling, no capacity,
scheduling failures, eventual consistency, duplicate and concurrent creates, idle bastions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

import auto_terminate
import handler
from bastion_orchestrator.adapters.aws.clients import CONNECT_TIMEOUT, READ_TIMEOUT, RETRIES
from tests.support import roots
from tests.support.faults import Injector, ec2_error, injected, json_error
from tests.support.roots import clients

pytestmark = pytest.mark.integration

CREATE = {"action": "create", "user_id": "U1", "username": "alice"}
FUNCTION_TIMEOUT = 60  # the module's default for both functions


def context(request_id: str) -> Any:
    """Another invocation: Lambda gives each its own request id."""
    from tests.conftest import FakeLambdaContext

    return FakeLambdaContext(aws_request_id=request_id)


def test_throttling_is_retried_not_reported(aws, clock, lambda_context):
    slept: list[float] = []
    ec2_faults = Injector().fail("RunInstances", ec2_error("RequestLimitExceeded", 503), 2)
    sched_faults = Injector().fail("CreateSchedule", json_error("ThrottlingException"), 1)
    with (
        injected(clients.ec2(), ec2_faults, slept),
        injected(clients.scheduler(), sched_faults, slept),
    ):
        response = handler.lambda_handler(CREATE, lambda_context)
    assert response["success"] is True
    assert ec2_faults.attempts["RunInstances"] == 3
    assert sched_faults.attempts["CreateSchedule"] == 3  # 1 throttled + termination + warning
    assert aws.running() == [response["instance_id"]]
    assert len(slept) == 3 and all(0 < s <= 20 for s in slept)


def test_retries_are_bounded_inside_the_function_timeout(aws, clock, lambda_context):
    # Given EC2 throttles every attempt
    slept: list[float] = []
    faults = Injector().fail("RunInstances", ec2_error("RequestLimitExceeded", 503), 99)
    with injected(clients.ec2(), faults, slept):
        response = handler.lambda_handler(CREATE, lambda_context)
    # Then the caller gets a clear error after a bounded number of attempts
    assert response["success"] is False and response["error"] == "INTERNAL_ERROR"
    attempts = RETRIES["total_max_attempts"]
    assert faults.attempts["RunInstances"] == attempts
    worst = attempts * (CONNECT_TIMEOUT + READ_TIMEOUT) + sum(slept)
    assert worst < FUNCTION_TIMEOUT
    assert aws.running() == []


def test_no_capacity_anywhere_answers_capacity_unavailable(aws, clock, lambda_context):
    faults = Injector().fail("RunInstances", ec2_error("InsufficientInstanceCapacity"), 99)
    with injected(clients.ec2(), faults, []):
        response = handler.lambda_handler(CREATE, lambda_context)
    assert response["error"] == "CAPACITY_UNAVAILABLE"
    assert response["subnets_tried"] == aws.subnet_ids
    assert "SUBNET_IDS" in response["message"]
    assert aws.running() == [] and aws.schedules() == {}


def test_capacity_in_the_second_subnet_is_used(aws, clock, lambda_context):
    faults = Injector().fail("RunInstances", ec2_error("InsufficientInstanceCapacity"), 1)
    with injected(clients.ec2(), faults, []):
        response = handler.lambda_handler(CREATE, lambda_context)
    assert response["success"] is True and response["subnet_id"] == aws.subnet_ids[1]


def test_scheduling_and_termination_both_failing_leaves_an_orphan_for_the_sweep(
    aws, clock, lambda_context, caplog, capsys
):
    # Given the scheduler is down and EC2 refuses the compensating termination
    sched = Injector().fail("CreateSchedule", json_error("InternalServerException", 500), 99)
    ec2 = Injector().fail("TerminateInstances", ec2_error("UnauthorizedOperation", 403), 1)
    with injected(clients.scheduler(), sched, []), injected(clients.ec2(), ec2, []):
        response = handler.lambda_handler(CREATE, lambda_context)
    # Then the caller is told, the orphan is logged and counted
    assert response["success"] is False and "terminated" in response["message"]
    [orphan] = aws.running()
    assert any(m.startswith("ORPHAN") for m in caplog.messages)
    assert '"OrphanedBastions"' in capsys.readouterr().out
    # And the sweep terminates it at its ExpiresAt, though it has no schedules
    clock.advance(hours=3)
    assert auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)["terminated"] == 1
    assert aws.state(orphan) in {"shutting-down", "terminated"}


def test_not_found_just_after_launch_is_retried(aws, clock, lambda_context):
    iid = handler.lambda_handler(CREATE, lambda_context)["instance_id"]
    naps: list[float] = []
    roots.current().instances.sleep = naps.append
    faults = Injector().fail("DescribeInstances", ec2_error("InvalidInstanceID.NotFound"), 2)
    with injected(clients.ec2(), faults, []):
        response = handler.lambda_handler({"action": "extend", "instance_id": iid}, lambda_context)
    assert response["success"] is True
    assert naps == [0.2, 0.5]


def test_an_instance_that_never_appears_is_not_found(aws, clock, lambda_context):
    naps: list[float] = []
    roots.current().instances.sleep = naps.append
    response = handler.lambda_handler(
        {"action": "destroy", "instance_id": "i-0123456789abcdef0"}, lambda_context
    )
    assert response["error"] == "NOT_FOUND"
    assert sum(naps) < 2  # a brief wait, not a hang


@pytest.fixture
def slots_table(idempotency_table):
    return idempotency_table


def slot_items(table):
    items = table.scan(TableName="docustack-dev-idempotency")["Items"]
    return [i for i in items if i["id"]["S"].startswith("slot#")]


def test_concurrent_creates_for_one_user_launch_exactly_one(
    aws, clock, lambda_context, slots_table, monkeypatch
):
    # Given a second create arriving while the first is inside RunInstances

    second: list[dict[str, Any]] = []
    monkeypatch.setattr(roots.current(), "sleep", lambda _: None)

    def race(**_):
        if not second:
            second.append({})
            second[0] = handler.lambda_handler(CREATE, context("another-request"))

    clients.ec2().meta.events.register("provide-client-params.ec2.RunInstances", race)
    first = handler.lambda_handler(CREATE, lambda_context)
    # Then exactly one instance exists; the second request was told it is on its way
    assert first["success"] is True
    assert second[0]["error"] == "LIMIT_EXCEEDED" and "being launched" in second[0]["message"]
    assert aws.running() == [first["instance_id"]]
    # And a later create gets the one bastion
    again = handler.lambda_handler(CREATE, context("third"))
    assert again["existing"] is True and again["instance_id"] == first["instance_id"]


def test_the_slot_is_released_on_termination(aws, clock, lambda_context, slots_table):
    iid = handler.lambda_handler(CREATE, lambda_context)["instance_id"]
    [slot] = slot_items(slots_table)
    assert slot["instance_id"]["S"] == iid and slot["user_id"]["S"] == "U1"
    clock.advance(hours=3)
    auto_terminate.lambda_handler({"action": "terminate", "instance_id": iid}, lambda_context)
    assert slot_items(slots_table) == []


def test_a_slot_whose_bastion_vanished_does_not_lock_the_user_out(
    aws, clock, lambda_context, slots_table
):

    iid = handler.lambda_handler(CREATE, lambda_context)["instance_id"]
    aws.ec2.terminate_instances(InstanceIds=[iid])  # by hand: no release happened
    response = handler.lambda_handler(CREATE, context("next"))
    assert response["success"] is True and response["instance_id"] != iid


def test_destroy_releases_the_slot_and_repeats_succeed(aws, clock, lambda_context, slots_table):
    handler.lambda_handler(CREATE, lambda_context)
    first = handler.lambda_handler({"action": "destroy", "user_id": "U1"}, lambda_context)
    again = handler.lambda_handler({"action": "destroy", "user_id": "U1"}, lambda_context)
    assert first["success"] is True and again["success"] is True
    assert again["already_terminated"] is True
    assert slot_items(slots_table) == []


def test_a_retried_terminate_cleans_up_leftover_schedules(aws, clock, lambda_context):
    iid = handler.lambda_handler(CREATE, lambda_context)["instance_id"]
    aws.ec2.terminate_instances(InstanceIds=[iid])
    result = auto_terminate.lambda_handler(
        {"action": "terminate", "instance_id": iid}, lambda_context
    )
    assert result["outcome"] == "already_gone" and aws.schedules() == {}


def test_idle_bastions_are_reaped_by_the_sweep(aws, slack, clock, lambda_context, monkeypatch):
    monkeypatch.setenv("IDLE_MINUTES", "30")
    roots.fresh()
    busy = handler.lambda_handler(CREATE, lambda_context)["instance_id"]
    quiet = handler.lambda_handler(
        {"action": "create", "user_id": "U2", "username": "bob"}, lambda_context
    )["instance_id"]
    clock.advance(minutes=45)
    # moto has no ssm:DescribeSessions: a Stubber answers on the SSM client only.
    with Stubber(clients.ssm()) as stub:
        stub.add_response(
            "describe_sessions",
            {"Sessions": [{"SessionId": "alice-1", "Target": busy, "Status": "Connected"}]},
            {"State": "Active"},
        )
        stub.add_response(
            "describe_sessions",
            {
                "Sessions": [
                    {
                        "SessionId": "bob-1",
                        "Target": quiet,
                        "Status": "Terminated",
                        "EndDate": clock() - timedelta(minutes=40),
                    }
                ]
            },
            {"State": "History", "Filters": [{"key": "Target", "value": quiet}], "MaxResults": 50},
        )
        result = auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
        stub.assert_no_pending_responses()
    assert result["terminated_idle"] == 1 and result["terminated"] == 0
    assert aws.state(busy) == "running"
    assert aws.state(quiet) in {"shutting-down", "terminated"}
    [notice] = slack.to("U2")
    assert "no SSM session" in notice.all_text()


def test_idle_reaping_reads_every_page_of_session_history(aws, clock, lambda_context, monkeypatch):
    monkeypatch.setenv("IDLE_MINUTES", "30")
    roots.fresh()
    iid = handler.lambda_handler(CREATE, lambda_context)["instance_id"]
    clock.advance(minutes=45)
    history = {"State": "History", "Filters": [{"key": "Target", "value": iid}], "MaxResults": 50}

    def ended(minutes_ago: int) -> dict[str, object]:
        return {
            "SessionId": f"s-{minutes_ago}",
            "Target": iid,
            "Status": "Terminated",
            "EndDate": clock() - timedelta(minutes=minutes_ago),
        }

    # Given an old session on the first page and one that ended 5 minutes ago on the second
    with Stubber(clients.ssm()) as stub:
        stub.add_response("describe_sessions", {"Sessions": []}, {"State": "Active"})
        stub.add_response(
            "describe_sessions", {"Sessions": [ended(40)], "NextToken": "page-2"}, history
        )
        stub.add_response(
            "describe_sessions", {"Sessions": [ended(5)]}, {**history, "NextToken": "page-2"}
        )
        result = auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
        stub.assert_no_pending_responses()
    # Then the bastion is not idle: it was used five minutes ago
    assert result["terminated_idle"] == 0 and aws.state(iid) == "running"


def test_without_idle_minutes_the_sweep_never_asks_ssm(aws, clock, lambda_context):
    handler.lambda_handler(CREATE, lambda_context)
    clock.advance(hours=2)
    with Stubber(clients.ssm()):  # any SSM call would fail: no responses are queued
        result = auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
    assert result["terminated_idle"] == 0
