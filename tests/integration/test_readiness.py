"""Security review, issue 17, finding 2: one member must not stall every door.

A Slack create used to hold an execution for up to 3 minutes, polling its bastion's SSM agent
with sleeps (also for a create answered ``existing``), so ~10 commands every 3 minutes filled
the function's reserved concurrency and every door answered 429. Now the continuation answers
"launching" and returns; readiness is reported by short ``ready`` events of the
auto-terminator, from one-shot schedules (``app.readiness``). The separate concurrency pools of
the Slack function, the IAM door and the terminator are checked on the applied module
(``tests/terraform/test_module_apply.py``).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

import auto_terminate
import handler
from tests.support import roots
from tests.support.roots import clients
from tests.support.slack_requests import function_url_event, slash_command
from tests.support.ssm_agent import agent_answers, no_sleep

pytestmark = pytest.mark.integration

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ONLINE: list[dict[str, Any]] = [{"PingStatus": "Online"}]


def slack_create(ctx: Any, clock: Any, slack: Any, queued: list[dict[str, Any]]) -> dict[str, Any]:
    """/infra bastion create, acknowledged, then its continuation run as Lambda would."""
    body = slash_command("bastion create", response_url=slack.response_url)
    event = function_url_event(body, secret=SECRET, timestamp=int(clock().timestamp()))
    assert handler.lambda_handler(event, ctx)["statusCode"] == 200
    [job] = queued
    queued.clear()
    return handler.lambda_handler(job, ctx)


def ready(ctx: Any, iid: str, attempt: int, answer: list[dict[str, Any]]) -> dict[str, Any]:
    with agent_answers(answer):
        return auto_terminate.lambda_handler(
            {"action": "ready", "instance_id": iid, "attempt": attempt}, ctx
        )


def ready_checks(aws: Any) -> list[str]:
    return sorted(n for n in aws.schedules() if "-ready-" in n)


# ---------------------------------------------------------------- the continuation
def test_a_slack_create_returns_without_sleeping_or_looking_at_the_agent(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given an agent that never comes online (the old continuation polled it for 3 minutes)
    # When a Slack create's continuation runs, every sleep recorded instead of slept
    with agent_answers([]) as looked, no_sleep() as slept:
        created = slack_create(lambda_context, clock, slack, lambda_async)
    # Then it launched, said "launching" once each way, and returned: no sleep, no poll
    assert created["success"] is True and created["existing"] is False
    assert slept == [] and looked == [0]
    assert [m.text for m in slack.replies()] == [slack.to("U12345")[0].text]
    assert "is launching" in slack.replies()[0].text
    # And the readiness checks are left to three one-shot schedules
    assert len(ready_checks(aws)) == 3


def test_a_create_answered_existing_posts_once_at_once(
    aws, slack, clock, lambda_context, lambda_async
):
    first = slack_create(lambda_context, clock, slack, lambda_async)
    clock.advance(minutes=10)
    told = len(slack.messages)
    assert "is launching" in slack.replies()[0].text
    # When the same user asks again while it runs (a stopped agent would never come online)
    with agent_answers([]) as looked, no_sleep() as slept:
        again = slack_create(lambda_context.next(), clock, slack, lambda_async)
    # Then the existing bastion is answered at once: one reply, one DM, no check, no sleep
    assert again["existing"] is True and again["instance_id"] == first["instance_id"]
    assert slept == [] and looked == [0]
    new = [m for m in slack.messages[told:] if m.endpoint != "users.info"]
    assert sorted(m.endpoint for m in new) == ["chat.postMessage", "response_url"]
    assert all(first["instance_id"] in m.all_text() for m in new)
    assert len(ready_checks(aws)) == 3  # the first launch's, no more


def test_a_just_launched_existing_bastion_is_still_launching(
    aws, slack, clock, lambda_context, lambda_async
):
    slack_create(lambda_context, clock, slack, lambda_async)
    again = slack_create(lambda_context.next(), clock, slack, lambda_async)
    assert again["existing"] is True
    # Its first launch's checks will tell when it is ready; this answer does not say "ready"
    assert "is launching" in slack.replies()[-1].text


def test_readiness_checks_that_cannot_be_scheduled_leave_the_launch_standing(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    def refused(*_: Any, **__: Any) -> None:
        raise RuntimeError("scheduler unavailable")

    monkeypatch.setattr(type(roots.current().schedules), "put_ready_checks", refused)
    created = slack_create(lambda_context, clock, slack, lambda_async)
    assert created["success"] is True and aws.running() == [created["instance_id"]]
    assert "is launching" in slack.replies()[-1].text


# ---------------------------------------------------------------- the ready event
def test_ready_is_told_once_even_when_delivered_twice(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = slack_create(lambda_context, clock, slack, lambda_async)["instance_id"]
    clock.advance(seconds=60)
    first = ready(lambda_context, iid, 1, ONLINE)
    again = ready(lambda_context, iid, 1, ONLINE)  # at-least-once delivery
    later = ready(lambda_context, iid, 2, ONLINE)  # the next check
    assert (first["outcome"], again["outcome"], later["outcome"]) == (
        "ready",
        "already_notified",
        "already_notified",
    )
    dms = slack.to("U12345")
    assert [("is launching" in m.text, "is ready in" in m.text) for m in dms] == [
        (True, False),
        (False, True),
    ]
    assert f"aws ssm start-session --target {iid}" in dms[1].all_text()
    assert aws.tags(iid)["ReadyNotified"] == "ready"


def test_not_ready_within_the_budget_waits_for_the_next_check(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = slack_create(lambda_context, clock, slack, lambda_async)["instance_id"]
    told = len(slack.messages)
    for attempt in (1, 2):
        clock.advance(seconds=60)
        assert ready(lambda_context, iid, attempt, [])["outcome"] == "not_yet"
    assert len(slack.messages) == told and "ReadyNotified" not in aws.tags(iid)
    # And when it comes online by the last check, "ready" is told then
    clock.advance(seconds=180)
    assert ready(lambda_context, iid, 3, ONLINE)["outcome"] == "ready"
    assert "is ready in" in slack.to("U12345")[-1].text


def test_not_ready_after_the_budget_is_told_once_with_the_diagnosis(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = slack_create(lambda_context, clock, slack, lambda_async)["instance_id"]
    clock.advance(minutes=5)
    last = ready(lambda_context, iid, 3, [])
    again = ready(lambda_context, iid, 3, [])
    assert (last["outcome"], again["outcome"]) == ("not_ready", "already_notified")
    [message] = slack.to("U12345")[1:]
    assert "not ready" in message.all_text() and "after 300 s" in message.all_text()
    # moto's VPC has no SSM endpoints nor NAT: the diagnosis says so
    assert "interface endpoint" in message.all_text()
    assert aws.tags(iid)["ReadyNotified"] == "not_ready"


def test_the_budget_counts_from_launch_whatever_attempt_the_event_names(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = slack_create(lambda_context, clock, slack, lambda_async)["instance_id"]
    clock.advance(minutes=6)  # a first check delivered late, past the budget
    assert ready(lambda_context, iid, 1, [])["outcome"] == "not_ready"


def test_an_unknown_agent_status_at_the_end_says_it_could_not_be_checked(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = slack_create(lambda_context, clock, slack, lambda_async)["instance_id"]
    clock.advance(minutes=5)
    events = clients.ssm().meta.events

    def fails(**_: Any) -> None:
        raise RuntimeError("SSM unavailable")

    events.register("before-call.ssm.DescribeInstanceInformation", fails)
    try:
        result = auto_terminate.lambda_handler(
            {"action": "ready", "instance_id": iid, "attempt": 3}, lambda_context
        )
    finally:
        events.unregister("before-call.ssm.DescribeInstanceInformation", fails)
    assert result["outcome"] == "not_ready"
    assert "could not be checked" in slack.to("U12345")[-1].all_text()


@pytest.mark.parametrize("whose", ["untagged", "another environment"])
def test_instances_that_are_not_ours_are_ignored(aws, slack, clock, lambda_context, whose):
    tags = {"ManagedBy": "bastion-orchestrator", "Project": "docustack", "Environment": "prod"}
    spec: dict[str, Any] = {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1}
    if whose == "another environment":
        spec["TagSpecifications"] = [
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": k, "Value": v} for k, v in {**tags, "RequestedByUserId": "U1"}.items()
                ],
            }
        ]
    iid = boto3.client("ec2").run_instances(**spec)["Instances"][0]["InstanceId"]
    result = ready(lambda_context, iid, 3, ONLINE)
    assert result["outcome"] == "not_ours_or_gone"
    assert slack.messages == [] and "ReadyNotified" not in aws.tags(iid)


def test_a_terminated_or_stale_bastion_is_told_nothing(
    aws, slack, clock, lambda_context, lambda_async
):
    iid = slack_create(lambda_context, clock, slack, lambda_async)["instance_id"]
    other = slack_create(
        lambda_context.next(), clock, slack, lambda_async
    )  # existing: the same bastion
    assert other["instance_id"] == iid
    told = len(slack.messages)
    clock.advance(minutes=45)  # a redelivery long after anyone waited
    assert ready(lambda_context, iid, 2, ONLINE)["outcome"] == "stale"
    handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)
    told = len(slack.messages)
    assert ready(lambda_context, iid, 3, ONLINE)["outcome"] == "not_ours_or_gone"
    assert len(slack.messages) == told


@pytest.mark.parametrize(
    "event",
    [
        {"action": "ready", "instance_id": "i-0123456789abcdef0"},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 0},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 1, "extra": 1},
        {"action": "ready", "instance_id": "not-an-id", "attempt": 1},
    ],
)
def test_a_malformed_ready_event_changes_nothing_and_says_how_to_fix_it(
    aws, slack, lambda_context, event
):
    result = auto_terminate.lambda_handler(event, lambda_context)
    assert result["success"] is False and result["error"] == "VALIDATION_ERROR"
    assert slack.messages == []
    assert "attempt" in json.dumps(result) or "instance_id" in json.dumps(result)


def test_an_approved_slack_request_schedules_the_requesters_checks(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, idempotency_table
):
    monkeypatch.setenv("APPROVAL_REQUIRED", "true")
    monkeypatch.setenv("APPROVER_USER_IDS", "U9999")
    monkeypatch.setenv("APPROVAL_CHANNEL", "C0APPROVALS")
    roots.fresh()
    asked = slack_create(lambda_context, clock, slack, lambda_async)
    assert asked["pending_approval"] is True
    from tests.support.slack_requests import button

    press = button("bastion_approve", asked["approval_id"], user_id="U9999", username="maria")
    event = function_url_event(press, secret=SECRET, timestamp=int(clock().timestamp()))
    handler.lambda_handler(event, lambda_context)
    with no_sleep() as slept:
        [approved] = [handler.lambda_handler(job, lambda_context.next()) for job in lambda_async]
    iid = approved["instance_id"]
    assert slept == [] and len(ready_checks(aws)) == 3
    assert "is launching" in slack.to("U12345")[-1].text
    clock.advance(seconds=60)
    assert ready(lambda_context, iid, 1, ONLINE)["outcome"] == "ready"
    assert "is ready in" in slack.to("U12345")[-1].text
