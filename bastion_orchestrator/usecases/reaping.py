"""What the auto-terminator's use cases (warn, terminate, sweep) share: their ports and rules,
and "terminate, then tell once": only the call that saw an instance alive notifies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bastion_orchestrator.clock import Clock, iso
from bastion_orchestrator.domain.bastion import ACTIVE_STATES, Bastion, Lifetime
from bastion_orchestrator.domain.ports import (
    Evidence,
    Instances,
    NoSlots,
    Notice,
    Notifier,
    Schedules,
    SessionActivity,
    Slots,
)
from bastion_orchestrator.observability import audit, count, logger
from bastion_orchestrator.usecases.forensics import Forensics, evidence_of

if TYPE_CHECKING:
    from bastion_orchestrator.usecases.schedule_cleanup import SweepMemory


@dataclass(frozen=True)
class Doomed:
    """What the sweep keeps of an expired bastion: enough to notify, nothing more."""

    instance_id: str
    user_id: str | None
    expires_at: datetime
    created_at: datetime
    evidence: Evidence | None = None  # what a forensic snapshot would keep


def doomed(bastion: Bastion, rules: Lifetime) -> Doomed:
    return Doomed(
        bastion.instance_id,
        bastion.user_id,
        bastion.expires_at(rules),
        bastion.created_at,
        evidence_of(bastion),
    )


def result(action: str, instance_id: str | None, outcome: str, **extra: Any) -> dict[str, Any]:
    """A use case's answer: what it did (``outcome``) to which instance."""
    body: dict[str, Any] = {"success": True, "action": action, "outcome": outcome}
    if instance_id:
        body["instance_id"] = instance_id
    body.update(extra)
    return body


@dataclass(frozen=True)
class Reaping:
    environment: str
    rules: Lifetime
    instances: Instances
    schedules: Schedules
    notifier: Notifier
    clock: Clock
    slots: Slots = field(default_factory=NoSlots)
    sessions: SessionActivity | None = None
    idle: timedelta | None = None  # IDLE_MINUTES: reap bastions without a session this long
    memory: SweepMemory | None = None  # None: the memory of ``schedules`` (one per container)
    forensics: Forensics = field(default_factory=lambda: Forensics(None, timedelta(days=30)))

    def terminate_and_tell(
        self, doomed: Sequence[Doomed], cause: str, now: datetime
    ) -> tuple[int, list[str]]:
        """Terminate, then tell once: only instances EC2 saw alive before this call.
        Answers how many were terminated now, and the ids EC2 refused."""
        self.forensics.preserve([d.evidence for d in doomed], cause, now)
        previous, failed = self._terminate_each_if_needed([d.instance_id for d in doomed])
        fresh = 0
        for item in doomed:
            if previous.get(item.instance_id) not in ACTIVE_STATES:
                continue  # someone else (a retry, the sweep, a destroy) already did it
            fresh += 1
            self._tell(item, cause, now)
        if fresh:
            count("BastionsTerminated", fresh, cause=cause)
        return fresh, failed

    def _tell(self, item: Doomed, cause: str, now: datetime) -> None:
        """A bastion terminated now: its slot freed, the audit line, the owner told."""
        if item.user_id:
            self.slots.release(item.user_id, instance_id=item.instance_id)
        lived = int((now - item.created_at).total_seconds())
        audit(
            "bastion terminated",
            actor="auto-terminator",
            action="terminate",
            instance_id=item.instance_id,
            user_id=item.user_id,
            cause=cause,
            expires_at=iso(item.expires_at),
            lived_seconds=lived,
        )
        self.notify(
            Notice(
                "terminated",
                item.user_id,
                item.instance_id,
                item.expires_at,
                self.environment,
                cause=cause,
                lived_seconds=lived,
            )
        )

    def _terminate_each_if_needed(
        self, instance_ids: list[str]
    ) -> tuple[dict[str, str], list[str]]:
        """One call per batch; if the batch is refused (one instance re-tagged or gone), one
        call per instance, so a single bad instance never shields the others. Failures are
        raised at the end, after every other bastion has been dealt with."""
        try:
            return self.instances.terminate(instance_ids), []
        except Exception:
            if len(instance_ids) == 1:
                raise
            logger.warning(
                "batch termination refused; terminating one by one",
                extra={"batch": len(instance_ids)},
            )
        previous: dict[str, str] = {}
        failed: list[str] = []
        for instance_id in instance_ids:
            try:
                previous.update(self.instances.terminate([instance_id]))
            except Exception:
                count("TerminationFailures")
                logger.exception("could not terminate", extra={"instance_id": instance_id})
                failed.append(instance_id)
        return previous, failed

    def notify(self, notice: Notice) -> None:
        try:
            self.notifier.send(notice)
        except Exception as e:
            # Whatever Slack does, the termination stands: log and count, never re-raise.
            count("NotificationFailures")
            logger.warning(
                "notification failed",
                extra={"instance_id": notice.instance_id, "kind": notice.kind, "error": repr(e)},
            )
