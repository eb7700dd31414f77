"""In-memory stand-ins for the ports, so the use cases run with an exact clock."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bastion_orchestrator.domain.bastion import ACTIVE_STATES, Bastion
from bastion_orchestrator.domain.ports import LaunchSpec, Notice, ScheduleRef
from bastion_orchestrator.errors import NotificationFailed


@dataclass
class FakeInstances:
    by_id: dict[str, Bastion] = field(default_factory=dict)
    terminate_calls: list[list[str]] = field(default_factory=list)

    def add(self, bastion: Bastion) -> None:
        self.by_id[bastion.instance_id] = bastion

    def get(self, instance_id: str) -> Bastion | None:
        return self.by_id.get(instance_id)

    def active(self, user_id: str | None = None, *, states=ACTIVE_STATES) -> Iterator[Bastion]:
        for b in list(self.by_id.values()):
            if b.instance_id in self.stripped:
                continue  # a tag filter no longer finds it
            if b.state in states and (user_id is None or b.user_id == user_id):
                yield b

    def by_profile(self) -> Iterator[Bastion]:
        """Every instance here carries the module's profile, ``stripped`` ones included."""
        yield from (b for b in list(self.by_id.values()) if b.state in ACTIVE_STATES)

    stripped: set[str] = field(default_factory=set)  # ids whose tags were removed

    def launch(self, spec: LaunchSpec) -> Bastion:
        raise NotImplementedError

    refuse: set[str] = field(default_factory=set)  # ids whose termination EC2 refuses

    def terminate(self, instance_ids: Sequence[str]) -> dict[str, str]:
        self.terminate_calls.append(list(instance_ids))
        if self.refuse & set(instance_ids):
            raise RuntimeError(f"UnauthorizedOperation for {sorted(self.refuse)}")
        previous = {}
        for iid in instance_ids:
            previous[iid] = self.by_id[iid].state
            self.by_id[iid] = replace(self.by_id[iid], state="shutting-down")
        return previous

    def tag(self, instance_id: str, tags: Mapping[str, str]) -> None:
        b = self.by_id[instance_id]
        self.by_id[instance_id] = replace(b, tags={**b.tags, **tags})

    def latest_image(self) -> str:
        return "ami-01234567"


@dataclass
class FakeSchedules:
    refs: dict[str, ScheduleRef] = field(default_factory=dict)

    def put(self, instance_id: str, expires_at: datetime, warn_at: datetime, *, new: bool) -> None:
        for kind in ("warning", "termination"):
            name = f"p-e-{instance_id}-{kind}"
            self.refs[name] = ScheduleRef(name, instance_id, None)

    def remove(self, instance_id: str) -> None:
        # By name, as SchedulerSchedules does: the sweep calls this from several threads.
        for kind in ("warning", "termination"):
            self.refs.pop(f"p-e-{instance_id}-{kind}", None)

    def ours(self) -> Iterator[ScheduleRef]:
        yield from list(self.refs.values())

    def delete(self, name: str) -> None:
        self.refs.pop(name, None)


@dataclass
class FakeNotifier:
    sent: list[Notice] = field(default_factory=list)
    broken: bool = False

    def send(self, notice: Notice) -> None:
        if self.broken:
            raise NotificationFailed("slack is down")
        self.sent.append(notice)
