"""create on fakes: what is ordered, when it ends, and what is left behind when a step fails.

The world: BASTION_LIFETIME_HOURS=3, MAX_LIFETIME_HOURS=12, WARNING_MINUTES=30, the clock at
2025-12-18 12:00 UTC (``T0``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.compute import Forward, Grant, Order, Placement, client_token
from bastion_orchestrator.errors import (
    CapacityUnavailable,
    ConfigurationError,
    InternalError,
    InvalidRequest,
    LimitExceeded,
)
from bastion_orchestrator.usecases.create import IN_FLIGHT_POLL, PENDING_LEASE
from models import Create
from tests.unit.fakes import T0, Put, Slot
from tests.unit.world import World, bastion

pytestmark = pytest.mark.unit

JANE = Owner("U1", "jane")
NEW = "i-0000000000000b001"  # the id FakeCompute gives its first launch
H = timedelta(hours=1)


def ask(**fields: Any) -> Create:
    return Create(action="create", user_id="U1", username="jane", **fields)


def token(request_id: str = "req-1") -> str:
    return client_token("bastion", "dev", "U1", request_id)


@pytest.fixture
def world() -> World:
    return World.of()


# ----------------------------------------------------------------- the order
def test_a_create_orders_a_bastion_for_three_hours_capped_at_twelve(world):
    # When U1 asks for a bastion with nothing but their name
    created = world.create()(ask(), JANE, request_id="req-1")
    # Then one bastion is ordered for them: ends at 15:00, never after 00:00 tomorrow
    assert world.compute.launches == [
        Order(
            owner=JANE,
            created_at=T0,
            expires_at=T0 + 3 * H,
            cap=T0 + 12 * H,
            profile="minimal",
            token=token(),
            placement=Placement(None),
            forward=Forward(None, 5432),
            reason=None,
            grant=Grant(),
        )
    ]
    # And it is warned at 14:30 and terminated at 15:00
    assert world.schedules.puts == [Put(NEW, T0 + 3 * H, T0 + 2.5 * H, new=True)]
    # And its slot is held for its whole possible life
    assert world.slots.held == {("U1", 0): Slot(token(), T0 + 12 * H, NEW)}
    # And the answer is the new bastion, 10,800 s to go
    assert not created.existing
    assert created.facts.instance_id == NEW
    assert created.facts.expires_at == T0 + 3 * H
    assert created.facts.seconds_remaining == 10_800


def test_the_order_carries_what_was_asked_for():
    # Given a deployment offering two boot profiles
    world = World.of(BOOT_PROFILES="minimal,db-clients")
    # When the request names a subnet, a database, a reason, 1.5 hours and a profile
    world.create()(
        ask(
            subnet_id="subnet-0123456789abcdef0",
            rds_endpoint="db.internal.example.com",
            rds_port=3306,
            reason="INC-4711 slow queries",
            hours=1.5,
            profile="db-clients",
        ),
        Owner("U1", "jane", display_name="Jane D", email="jane@example.com"),
        request_id="req-1",
    )
    # Then the order says so; the cap is still 12 h after creation
    [order] = world.compute.launches
    assert order.placement == Placement("subnet-0123456789abcdef0")
    assert order.forward == Forward("db.internal.example.com", 3306)
    assert order.reason == "INC-4711 slow queries"
    assert order.profile == "db-clients"
    assert order.owner.email == "jane@example.com"
    assert (order.expires_at, order.cap) == (T0 + 1.5 * H, T0 + 12 * H)
    assert world.schedules.puts == [Put(NEW, T0 + 1.5 * H, T0 + 1 * H, new=True)]


def test_the_deployments_database_is_forwarded_when_the_request_names_none():
    world = World.of(RDS_ENDPOINT="db.example.com", RDS_PORT="6543")
    world.create()(ask(), JANE, request_id="req-1")
    assert world.compute.launches[0].forward == Forward("db.example.com", 6543)


@pytest.mark.parametrize(("hours", "warn_after"), [(0.5, 1), (0.25, 1), (1, 30)])
def test_a_short_bastion_is_warned_a_minute_after_launch_never_in_the_past(hours, warn_after):
    # Given WARNING_MINUTES=30 and a bastion asked for 30 minutes or less
    world = World.of()
    world.create()(ask(hours=hours), JANE, request_id="req-1")
    # Then its warning fires one minute after launch (not 30 minutes before it)
    [put] = world.schedules.puts
    assert put.expires_at == T0 + hours * H
    assert put.warn_at == T0 + timedelta(minutes=warn_after)


def test_the_full_maximum_may_be_asked_for_at_once(world):
    created = world.create()(ask(hours=12), JANE, request_id="req-1")
    assert created.facts.expires_at == T0 + 12 * H == world.compute.launches[0].cap


@pytest.mark.parametrize(
    ("approved_by", "break_glass"),
    [(None, False), ("UAPPROVER1", False), (None, True)],
    ids=["approver-own", "approved", "break-glass"],
)
def test_in_a_protected_environment_the_order_records_the_grant(approved_by, break_glass):
    # Given APPROVAL_REQUIRED
    world = World.protected()
    # When a bastion is launched (approved, broken glass, or an approver's own)
    world.create()(
        ask(hours=1), JANE, request_id="req-1", approved_by=approved_by, break_glass=break_glass
    )
    # Then what was granted (until 13:00) binds its later extends
    [order] = world.compute.launches
    assert order.grant == Grant(approved_by=approved_by, break_glass=break_glass, until=T0 + H)


def test_without_approvals_no_grant_is_recorded(world):
    world.create()(ask(), JANE, request_id="req-1", approved_by="UAPPROVER1")
    assert world.compute.launches[0].grant == Grant(approved_by="UAPPROVER1", until=None)


def test_the_backends_notes_reach_the_answer(world):
    world.compute.notes = ("subnet_id subnet-1 was refused by EC2; launched elsewhere.",)
    created = world.create()(ask(), JANE, request_id="req-1")
    assert created.notes == world.compute.notes


def test_a_retried_request_orders_the_same_token_a_new_one_another(world):
    # Given a launch that failed for lack of capacity
    world.compute.launch_error = CapacityUnavailable("no t4g.nano capacity")
    with pytest.raises(CapacityUnavailable):
        world.create()(ask(), JANE, request_id="req-1")
    # When the same request is retried, and later a new one is made
    world.compute.launch_error = None
    world.create()(ask(), JANE, request_id="req-1")
    world.compute.by_id.clear()
    world.slots.held.clear()
    world.create()(ask(), JANE, request_id="req-2")
    # Then the retry carries the same client token (the backend launches it once)
    tokens = [o.token for o in world.compute.launches]
    assert tokens == [token("req-1"), token("req-1"), token("req-2")]


# ----------------------------------------------------------------- refusals
@pytest.mark.parametrize("hours", [12.5, 13, 720])
def test_hours_over_the_cap_are_refused_with_nothing_launched(world, hours):
    # Given MAX_LIFETIME_HOURS=12
    # When U1 asks for more
    with pytest.raises(InvalidRequest) as refused:
        world.create()(ask(hours=hours), JANE, request_id="req-1")
    # Then it is refused with the limit, and nothing was launched, claimed or scheduled
    assert refused.value.message.startswith(
        f"hours {hours:g} is more than this deployment's maximum lifetime (12 h)"
    )
    assert refused.value.details["errors"] == [
        {"field": "hours", "problem": "at most MAX_LIFETIME_HOURS (12)"}
    ]
    assert world.compute.launches == []
    assert world.slots.held == {}
    assert world.schedules.puts == []


@pytest.mark.parametrize("profile", ["db-clients", "gpu"])
def test_a_profile_the_deployment_does_not_offer_is_refused(world, profile):
    # Given BOOT_PROFILES=minimal
    with pytest.raises(InvalidRequest) as refused:
        world.create()(ask(profile=profile), JANE, request_id="req-1")
    assert f"profile {profile!r} is not offered here; use one of minimal" in refused.value.message
    assert world.compute.launches == []


# ----------------------------------------------------------------- reuse
def test_a_live_bastion_is_answered_instead_of_a_second_one(world):
    # Given U1's bastion, launched an hour ago, ending at 14:00
    world.add(bastion(1, created=T0 - H, expires=T0 + 2 * H))
    # When U1 creates again
    created = world.create()(ask(), JANE, request_id="req-2")
    # Then they get that one back, with 7,200 s to go; nothing is launched or claimed
    assert created.existing
    assert created.facts.instance_id == "i-00000000000000001"
    assert created.facts.seconds_remaining == 7_200
    assert world.compute.launches == []
    assert world.slots.held == {}
    assert world.schedules.puts == []


def test_an_expired_bastion_awaiting_termination_is_never_reused(world):
    # Given U1's bastion that expired a minute ago (the reaper has not got to it yet)
    world.add(bastion(1, created=T0 - 3 * H, expires=T0 - timedelta(minutes=1)))
    # When U1 creates
    created = world.create()(ask(), JANE, request_id="req-2")
    # Then a new one is launched
    assert not created.existing and created.facts.instance_id == NEW


def test_another_users_bastion_is_not_reused(world):
    world.add(bastion(1, user="U2"))
    assert not world.create()(ask(), JANE, request_id="req-1").existing


def test_with_two_allowed_a_second_is_launched_and_a_third_reuses_the_newest():
    # Given MAX_BASTIONS_PER_USER=2 and one live bastion
    world = World.of(MAX_BASTIONS_PER_USER="2")
    world.add(bastion(1, created=T0 - 2 * H))
    # When U1 creates twice
    second = world.create()(ask(), JANE, request_id="req-2")
    third = world.create()(ask(), JANE, request_id="req-3")
    # Then the second is launched; the third answers the newest of the two
    assert not second.existing and second.facts.instance_id == NEW
    assert third.existing and third.facts.instance_id == NEW
    assert len(world.compute.launches) == 1


# ----------------------------------------------------------------- concurrent creates
def test_a_concurrent_create_answers_the_bastion_the_other_request_launched(world):
    # Given another request of U1 holds the slot and launched i-7, which EC2 does not yet
    # list by tag (its reads are eventually consistent)
    other = world.add(bastion(7))
    world.compute.unlisted.add(other.instance_id)
    world.slots.held[("U1", 0)] = Slot("other-token", T0 + 12 * H, other.instance_id)
    # When U1's second request arrives
    created = world.create()(ask(), JANE, request_id="req-2")
    # Then it answers that bastion at once, and launches nothing
    assert created.existing and created.facts.instance_id == other.instance_id
    assert world.compute.launches == []
    assert world.sleeps == []


def test_a_create_still_in_flight_elsewhere_is_waited_for_briefly_then_refused(world):
    # Given another request of U1 holds the slot and has no instance yet
    world.slots.held[("U1", 0)] = Slot("other-token", T0 + PENDING_LEASE)
    # When U1's second request arrives
    with pytest.raises(LimitExceeded, match="already being launched for U1"):
        world.create()(ask(), JANE, request_id="req-2")
    # Then it polled 0.5 + 1 + 1.5 s for the other's instance, and launched nothing
    assert world.sleeps == list(IN_FLIGHT_POLL) == [0.5, 1.0, 1.5]
    assert world.compute.launches == []
    assert world.slots.held[("U1", 0)].token == "other-token"


@pytest.mark.parametrize(
    "left",
    [
        bastion(7, state="terminated"),
        bastion(7, expires=T0 - timedelta(seconds=1)),  # expired: being terminated
    ],
    ids=["terminated-by-hand", "expired"],
)
def test_a_slot_whose_bastion_is_gone_is_freed_and_claimed(world, left):
    # Given U1's slot still records a bastion that is gone (or expired), not listed by tag
    world.add(left)
    world.compute.unlisted.add(left.instance_id)
    world.slots.held[("U1", 0)] = Slot("old-token", T0 + 12 * H, left.instance_id)
    # When U1 creates
    created = world.create()(ask(), JANE, request_id="req-2")
    # Then the stale slot is freed, this request claims it (after one short wait) and launches
    assert not created.existing and created.facts.instance_id == NEW
    assert world.slots.held == {("U1", 0): Slot(token("req-2"), T0 + 12 * H, NEW)}
    assert world.sleeps == [0.5]


def test_a_failed_launch_frees_its_slot(world):
    world.compute.launch_error = CapacityUnavailable("no t4g.nano capacity")
    with pytest.raises(CapacityUnavailable):
        world.create()(ask(), JANE, request_id="req-1")
    assert world.slots.held == {}
    assert world.schedules.puts == []


# ----------------------------------------------------------------- no bastion without its end
def test_a_bastion_whose_schedules_fail_is_terminated_and_the_create_fails(world):
    # Given a scheduler that refuses
    world.schedules.broken = RuntimeError("AccessDenied on scheduler:CreateSchedule")
    # When U1 creates
    with pytest.raises(InternalError) as failed:
        world.create()(ask(), JANE, request_id="req-1")
    # Then the new bastion was terminated again, its schedules and slot removed
    assert failed.value.message.startswith(
        f"The bastion's termination could not be scheduled, so the new instance {NEW} "
        "was terminated again."
    )
    assert "SCHEDULER_ROLE_ARN" in failed.value.message
    assert failed.value.details == {"instance_id": NEW}
    assert world.compute.terminate_calls == [[NEW]]
    assert world.compute.by_id[NEW].state == "shutting-down"
    assert world.schedules.removed == [NEW]
    assert world.slots.held == {}


def test_a_configuration_error_while_scheduling_stays_one(world):
    world.schedules.broken = ConfigurationError(
        "SCHEDULE_GROUP bastion does not exist.", variables=["SCHEDULE_GROUP"]
    )
    with pytest.raises(ConfigurationError) as failed:
        world.create()(ask(), JANE, request_id="req-1")
    assert failed.value.message.endswith("terminated again. SCHEDULE_GROUP bastion does not exist.")
    assert failed.value.details == {"variables": ["SCHEDULE_GROUP"]}
    assert world.compute.by_id[NEW].state == "shutting-down"


def test_a_bastion_that_cannot_be_terminated_either_is_logged_as_an_orphan(world, caplog):
    # Given a scheduler that refuses, and EC2 refusing the clean-up termination too
    world.schedules.broken = RuntimeError("scheduler down")
    world.compute.refuse.add(NEW)
    # When U1 creates
    with pytest.raises(InternalError):
        world.create()(ask(), JANE, request_id="req-1")
    # Then the orphan is logged for the sweep, and the slot is still freed
    assert any(r.getMessage().startswith("ORPHAN:") for r in caplog.records)
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert world.schedules.removed == [NEW]
    assert world.slots.held == {}
