"""The reaper's idempotency rules, with in-memory ports and an exact clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.bastion import Bastion, Lifetime
from bastion_orchestrator.domain.ports import ScheduleRef
from bastion_orchestrator.usecases.reaper import Reaper
from tests.unit.fakes import FakeInstances, FakeNotifier, FakeSchedules

pytestmark = pytest.mark.unit

T0 = datetime(2025, 12, 18, 12, 0, tzinfo=UTC)
RULES = Lifetime.of_hours(3, 2, 12, 30)


def make(n: int, *, state: str = "running", expires: datetime | None = None) -> Bastion:
    return Bastion(
        f"i-{n:017x}",
        state,
        "10.0.0.1",
        T0,
        {
            "RequestedByUserId": f"U{n}",
            "CreatedAt": iso(T0),
            "ExpiresAt": iso(expires or T0 + timedelta(hours=3)),
        },
    )


@pytest.fixture
def world():
    now = [T0]
    instances, schedules, notifier = FakeInstances(), FakeSchedules(), FakeNotifier()
    reaper = Reaper("dev", RULES, instances, schedules, notifier, lambda: now[0])
    return reaper, instances, schedules, notifier, now


def test_terminate_notifies_once_even_when_delivered_twice(world):
    reaper, instances, schedules, notifier, now = world
    instances.add(make(1))
    schedules.put(make(1).instance_id, T0, T0, new=True)
    now[0] = T0 + timedelta(hours=3)
    assert reaper.terminate(make(1).instance_id)["outcome"] == "terminated"
    assert reaper.terminate(make(1).instance_id)["outcome"] == "already_gone"
    assert [n.kind for n in notifier.sent] == ["terminated"]
    assert notifier.sent[0].cause == "expiry" and notifier.sent[0].lived_seconds == 3 * 3600
    assert schedules.refs == {}


def test_a_slack_outage_never_stops_a_termination(world):
    reaper, instances, _, notifier, now = world
    notifier.broken = True
    instances.add(make(1))
    now[0] = T0 + timedelta(hours=4)
    assert reaper.terminate(make(1).instance_id)["outcome"] == "terminated"
    assert instances.by_id[make(1).instance_id].state == "shutting-down"


def test_terminate_tolerates_a_scheduler_a_few_seconds_early(world):
    reaper, instances, _, _, now = world
    instances.add(make(1))
    now[0] = T0 + timedelta(hours=3) - timedelta(seconds=30)
    assert reaper.terminate(make(1).instance_id)["outcome"] == "terminated"


def test_warning_claims_the_expiry_before_telling(world):
    reaper, instances, _, notifier, now = world
    instances.add(make(1))
    now[0] = T0 + timedelta(hours=2, minutes=30)
    notifier.broken = True
    assert reaper.warn(make(1).instance_id)["outcome"] == "warned"
    notifier.broken = False
    # the retry Lambda makes after a failure does not spam the user later
    assert reaper.warn(make(1).instance_id)["outcome"] == "already_warned"
    assert notifier.sent == []


def test_sweep_terminates_in_batches_and_keeps_live_schedules(world):
    reaper, instances, schedules, notifier, now = world
    for n in range(1, 1201):
        expires = T0 + timedelta(hours=1 if n % 2 else 6)
        instances.add(make(n, expires=expires))
        schedules.put(make(n).instance_id, expires, expires, new=True)
    now[0] = T0 + timedelta(hours=2)
    result = reaper.sweep()
    assert result["checked"] == 1200 and result["terminated"] == 600
    assert [len(c) for c in instances.terminate_calls] == [500, 100]
    # the 600 terminated bastions' two each: 1,000 now (the per-run budget), 200 next run
    assert result["schedules_deleted"] == 1000 and result["schedules_left"] == 200
    assert len(notifier.sent) == 600 and {n.cause for n in notifier.sent} == {"sweep"}
    assert reaper.sweep()["schedules_deleted"] == 200
    assert len(schedules.refs) == 1200


def test_sweep_spares_a_young_schedule_whose_instance_ec2_does_not_show_yet(world):
    reaper, _, schedules, _, now = world
    now[0] = T0
    schedules.refs["young"] = ScheduleRef("young", "i-0123456789abcdef0", T0 - timedelta(minutes=1))
    schedules.refs["old"] = ScheduleRef("old", "i-0123456789abcdef1", T0 - timedelta(hours=1))
    assert reaper.sweep()["schedules_deleted"] == 1
    assert set(schedules.refs) == {"young"}


def test_one_refused_instance_never_shields_the_others(world):
    from bastion_orchestrator.usecases.reaper import TerminationFailed

    reaper, instances, _, notifier, now = world
    for n in range(1, 6):
        instances.add(make(n, expires=T0 + timedelta(hours=1)))
    instances.refuse = {make(3).instance_id}  # re-tagged by someone: EC2 says no
    now[0] = T0 + timedelta(hours=2)
    with pytest.raises(TerminationFailed) as failure:
        reaper.sweep()
    assert make(3).instance_id in str(failure.value)
    states = {iid: b.state for iid, b in instances.by_id.items()}
    assert [states[make(n).instance_id] for n in (1, 2, 4, 5)] == ["shutting-down"] * 4
    assert states[make(3).instance_id] == "running"
    assert len(notifier.sent) == 4


# ------------------------------------------------------------------ the host's last resorts
def test_a_bastion_stripped_of_its_tags_still_dies_at_its_cap(world):
    reaper, instances, _, _, now = world
    # Given two bastions whose tags were stripped (the tag filters no longer find them)
    old, young = make(1), make(2)
    young = Bastion(young.instance_id, "running", None, T0 + timedelta(hours=11), {})
    instances.add(Bastion(old.instance_id, "running", None, T0, {}))
    instances.add(young)
    instances.stripped |= {old.instance_id, young.instance_id}
    # When the sweep runs 12 h 1 min after the first launched
    now[0] = T0 + timedelta(hours=12, minutes=1)
    result = reaper.sweep()
    # Then the one past its cap (LaunchTime + MAX_LIFETIME_HOURS) is terminated, the other
    # (launched an hour ago) lives on: no tag can move LaunchTime
    assert result["terminated"] == 1
    assert instances.get(old.instance_id).state == "shutting-down"
    assert instances.get(young.instance_id).state == "running"


class FakeSnapshots:
    def __init__(self, *, broken: bool = False) -> None:
        self.taken: list[tuple[str, str]] = []
        self.started: dict[str, datetime] = {}
        self.broken = broken

    def take(self, evidence, cause, now):
        if self.broken:
            raise RuntimeError("SnapshotLimitExceeded")
        sid = f"snap-{len(self.taken):017x}"
        self.taken.append((evidence.instance_id, cause))
        self.started[sid] = now
        return sid

    def older_than(self, moment):
        return iter([s for s, at in self.started.items() if at < moment])

    def delete(self, snapshot_id):
        del self.started[snapshot_id]


def with_snapshots(reaper: Reaper, snapshots: FakeSnapshots) -> Reaper:
    from dataclasses import replace

    from bastion_orchestrator.usecases.forensics import Forensics

    return replace(reaper, forensics=Forensics(snapshots, timedelta(days=30)))


def volume(n: int, **kw) -> Bastion:
    from dataclasses import replace

    return replace(make(n, **kw), root_volume_id=f"vol-{n:017x}")


@pytest.mark.parametrize("path", ["terminate", "sweep"])
def test_every_termination_path_snapshots_first_and_a_failure_never_stops_it(world, path):
    reaper, instances, _, _, now = world
    for broken in (False, True):
        snapshots = FakeSnapshots(broken=broken)
        reaping = with_snapshots(reaper, snapshots)
        bastion = volume(10 + int(broken))
        instances.add(bastion)
        now[0] = T0 + timedelta(hours=3, minutes=5)
        if path == "terminate":
            reaping.terminate(bastion.instance_id)
        else:
            reaping.sweep()
        assert instances.get(bastion.instance_id).state == "shutting-down"
        cause = "expiry" if path == "terminate" else "sweep"
        assert snapshots.taken == ([] if broken else [(bastion.instance_id, cause)])


def test_the_sweep_deletes_snapshots_past_their_retention(world):
    reaper, _, _, _, now = world
    snapshots = FakeSnapshots()
    snapshots.started = {"snap-old": T0 - timedelta(days=31), "snap-new": T0 - timedelta(days=2)}
    now[0] = T0
    result = with_snapshots(reaper, snapshots).sweep()
    assert result["snapshots_deleted"] == 1 and list(snapshots.started) == ["snap-new"]
