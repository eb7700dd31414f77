"""destroy: terminate a bastion now (4 calls: describe, terminate, 2 schedule deletes).
A bastion already ending answers ``already_terminated`` and only tidies its schedules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from bastion_orchestrator.clock import Clock
from bastion_orchestrator.domain.bastion import GONE_STATES, Lifetime
from bastion_orchestrator.domain.compute import Compute
from bastion_orchestrator.domain.ports import NoSlots, Schedules, Slots
from bastion_orchestrator.domain.results import Destroyed, Facts
from bastion_orchestrator.observability import audit, count
from bastion_orchestrator.usecases.forensics import Forensics, evidence_of
from bastion_orchestrator.usecases.policy import Act
from bastion_orchestrator.usecases.targets import Targets


@dataclass(frozen=True)
class DestroyBastion:
    targets: Targets
    compute: Compute
    schedules: Schedules
    rules: Lifetime
    clock: Clock
    slots: Slots = field(default_factory=NoSlots)
    forensics: Forensics = field(default_factory=lambda: Forensics(None, timedelta(days=30)))

    def __call__(self, act: Act, *, actor: str) -> Destroyed:
        bastion = self.targets.find(act, recently_gone=True)
        now = self.clock()
        if bastion.state in GONE_STATES:
            self.schedules.remove(bastion.instance_id)
            return Destroyed(Facts.of(bastion, self.rules, now), already_terminated=True)
        self.forensics.preserve([evidence_of(bastion)], "destroy", now)
        previous = self.compute.terminate([bastion.instance_id]).get(bastion.instance_id)
        self.schedules.remove(bastion.instance_id)
        if bastion.user_id:
            self.slots.release(bastion.user_id, instance_id=bastion.instance_id)
        if previous not in GONE_STATES:
            count("BastionsTerminated", cause="destroy")
        audit(
            "bastion destroyed",
            actor=actor,
            action="destroy",
            instance_id=bastion.instance_id,
            lived_seconds=int((now - bastion.created_at).total_seconds()),
        )
        ending = replace(bastion, state="shutting-down")
        return Destroyed(Facts.of(ending, self.rules, now), already_terminated=False)
