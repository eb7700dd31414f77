"""The auto-terminator's use cases: warn, terminate, sweep. Every one is idempotent.

EventBridge Scheduler delivers at least once and Lambda retries async events, so each
handler re-reads the bastion and acts on what it finds:

- warn (``warn.py``): only a running bastion within the lead time, and once per
  ``ExpiresAt`` (the ``WarnedFor`` tag records which expiry was announced).
- terminate (``terminate.py``): only past ``ExpiresAt`` (an extension wins); "notify once"
  falls out of EC2's answer: only the call that saw the instance alive (``PreviousState``)
  notifies.
- sweep (``sweep.py``): the safety net for lost schedules; streams pages, keeps only ids in
  memory. Its schedule clean-up (``schedule_cleanup.py``) is bounded: at most
  ``DELETE_BUDGET`` DeleteSchedule calls per run, the rest left for the next run and logged.

``Reaper`` holds the ports and rules they share (``reaping.py``) and runs each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bastion_orchestrator.usecases import sweep, terminate, warn
from bastion_orchestrator.usecases.reaping import Reaping
from bastion_orchestrator.usecases.schedule_cleanup import (
    DELETE_BUDGET,
    LISTING_INTERVAL,
    SweepMemory,
    memory_of,
)
from bastion_orchestrator.usecases.sweep import TerminationFailed

__all__ = [
    "DELETE_BUDGET",
    "LISTING_INTERVAL",
    "Reaper",
    "SweepMemory",
    "TerminationFailed",
    "memory_of",
]


@dataclass(frozen=True)
class Reaper(Reaping):
    def warn(self, instance_id: str) -> dict[str, Any]:
        return warn.warn(self, instance_id)

    def terminate(self, instance_id: str) -> dict[str, Any]:
        return terminate.terminate(self, instance_id)

    def sweep(self) -> dict[str, Any]:
        # Read at each sweep, here: the budget is this module's setting (tests lower it).
        return sweep.sweep(self, budget=DELETE_BUDGET)
