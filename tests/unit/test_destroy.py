"""destroy on fakes: terminated now, its schedules and launch slot released; a bastion
already ending answers ``already_terminated`` and is not terminated twice."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bastion_orchestrator.domain.actor import Principal
from bastion_orchestrator.errors import Forbidden, NotFound
from bastion_orchestrator.usecases.policy import Act
from tests.unit.fakes import T0, Slot
from tests.unit.world import World, bastion

pytestmark = pytest.mark.unit

IID = "i-00000000000000001"


def destroy(instance_id: str | None = IID, user_id: str = "U1", caller=None) -> Act:
    return Act("destroy", instance_id, user_id, caller or Principal(user_id))


@pytest.fixture
def world() -> World:
    # Given U1's bastion, launched at 12:00 with its schedules and slot, and the clock at 13:00
    w = World.of()
    w.add(bastion(1))
    w.schedules.put(IID, T0 + timedelta(hours=3), T0 + timedelta(hours=2.5), new=True)
    w.slots.held[("U1", 0)] = Slot("req-1", T0 + timedelta(hours=12), IID)
    w.slots.held[("U2", 0)] = Slot("req-9", T0 + timedelta(hours=12), "i-00000000000000009")
    w.clock.advance(hours=1)
    return w


@pytest.mark.parametrize("state", ["running", "pending", "stopped"])
def test_destroy_terminates_now_and_releases_schedules_and_slot(world, state, caplog):
    caplog.set_level(logging.INFO)
    world.add(bastion(1, state=state))
    # When U1 destroys their bastion
    destroyed = world.destroy()(destroy(), actor="U1")
    # Then it is ending now, with no time left
    assert not destroyed.already_terminated
    assert destroyed.facts.bastion.state == "shutting-down" and destroyed.facts.gone
    assert destroyed.facts.seconds_remaining == 0
    assert world.compute.terminate_calls == [[IID]]
    # And its schedules and its slot are gone (another user's slot is untouched)
    assert world.schedules.refs == {} and world.schedules.removed == [IID]
    assert list(world.slots.held) == [("U2", 0)]
    # And the audit line says who ended it, after an hour
    [line] = [r for r in caplog.records if r.getMessage() == "bastion destroyed"]
    assert (line.actor, line.instance_id, line.lived_seconds) == ("U1", IID, 3600)


@pytest.mark.parametrize("state", ["shutting-down", "terminated"])
def test_a_bastion_already_gone_is_not_terminated_again(world, state):
    # Given U1's bastion already ending
    world.add(bastion(1, state=state))
    # When U1 destroys it by id
    destroyed = world.destroy()(destroy(), actor="U1")
    # Then the answer says so; only its schedules are tidied
    assert destroyed.already_terminated and destroyed.facts.seconds_remaining == 0
    assert world.compute.terminate_calls == []
    assert world.schedules.removed == [IID]


def test_a_repeated_destroy_by_user_finds_the_bastion_it_just_ended(world):
    # Given U1 destroyed their bastion by user id
    world.destroy()(destroy(instance_id=None), actor="U1")
    # When the same destroy comes again
    again = world.destroy()(destroy(instance_id=None), actor="U1")
    # Then it answers "already terminated" instead of "no bastion", and terminates once
    assert again.already_terminated and again.facts.instance_id == IID
    assert world.compute.terminate_calls == [[IID]]


def test_destroying_someone_elses_bastion_is_forbidden_and_ends_nothing(world):
    with pytest.raises(Forbidden):
        world.destroy()(destroy(user_id="U2"), actor="U2")
    assert world.compute.terminate_calls == []
    assert world.compute.by_id[IID].state == "running"
    assert ("U1", 0) in world.slots.held


def test_an_admin_may_destroy_anyones(world):
    admin = Principal("UADMIN", admin=True)
    destroyed = world.destroy()(destroy(user_id="UADMIN", caller=admin), actor="UADMIN")
    assert not destroyed.already_terminated
    assert world.compute.terminate_calls == [[IID]]


def test_a_user_without_any_bastion_is_told_so(world):
    with pytest.raises(NotFound, match="User U2 has no active bastion"):
        world.destroy()(destroy(instance_id=None, user_id="U2"), actor="U2")
