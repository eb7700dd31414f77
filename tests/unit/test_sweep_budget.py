"""The sweep's schedule clean-up: a bounded number of deletions per run, the rest next run,
and a full listing of the group only when one is due (cold start, or LISTING_INTERVAL)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.bastion import Bastion, Lifetime
from bastion_orchestrator.domain.ports import ScheduleRef
from bastion_orchestrator.usecases import reaper as reaper_module
from bastion_orchestrator.usecases.reaper import (
    DELETE_BUDGET,
    LISTING_INTERVAL,
    Reaper,
    SweepMemory,
    memory_of,
)
from tests.unit.fakes import FakeInstances, FakeNotifier, FakeSchedules

pytestmark = pytest.mark.unit

T0 = datetime(2025, 12, 18, 12, 0, tzinfo=UTC)
RULES = Lifetime.of_hours(3, 2, 12, 30)
OLD = T0 - timedelta(hours=1)  # created long before: past the grace for just-launched ones


@dataclass
class CountingSchedules(FakeSchedules):
    """Counts what the sweep asks: listings, and the DeleteSchedule calls they stand for."""

    listings: int = 0
    delete_calls: int = 0

    def ours(self):
        self.listings += 1
        yield from super().ours()

    def remove(self, instance_id: str) -> None:
        for kind in ("warning", "termination"):  # one call each, as SchedulerSchedules does
            self.delete(f"p-e-{instance_id}-{kind}")

    def delete(self, name: str) -> None:
        self.delete_calls += 1
        super().delete(name)

    def add(self, instance_id: str, created: datetime = OLD) -> None:
        for kind in ("warning", "termination"):
            name = f"p-e-{instance_id}-{kind}"
            self.refs[name] = ScheduleRef(name, instance_id, created)


def iid(n: int) -> str:
    return f"i-{n:017x}"


def bastion(n: int, expires: datetime) -> Bastion:
    return Bastion(
        iid(n),
        "running",
        "10.0.0.1",
        T0 - timedelta(hours=2),
        {"RequestedByUserId": f"U{n}", "CreatedAt": iso(OLD), "ExpiresAt": iso(expires)},
    )


@pytest.fixture
def world():
    now = [T0]
    instances, schedules = FakeInstances(), CountingSchedules()

    def reaper() -> Reaper:
        # what wiring does on every event: a new Reaper around the container's adapters
        return Reaper("dev", RULES, instances, schedules, FakeNotifier(), lambda: now[0])

    return reaper, instances, schedules, now


def test_a_backlog_is_deleted_a_budget_at_a_time_and_the_next_run_finishes_it(world, caplog):
    # Given 1,300 expired bastions with their two schedules each, and 200 live ones
    reaper, instances, schedules, _ = world
    for n in range(1500):
        live = n >= 1300
        instances.add(bastion(n, T0 + timedelta(hours=1) if live else T0 - timedelta(minutes=5)))
        schedules.add(iid(n))
    # When the sweep runs (a cold container: it lists too, if budget is left)
    with caplog.at_level(logging.WARNING):
        first = reaper().sweep()
    # Then it terminates them all but deletes no more than its budget of schedules
    assert first["terminated"] == 1300
    assert schedules.delete_calls == first["schedules_deleted"] == DELETE_BUDGET
    assert first["schedules_left"] == 2 * 1300 - DELETE_BUDGET
    assert first["schedules_listed"] is False  # the budget went to the known ones first
    assert any(r.message == "orphan schedules left for the next sweep" for r in caplog.records)
    # And each next run takes another budget's worth, by name, until none are left
    second = reaper().sweep()
    assert second["schedules_deleted"] == DELETE_BUDGET and second["schedules_left"] == 600
    third = reaper().sweep()
    assert third["schedules_deleted"] == 600 and third["schedules_left"] == 0
    assert third["schedules_listed"] is True  # the listing, deferred so far, found nothing more
    assert {r.instance_id for r in schedules.refs.values()} == {iid(n) for n in range(1300, 1500)}
    assert schedules.delete_calls == 2 * 1300


def test_orphans_a_listing_finds_beyond_the_budget_wait_for_the_next_run(world):
    # Given 700 bastions terminated by hand: 1,400 schedules without an instance
    reaper, _, schedules, _ = world
    for n in range(700):
        schedules.add(iid(n))
    # When the sweep runs
    first = reaper().sweep()
    # Then the listing finds them all, deletes a budget's worth and remembers the rest
    assert schedules.listings == 1
    assert first["schedules_deleted"] == DELETE_BUDGET and first["schedules_left"] == 400
    # And the next run deletes those by name, without listing again
    second = reaper().sweep()
    assert schedules.listings == 1
    assert second["schedules_deleted"] == 400 and second["schedules_left"] == 0
    assert schedules.refs == {}


def test_the_worst_case_is_the_budget(world):
    # Given far more of everything than one run may delete
    reaper, instances, schedules, _ = world
    for n in range(3000):
        instances.add(bastion(n, T0 - timedelta(minutes=5)))
        schedules.add(iid(n))
    for n in range(3000, 6000):
        schedules.add(iid(n))  # and orphans
    # Then a run makes at most DELETE_BUDGET delete calls, and every run makes progress
    total = 0
    for _ in range(12):
        before = schedules.delete_calls
        result = reaper().sweep()
        assert schedules.delete_calls - before == result["schedules_deleted"] <= DELETE_BUDGET
        total += result["schedules_deleted"]
        if not result["schedules_left"] and result["schedules_listed"]:
            break
    assert schedules.refs == {} and total == 12000


def test_a_warm_sweep_lists_only_when_the_interval_has_passed(world):
    reaper, instances, schedules, now = world
    instances.add(bastion(1, T0 + timedelta(hours=8)))
    schedules.add(iid(1))
    # A cold container lists once
    assert reaper().sweep()["schedules_listed"] is True
    # The warm ones after it do not, every 15 minutes, until LISTING_INTERVAL has passed
    for minutes in range(15, int(LISTING_INTERVAL.total_seconds() // 60), 15):
        now[0] = T0 + timedelta(minutes=minutes)
        assert reaper().sweep()["schedules_listed"] is False
    now[0] = T0 + LISTING_INTERVAL
    assert reaper().sweep()["schedules_listed"] is True
    assert schedules.listings == 2 and schedules.delete_calls == 0


def test_a_warm_sweep_deletes_what_it_terminates_by_name_without_listing(world):
    reaper, instances, schedules, now = world
    instances.add(bastion(1, T0 + timedelta(minutes=30)))
    instances.add(bastion(2, T0 + timedelta(hours=5)))
    schedules.add(iid(1))
    schedules.add(iid(2))
    reaper().sweep()  # cold: lists, nothing to do
    now[0] = T0 + timedelta(hours=1)
    result = reaper().sweep()
    assert result["terminated"] == 1 and result["schedules_deleted"] == 2
    assert schedules.listings == 1
    assert {r.instance_id for r in schedules.refs.values()} == {iid(2)}


def test_a_cold_container_lists_again(world):
    # The memory belongs to the container's schedules adapter: a new adapter starts cold.
    reaper, _, schedules, _ = world
    reaper().sweep()
    assert memory_of(schedules).listed_at == T0
    fresh = CountingSchedules(refs=dict(schedules.refs))
    assert memory_of(fresh).listed_at is None
    Reaper("dev", RULES, FakeInstances(), fresh, FakeNotifier(), lambda: T0).sweep()
    assert fresh.listings == 1


def test_a_bastion_ec2_refuses_to_terminate_keeps_its_schedules(world):
    from bastion_orchestrator.usecases.reaper import TerminationFailed

    reaper, instances, schedules, _ = world
    for n in (1, 2):
        instances.add(bastion(n, T0 - timedelta(minutes=5)))
        schedules.add(iid(n))
    instances.refuse = {iid(2)}
    with pytest.raises(TerminationFailed):
        reaper().sweep()
    assert {r.instance_id for r in schedules.refs.values()} == {iid(2)}


def test_a_failed_delete_leaves_the_rest_remembered(world, monkeypatch):
    # Given a sweep whose deletions fail half-way (a persistent throttle, say)
    _, instances, schedules, _ = world
    for n in range(10):
        instances.add(bastion(n, T0 - timedelta(minutes=5)))
        schedules.add(iid(n))
    memory = SweepMemory()
    real_remove = schedules.remove

    def sweep() -> None:
        notifier = FakeNotifier()
        Reaper("dev", RULES, instances, schedules, notifier, lambda: T0, memory=memory).sweep()

    def flaky(instance_id: str) -> None:
        if instance_id == iid(5):
            raise RuntimeError("ThrottlingException")
        real_remove(instance_id)

    monkeypatch.setattr(schedules, "remove", flaky)
    with pytest.raises(RuntimeError):
        sweep()
    # Then the next run (the bastions are gone now) still knows every one of them
    assert set(memory.gone) == {iid(n) for n in range(10)}
    monkeypatch.setattr(schedules, "remove", real_remove)
    sweep()
    assert schedules.refs == {}


def test_the_budget_is_a_module_setting(world, monkeypatch):
    monkeypatch.setattr(reaper_module, "DELETE_BUDGET", 4)
    reaper, _, schedules, _ = world
    for n in range(5):
        schedules.add(iid(n))
    assert reaper().sweep()["schedules_deleted"] == 4
    assert reaper().sweep()["schedules_deleted"] == 4
    assert reaper().sweep()["schedules_deleted"] == 2
    assert schedules.refs == {}
