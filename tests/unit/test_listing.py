"""list on fakes: the active bastions, one user's or everyone's, oldest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.fakes import T0
from tests.unit.world import World, bastion

pytestmark = pytest.mark.unit

H = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    # Given, added in no particular order: U2's from 11:00, U1's from 09:00 and 10:00,
    # U1's terminated one from 08:00; the clock at 12:00
    w = World.of()
    w.add(
        bastion(3, user="U2", created=T0 - H),
        bastion(1, created=T0 - 3 * H),
        bastion(2, created=T0 - 2 * H, state="stopped"),
        bastion(4, created=T0 - 4 * H, state="terminated"),
    )
    return w


def ids(listed) -> list[str]:
    return [f.instance_id[-1] for f in listed.bastions]


def test_everyone_s_active_bastions_oldest_first(world):
    assert ids(world.listing()(None)) == ["1", "2", "3"]


def test_one_users_only(world):
    assert ids(world.listing()("U1")) == ["1", "2"]


def test_each_shows_its_exact_time_left(world):
    # Each ends 3 h after its launch: at 12:00, U1's 09:00 one has none left
    remaining = [f.seconds_remaining for f in world.listing()(None).bastions]
    assert remaining == [0, 3600, 7200]
    assert [f.expires_at for f in world.listing()(None).bastions] == [T0, T0 + H, T0 + 2 * H]


def test_nobody_with_a_bastion_lists_nothing(world):
    assert world.listing()("U9").bastions == ()
