"""The dispatcher on fakes: policy, then use case, then a typed result or a typed refusal.
``dispatch`` never raises: whatever goes wrong, the door gets an Outcome to present."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.bastion import Tag
from bastion_orchestrator.domain.results import (
    Created,
    Decided,
    Destroyed,
    Extended,
    Inspected,
    Listed,
    Pending,
    Refused,
)
from bastion_orchestrator.errors import Forbidden, InternalError, InvalidRequest, LimitExceeded
from bastion_orchestrator.usecases.create import CreateBastion
from models import Approve, Create, Destroy, Extend, ListBastions, Status
from tests.unit.fakes import T0, BreakGlassPost
from tests.unit.world import World, bastion, slack

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
IID = "i-00000000000000001"
NEW = "i-0000000000000b001"


def create(user_id: str = "U1", username: str = "jane", **fields: object) -> Create:
    return Create(action="create", user_id=user_id, username=username, **fields)  # type: ignore[arg-type]


def extend(**fields: object) -> Extend:
    return Extend(action="extend", instance_id=IID, **fields)  # type: ignore[arg-type]


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[dict[str, object]]:
    """The structured fields of each line logged with this message."""
    return [vars(r) for r in caplog.records if r.getMessage() == text]


# ----------------------------------------------------------------- refusals
def test_a_forbidden_request_is_audited_and_refused_and_launches_nothing(caplog):
    caplog.set_level(logging.INFO)
    # Given ALLOWED_USER_IDS=U1
    world = World.of(ALLOWED_USER_IDS="U1")
    # When U9 asks for a bastion from Slack
    outcome = world.dispatcher().dispatch(slack("U9", "mallory"), create("U9"), request_id="r")
    # Then the answer is a refusal, FORBIDDEN, and nothing was launched
    assert isinstance(outcome, Refused) and isinstance(outcome.error, Forbidden)
    assert outcome.error.code == "FORBIDDEN"
    assert world.compute.launches == []
    # And it is one audit line naming who, what, through which door, and why
    [line] = messages(caplog, "request forbidden")
    assert (line["actor"], line["action"], line["door"]) == ("U9", "create", "slack")
    assert "ALLOWED_USER_IDS" in str(line["reason"])
    # And a warning (the user caused it), not an error
    assert [r["levelno"] for r in messages(caplog, "request refused")] == [logging.WARNING]


def test_a_forbidden_found_by_the_use_case_is_audited_with_the_instance(caplog):
    caplog.set_level(logging.INFO)
    world = World.of()
    world.add(bastion(1))  # U1's
    outcome = world.dispatcher().dispatch(
        slack("U2", "bob"), Destroy(action="destroy", instance_id=IID), request_id="r"
    )
    assert isinstance(outcome, Refused) and isinstance(outcome.error, Forbidden)
    [line] = messages(caplog, "request forbidden")
    assert (line["actor"], line["action"], line["instance_id"]) == ("U2", "destroy", IID)
    assert world.compute.terminate_calls == []


def test_a_refusal_the_user_caused_is_not_audited_as_forbidden(caplog):
    caplog.set_level(logging.INFO)
    world = World.of()
    world.add(bastion(1, expires=T0 + 12 * H))  # at its cap already
    outcome = world.dispatcher().dispatch(slack(), extend(), request_id="r")
    assert isinstance(outcome, Refused) and isinstance(outcome.error, LimitExceeded)
    assert messages(caplog, "request forbidden") == []


def test_an_invalid_request_from_the_policy_is_a_validation_refusal():
    world = World.protected()
    outcome = world.dispatcher().dispatch(slack(), create(break_glass=True), request_id="r")
    assert isinstance(outcome, Refused) and isinstance(outcome.error, InvalidRequest)
    assert outcome.error.code == "VALIDATION_ERROR"


def test_an_unexpected_exception_becomes_an_internal_error_refusal(caplog):
    # Given a backend failing in a way nobody foresaw
    world = World.of()
    world.compute.launch_error = RuntimeError("boom")
    # When U1 creates
    outcome = world.dispatcher().dispatch(slack(), create(), request_id="r")
    # Then the door still gets an answer: INTERNAL_ERROR, with what to do
    assert isinstance(outcome, Refused) and isinstance(outcome.error, InternalError)
    assert outcome.error.code == "INTERNAL_ERROR"
    assert outcome.error.message.startswith("Unexpected failure; nothing was left half-done")
    assert "boom" not in outcome.error.message  # the cause is logged, not shown
    [logged] = messages(caplog, "unexpected failure")
    assert logged["levelno"] == logging.ERROR and logged["exc_info"] is not None
    # And the launch slot it claimed was freed
    assert world.slots.held == {}


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://ec2.us-east-1.amazonaws.com/"),
        ConnectTimeoutError(endpoint_url="https://ec2.us-east-1.amazonaws.com/"),
    ],
    ids=["connection", "timeout"],
)
def test_an_unreachable_aws_endpoint_is_named(error):
    # Given EC2's endpoint cannot be reached from the function
    world = World.of()
    world.compute.launch_error = error
    # When U1 creates
    outcome = world.dispatcher().dispatch(slack(), create(), request_id="r")
    # Then the refusal names the endpoint and the network path to check
    assert isinstance(outcome, Refused) and outcome.error.code == "INTERNAL_ERROR"
    # (scheme and host only: a request's path and query, or user info, never reach the caller)
    assert outcome.error.message == (
        "Could not reach the AWS endpoint https://ec2.us-east-1.amazonaws.com. Nothing was "
        "left half-done that the sweep will not clean up; check the function's network path to "
        "it (VPC endpoints, NAT, AWS_ENDPOINT_URL) and retry."
    )
    assert outcome.error.details == {"endpoint": "https://ec2.us-east-1.amazonaws.com"}


def test_a_refused_request_builds_no_use_case():
    # Given use cases that count how often they are built (a cold start pays for each)
    world = World.of(ALLOWED_USER_IDS="U1")
    built: list[str] = []
    dispatcher = world.dispatcher()

    def create_counted() -> CreateBastion:
        built.append("create")
        return world.create()

    counted = replace(dispatcher.cases, create=create_counted)
    dispatcher = replace(dispatcher, cases=counted)
    # When the policy refuses, then allows
    dispatcher.dispatch(slack("U9"), create("U9"), request_id="r1")
    assert built == []
    dispatcher.dispatch(slack("U1"), create("U1"), request_id="r2")
    assert built == ["create"]


# ----------------------------------------------------------------- routing
def test_each_action_reaches_its_use_case():
    world = World.of()
    world.add(bastion(1))
    dispatch = world.dispatcher().dispatch
    jane = slack()
    assert isinstance(dispatch(jane, ListBastions(action="list"), request_id="r"), Listed)
    status = Status(action="status", instance_id=IID)
    assert isinstance(dispatch(jane, status, request_id="r"), Inspected)
    assert isinstance(dispatch(jane, extend(), request_id="r"), Extended)
    destroy = Destroy(action="destroy", instance_id=IID)
    assert isinstance(dispatch(jane, destroy, request_id="r"), Destroyed)
    assert isinstance(dispatch(slack("U2", "bob"), create("U2", "bob"), request_id="r"), Created)


# ----------------------------------------------------------------- protected environments
def test_a_create_in_a_protected_environment_is_pending():
    world = World.protected()
    outcome = world.dispatcher().dispatch(slack(), create(), request_id="r")
    assert isinstance(outcome, Pending)
    assert (outcome.approval.hours, outcome.approval.expires_at) == (3, T0 + timedelta(minutes=30))
    assert world.compute.launches == []


def test_an_extend_past_the_grant_is_pending_for_the_approvers():
    # Given U1's bastion granted until 15:00, and the clock at 14:00
    world = World.protected()
    world.add(bastion(1, tags={Tag.GRANTED_UNTIL: iso(T0 + 3 * H)}))
    world.clock.now = T0 + 2 * H
    # When U1 extends it
    outcome = world.dispatcher().dispatch(slack(), extend(), request_id="r")
    # Then the approvers are asked to extend it to 17:00; nothing changed yet
    assert isinstance(outcome, Pending)
    assert outcome.approval.kind == "extend"
    assert outcome.approval.request["until"] == "2025-12-18T17:00:00+00:00"
    assert [approval.id for approval, _ in world.board.posts] == [outcome.approval.id]
    assert world.compute.tag_calls == [] and world.schedules.puts == []


@pytest.mark.parametrize("board_broken", [False, True], ids=["announced", "slack-down"])
def test_a_break_glass_launch_is_announced_loudly(board_broken):
    # Given a protected environment, BREAK_GLASS_HOURS=1
    world = World.protected()
    world.board.broken = board_broken
    # When U1 breaks the glass asking for 5 hours
    outcome = world.dispatcher().dispatch(
        slack(), create(break_glass=True, reason="INC-4711 db down", hours=5), request_id="r"
    )
    # Then a bastion runs for one hour, marked break-glass, without an approver
    assert isinstance(outcome, Created) and outcome.facts.expires_at == T0 + H
    [order] = world.compute.launches
    assert order.grant.break_glass and order.grant.until == T0 + H
    # And it is announced in the approval channel (a Slack outage never undoes the launch)
    expected = [BreakGlassPost(Owner("U1", "jane"), NEW, 1, "INC-4711 db down", False)]
    assert world.board.announced == ([] if board_broken else expected)


def test_a_break_glass_launch_for_someone_else_announces_the_owner_audits_the_actor(caplog):
    caplog.set_level(logging.INFO)
    # Given an admin breaking the glass for U2
    world = World.protected(ADMIN_USER_IDS="UADMIN")
    outcome = world.dispatcher().dispatch(
        slack("UADMIN", "root"),
        create("U2", "bob", break_glass=True, reason="INC-4711"),
        request_id="r",
    )
    assert isinstance(outcome, Created)
    # Then the channel is told about U2 (the owner); only the audit line names the admin
    assert [post.owner.user_id for post in world.board.announced] == ["U2"]
    [line] = messages(caplog, "break-glass launch")
    assert line["actor"] == "UADMIN"


def test_a_break_glass_extension_is_announced_as_one():
    world = World.protected()
    world.add(bastion(1, tags={Tag.GRANTED_UNTIL: iso(T0 + 3 * H)}))
    world.clock.now = T0 + 2 * H
    outcome = world.dispatcher().dispatch(
        slack(), extend(break_glass=True, reason="INC-4711"), request_id="r"
    )
    assert isinstance(outcome, Extended) and outcome.facts.expires_at == T0 + 4 * H
    assert world.board.announced == [
        BreakGlassPost(Owner("U1", "jane"), IID, 1, "INC-4711", extended=True)
    ]


def test_an_approval_through_the_dispatcher_launches_once(caplog):
    caplog.set_level(logging.INFO)
    world = World.protected()
    dispatch = world.dispatcher().dispatch
    # Given U1's pending request
    pending = dispatch(slack(), create(), request_id="r1")
    assert isinstance(pending, Pending)
    approve = Approve(action="approve", approval_id=pending.approval.id)
    # When U2 (no approver) presses Approve, then UAPPROVER1 does
    refused = dispatch(slack("U2", "bob"), approve, request_id="r2")
    decided = dispatch(slack("UAPPROVER1", "boss"), approve, request_id="r3")
    # Then U2 is refused and audited; UAPPROVER1's approval launches the bastion
    assert isinstance(refused, Refused) and isinstance(refused.error, Forbidden)
    assert [r["actor"] for r in messages(caplog, "request forbidden")] == ["U2"]
    assert isinstance(decided, Decided) and isinstance(decided.outcome, Created)
    assert world.compute.launches[0].grant.approved_by == "UAPPROVER1"


def test_a_self_approval_through_the_dispatcher_is_refused_and_audited(caplog):
    caplog.set_level(logging.INFO)
    # Given an admin asked for a bastion for the approver UAPPROVER1
    world = World.protected(ADMIN_USER_IDS="UADMIN")
    dispatch = world.dispatcher().dispatch
    pending = dispatch(slack("UADMIN", "root"), create("UAPPROVER1", "boss"), request_id="r1")
    assert isinstance(pending, Pending)
    # When UAPPROVER1 approves it
    outcome = dispatch(
        slack("UAPPROVER1", "boss"),
        Approve(action="approve", approval_id=pending.approval.id),
        request_id="r2",
    )
    # Then it is refused, audited twice (the self-approval, the refusal), and launches nothing
    assert isinstance(outcome, Refused) and isinstance(outcome.error, Forbidden)
    assert "Nobody approves their own request" in outcome.error.message
    assert len(messages(caplog, "self-approval refused")) == 1
    assert [r["actor"] for r in messages(caplog, "request forbidden")] == ["UAPPROVER1"]
    assert world.compute.launches == []
    assert world.store.by_id[pending.approval.id].status == "pending"
