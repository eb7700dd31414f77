"""list: the deployment's active bastions (one user's, or everyone's), oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from bastion_orchestrator.clock import Clock
from bastion_orchestrator.domain.bastion import Lifetime
from bastion_orchestrator.domain.compute import Compute
from bastion_orchestrator.domain.results import Facts, Listed


@dataclass(frozen=True)
class ListBastions:
    compute: Compute
    rules: Lifetime
    clock: Clock

    def __call__(self, user_id: str | None) -> Listed:
        now = self.clock()
        found = sorted(self.compute.active(user_id), key=lambda b: b.created_at)
        return Listed(tuple(Facts.of(b, self.rules, now) for b in found))
