"""status on fakes: the bastion, its SSM agent, and which bastion a request is about
(``Targets``: by id with the owner-or-admin check, or a user's only one)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bastion_orchestrator.domain.actor import Principal
from bastion_orchestrator.domain.ports import Agent
from bastion_orchestrator.errors import Forbidden, InvalidRequest, NotFound
from bastion_orchestrator.usecases.policy import Act
from tests.unit.fakes import T0
from tests.unit.world import World, bastion

pytestmark = pytest.mark.unit

IID = "i-00000000000000001"
JANE = Principal("U1")


def status(instance_id: str | None = IID, user_id: str | None = "U1", caller=JANE) -> Act:
    return Act("status", instance_id, user_id, caller)


@pytest.fixture
def world() -> World:
    w = World.of()
    w.add(bastion(1))  # U1's, launched at 12:00, ending at 15:00
    w.clock.advance(hours=1)
    return w


def test_an_online_agent_is_ready_and_says_how_long_it_took(world):
    # Given the agent registered 42 s after launch
    world.sessions.agents[IID] = Agent("Online", registered_at=T0 + timedelta(seconds=42))
    # When U1 asks at 13:00
    inspected = world.status()(status())
    # Then it is ready, took 42 s, and has 7,200 s to go
    assert (inspected.ssm_status, inspected.ready, inspected.seconds_to_ready) == (
        "Online",
        True,
        42,
    )
    assert inspected.facts.expires_at == T0 + timedelta(hours=3)
    assert inspected.facts.seconds_remaining == 7_200


@pytest.mark.parametrize("agent_status", ["ConnectionLost", "Inactive", "NotRegistered"])
def test_an_agent_that_is_not_online_is_not_ready(world, agent_status):
    world.sessions.agents[IID] = Agent(agent_status, registered_at=T0)
    inspected = world.status()(status())
    assert (inspected.ssm_status, inspected.ready, inspected.seconds_to_ready) == (
        agent_status,
        False,
        None,
    )


def test_an_online_agent_without_a_registration_time_gives_no_duration(world):
    world.sessions.agents[IID] = Agent("Online")
    inspected = world.status()(status())
    assert inspected.ready and inspected.seconds_to_ready is None


def test_an_agent_registered_before_launch_took_zero_seconds_not_negative(world):
    # A re-registered agent, or clocks a little apart: never a negative duration
    world.sessions.agents[IID] = Agent("Online", registered_at=T0 - timedelta(seconds=5))
    assert world.status()(status()).seconds_to_ready == 0


@pytest.mark.parametrize("state", ["pending", "stopped", "shutting-down", "terminated"])
def test_a_bastion_not_running_is_not_registered_and_ssm_is_not_asked(state):
    world = World.of()
    world.add(bastion(1, state=state))
    inspected = world.status()(status())
    assert (inspected.ssm_status, inspected.ready) == ("NotRegistered", False)
    assert world.sessions.asked == []


@pytest.mark.parametrize(("state", "remaining"), [("running", 10_800), ("terminated", 0)])
def test_a_bastion_no_longer_active_has_no_time_left(state, remaining):
    world = World.of()
    world.add(bastion(1, state=state))
    assert world.status()(status()).facts.seconds_remaining == remaining


def test_an_expired_bastion_shows_zero_seconds_not_a_negative_count(world):
    world.clock.advance(hours=5)
    assert world.status()(status()).facts.seconds_remaining == 0


# ----------------------------------------------------------------- which bastion, whose
def test_someone_elses_bastion_by_id_is_forbidden(world):
    # Given U1's bastion; When U2 (not an admin) asks about it by id
    with pytest.raises(Forbidden) as refused:
        world.status()(status(user_id="U2", caller=Principal("U2")))
    # Then it is refused, with what to do
    assert refused.value.message.startswith(f"U2 did not request bastion {IID}")
    assert refused.value.details == {"instance_id": IID}
    assert world.sessions.asked == []


@pytest.mark.parametrize(
    "caller", [Principal("UADMIN", admin=True), Principal(None)], ids=["admin", "operator"]
)
def test_an_admin_or_the_operator_may_look_at_anyones(world, caller):
    assert world.status()(status(user_id=caller.id, caller=caller)).facts.instance_id == IID


def test_an_unknown_id_is_not_found_in_this_deployment(world):
    with pytest.raises(NotFound) as refused:
        world.status()(status(instance_id="i-0123456789abcdef0"))
    assert refused.value.message.startswith("No bastion i-0123456789abcdef0 in bastion/dev.")


def test_by_user_their_only_bastion_is_found(world):
    assert world.status()(status(instance_id=None)).facts.instance_id == IID


def test_by_user_without_one_is_not_found(world):
    with pytest.raises(NotFound, match="User U2 has no active bastion in bastion/dev"):
        world.status()(status(instance_id=None, user_id="U2", caller=Principal("U2")))


def test_by_user_with_two_asks_which_oldest_first(world):
    world.add(bastion(2, created=T0 - timedelta(minutes=5)))
    with pytest.raises(InvalidRequest) as refused:
        world.status()(status(instance_id=None))
    assert refused.value.details == {"instance_ids": ["i-00000000000000002", "i-00000000000000001"]}


def test_naming_neither_instance_nor_user_is_invalid(world):
    with pytest.raises(InvalidRequest, match="Name the bastion"):
        world.status()(status(instance_id=None, user_id=None, caller=Principal(None)))
