"""extend on fakes: exact new expiries, the cap, and what was granted in a protected
environment (APPROVAL_REQUIRED): within it, an approver's own, past it (``BeyondGrant``), a
break-glass, and an approved extension that runs once.

The world: EXTEND_HOURS=2, MAX_LIFETIME_HOURS=12, WARNING_MINUTES=30, BREAK_GLASS_HOURS=1; U1's
bastion launched at 12:00 (``T0``) ending at 15:00; the clock at 14:00 unless told.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.actor import Principal
from bastion_orchestrator.domain.bastion import Tag
from bastion_orchestrator.domain.results import AlreadyExtended, BreakGlass, Extended
from bastion_orchestrator.errors import InvalidRequest, LimitExceeded, NotFound
from bastion_orchestrator.usecases.extend import BeyondGrant
from bastion_orchestrator.usecases.policy import Act
from tests.unit.fakes import T0, Put
from tests.unit.world import World, bastion

pytestmark = pytest.mark.unit

IID = "i-00000000000000001"
H = timedelta(hours=1)
CAP = T0 + 12 * H  # 2025-12-19 00:00 UTC


def act(*, grants: bool = False, break_glass: str | None = None) -> Act:
    return Act("extend", IID, "U1", Principal("U1"), grants=grants, break_glass_reason=break_glass)


def given(world: World, tags: dict[str, str] | None = None) -> World:
    world.add(bastion(1, tags=tags))
    world.clock.now = T0 + 2 * H
    return world


@pytest.fixture
def world() -> World:
    return given(World.of())


@pytest.fixture
def protected() -> World:
    """Launched with an approval: granted until 15:00."""
    return given(World.protected(), tags={Tag.GRANTED_UNTIL: iso(T0 + 3 * H)})


def tagged(world: World) -> list[dict[str, str]]:
    return [tags for _, tags in world.compute.tag_calls]


# ----------------------------------------------------------------- anywhere
def test_an_extend_adds_two_hours_and_moves_both_schedules(world):
    # When U1 extends at 14:00
    result = world.extend()(act(), actor="U1", request_id="req-1")
    # Then it ends at 17:00 instead of 15:00, is warned at 16:30, with 3 h to go
    assert isinstance(result, Extended)
    assert (result.previous_expires_at, result.facts.expires_at) == (T0 + 3 * H, T0 + 5 * H)
    assert result.facts.seconds_remaining == 3 * 3600
    assert not result.capped and result.message is None
    assert world.schedules.puts == [Put(IID, T0 + 5 * H, T0 + 4.5 * H, new=False)]
    # And the request is recorded with the bastion, so a redelivery finds it
    assert tagged(world) == [{Tag.EXPIRES_AT: iso(T0 + 5 * H), Tag.EXTENDED_BY_REQUEST: "req-1"}]


def test_an_early_extend_adds_to_the_expiry_not_to_now(world):
    world.clock.now = T0 + timedelta(minutes=1)
    result = world.extend()(act(), actor="U1", request_id="req-1")
    assert result.facts.expires_at == T0 + 5 * H


def test_an_extend_near_the_cap_stops_at_it_and_says_it_was_the_last():
    # Given a bastion ending at 23:00, an hour before its cap
    world = World.of()
    world.add(bastion(1, expires=T0 + 11 * H))
    world.clock.now = T0 + 10 * H
    # When it is extended by two hours
    result = world.extend()(act(), actor="U1", request_id="req-1")
    # Then it ends at the cap, midnight, and the answer says so
    assert isinstance(result, Extended) and result.capped
    assert result.facts.expires_at == CAP
    assert result.message == (
        "Extended only to 2025-12-19T00:00:00+00:00: bastions live at most 12 h after "
        "creation, so this is the last extension. Create a new bastion after it expires."
    )


def test_a_bastion_at_its_cap_is_refused_and_nothing_changes():
    world = World.of()
    world.add(bastion(1, expires=CAP))
    world.clock.now = T0 + 11 * H
    with pytest.raises(LimitExceeded) as refused:
        world.extend()(act(), actor="U1", request_id="req-1")
    assert "already runs until its maximum lifetime (2025-12-19T00:00:00+00:00, 12 h" in (
        refused.value.message
    )
    assert world.compute.tag_calls == [] and world.schedules.puts == []


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), H])
def test_an_expired_bastion_is_refused_not_revived(world, late):
    # Given the bastion's 15:00 expiry has come
    world.clock.now = T0 + 3 * H + late
    # When U1 extends it
    with pytest.raises(LimitExceeded) as refused:
        world.extend()(act(), actor="U1", request_id="req-1")
    # Then it is refused (its termination is under way) and nothing is tagged or scheduled
    assert refused.value.message.startswith(
        f"Bastion {IID} expired at 2025-12-18T15:00:00+00:00 and is being terminated"
    )
    assert world.compute.tag_calls == [] and world.schedules.puts == []


@pytest.mark.parametrize("state", ["shutting-down", "terminated"])
def test_a_bastion_that_is_ending_cannot_be_extended(state):
    world = World.of()
    world.add(bastion(1, state=state))
    with pytest.raises(NotFound, match=f"is {state}; it cannot be extended"):
        world.extend()(act(), actor="U1", request_id="req-1")


def test_a_redelivered_extend_answers_already_extended_and_tags_nothing(world):
    # Given U1's extend went through once
    extend = world.extend()
    extend(act(), actor="U1", request_id="req-1")
    # When the same request is delivered again (Lambda's async retry), an hour later
    world.clock.advance(hours=1)
    again = extend(act(), actor="U1", request_id="req-1")
    # Then it is done once: 17:00 still, one tag write, one schedule move
    assert isinstance(again, AlreadyExtended)
    assert again.message == "This request already extended it; nothing more was done."
    assert again.facts.expires_at == T0 + 5 * H
    assert len(world.compute.tag_calls) == 1 and len(world.schedules.puts) == 1


def test_a_new_request_extends_again(world):
    extend = world.extend()
    extend(act(), actor="U1", request_id="req-1")
    result = extend(act(), actor="U1", request_id="req-2")
    assert result.facts.expires_at == T0 + 7 * H


def test_break_glass_is_refused_where_no_approval_applies(world):
    with pytest.raises(InvalidRequest) as refused:
        world.extend()(act(break_glass="INC-1"), actor="U1", request_id="req-1")
    assert refused.value.details["errors"] == [
        {"field": "break_glass", "problem": "only where approvals apply"}
    ]
    assert world.compute.tag_calls == []


def test_without_approvals_no_grant_is_recorded(world):
    world.extend()(act(), actor="U1", request_id="req-1")
    assert Tag.GRANTED_UNTIL not in world.compute.by_id[IID].tags


# ----------------------------------------------------------------- protected: the grant
def test_past_the_grant_an_extend_becomes_a_request_and_changes_nothing(protected):
    # Given U1's bastion granted until 15:00
    # When U1 extends it (to 17:00, past the grant)
    with pytest.raises(BeyondGrant) as beyond:
        protected.extend()(act(), actor="U1", request_id="req-1")
    # Then the approvers are to be asked for exactly that: 17:00, two more hours
    assert beyond.value.bastion.instance_id == IID
    assert (beyond.value.until, beyond.value.by) == (T0 + 5 * H, 2 * H)
    assert protected.compute.tag_calls == [] and protected.schedules.puts == []


def test_a_bastion_from_before_grants_were_recorded_was_granted_its_expiry():
    # Given a protected bastion without GrantedUntil
    world = given(World.protected())
    # Then its current expiry is all it was granted
    with pytest.raises(BeyondGrant):
        world.extend()(act(), actor="U1", request_id="req-1")


@pytest.mark.parametrize("granted", [5, 6], ids=["exactly-the-grant", "within-the-grant"])
def test_within_the_grant_it_extends_and_never_lowers_the_grant(granted):
    # Given a bastion granted until 17:00 or 18:00
    world = given(World.protected(), tags={Tag.GRANTED_UNTIL: iso(T0 + granted * H)})
    # When U1 extends it to 17:00
    result = world.extend()(act(), actor="U1", request_id="req-1")
    # Then it is extended at once, and what was granted stays what it was
    assert result.facts.expires_at == T0 + 5 * H
    assert tagged(world) == [
        {
            Tag.EXPIRES_AT: iso(T0 + 5 * H),
            Tag.EXTENDED_BY_REQUEST: "req-1",
            Tag.GRANTED_UNTIL: iso(T0 + granted * H),
        }
    ]


def test_an_approvers_extend_is_its_own_grant(protected):
    # When an approver extends past the grant
    result = protected.extend()(act(grants=True), actor="UAPPROVER1", request_id="req-1")
    # Then it is extended, and the grant moves with it
    assert isinstance(result, Extended) and result.facts.expires_at == T0 + 5 * H
    assert protected.compute.by_id[IID].tags[Tag.GRANTED_UNTIL] == iso(T0 + 5 * H)


def test_an_approver_may_not_extend_a_break_glass_bastion_past_its_grant():
    world = given(World.protected(), tags={Tag.GRANTED_UNTIL: iso(T0 + H), Tag.BREAK_GLASS: "true"})
    world.clock.now = T0 + timedelta(minutes=30)
    with pytest.raises(BeyondGrant) as beyond:
        world.extend()(act(grants=True), actor="UAPPROVER1", request_id="req-1")
    assert beyond.value.until == T0 + 5 * H


def test_a_break_glass_extends_by_one_hour_at_once_and_records_it(protected):
    # When U1 breaks the glass at 14:00, with a reason
    result = protected.extend()(act(break_glass="INC-4711"), actor="U1", request_id="req-1")
    # Then it ends at 16:00 (BREAK_GLASS_HOURS past 15:00), granted and marked so
    assert isinstance(result, Extended)
    assert result.facts.expires_at == T0 + 4 * H
    assert result.break_glass == BreakGlass(1, "INC-4711")
    assert tagged(protected) == [
        {
            Tag.EXPIRES_AT: iso(T0 + 4 * H),
            Tag.EXTENDED_BY_REQUEST: "req-1",
            Tag.GRANTED_UNTIL: iso(T0 + 4 * H),
            Tag.BREAK_GLASS: "true",
        }
    ]
    assert protected.schedules.puts == [Put(IID, T0 + 4 * H, T0 + 3.5 * H, new=False)]


def test_a_break_glass_never_passes_the_cap():
    # Given a protected bastion ending at 23:30, half an hour before its cap
    world = World.protected()
    world.add(bastion(1, expires=T0 + 11.5 * H, tags={Tag.GRANTED_UNTIL: iso(T0 + 11.5 * H)}))
    world.clock.now = T0 + 11 * H
    # When the glass is broken for an hour more
    result = world.extend()(act(break_glass="INC-1"), actor="U1", request_id="req-1")
    # Then it ends at midnight, and says it was capped
    assert isinstance(result, Extended) and result.capped
    assert result.facts.expires_at == CAP


# ----------------------------------------------------------------- an approved extension
def test_an_approval_extends_to_what_the_approvers_saw(protected):
    # Given a request to extend to 17:00, approved twenty minutes after it was made
    protected.clock.advance(minutes=20)
    # When the approved extension runs
    result = protected.extend().approved(
        IID, T0 + 5 * H, approved_by="UAPPROVER1", request_id="apr-1"
    )
    # Then it ends at 17:00 (not two hours after the approval), granted by the approver
    assert isinstance(result, Extended) and result.facts.expires_at == T0 + 5 * H
    assert tagged(protected) == [
        {
            Tag.EXPIRES_AT: iso(T0 + 5 * H),
            Tag.EXTENDED_BY_REQUEST: "apr-1",
            Tag.GRANTED_UNTIL: iso(T0 + 5 * H),
            Tag.EXTENSION_APPROVED_BY: "UAPPROVER1",
        }
    ]
    assert protected.schedules.puts == [Put(IID, T0 + 5 * H, T0 + 4.5 * H, new=False)]


def test_an_approval_pressed_twice_extends_once(protected):
    extend = protected.extend()
    extend.approved(IID, T0 + 5 * H, approved_by="UAPPROVER1", request_id="apr-1")
    again = extend.approved(IID, T0 + 5 * H, approved_by="UAPPROVER2", request_id="apr-1")
    assert isinstance(again, AlreadyExtended)
    assert len(protected.compute.tag_calls) == 1
    assert protected.compute.by_id[IID].tags[Tag.EXTENSION_APPROVED_BY] == "UAPPROVER1"


def test_an_approval_never_shortens_a_bastion_extended_meanwhile(protected):
    # Given a break-glass moved the expiry to 16:00 while the 15:30 request waited
    protected.extend()(act(break_glass="INC-1"), actor="U1", request_id="req-1")
    # When the approval for 15:30 arrives
    result = protected.extend().approved(
        IID, T0 + 3.5 * H, approved_by="UAPPROVER1", request_id="apr-1"
    )
    # Then nothing changes
    assert isinstance(result, AlreadyExtended)
    assert result.message == (
        "It already runs until 2025-12-18T16:00:00+00:00, past the 2025-12-18T15:30:00+00:00 "
        "this request asked for; nothing was changed."
    )
    assert len(protected.compute.tag_calls) == 1


def test_an_approval_past_the_cap_stops_at_it(protected):
    result = protected.extend().approved(
        IID, T0 + 13 * H, approved_by="UAPPROVER1", request_id="apr-1"
    )
    assert isinstance(result, Extended) and result.capped and result.facts.expires_at == CAP


def test_an_approval_for_a_bastion_that_expired_meanwhile_is_refused(protected):
    protected.clock.now = T0 + 3 * H
    with pytest.raises(LimitExceeded, match="is being terminated"):
        protected.extend().approved(IID, T0 + 5 * H, approved_by="UAPPROVER1", request_id="a")
    assert protected.compute.tag_calls == []


@pytest.mark.parametrize("gone", ["absent", "terminated"])
def test_an_approval_for_a_bastion_that_is_gone_lapses(protected, gone):
    if gone == "absent":
        protected.compute.by_id.clear()
    else:
        protected.compute.add(bastion(1, state="terminated"))
    with pytest.raises(NotFound):
        protected.extend().approved(IID, T0 + 5 * H, approved_by="UAPPROVER1", request_id="a")
