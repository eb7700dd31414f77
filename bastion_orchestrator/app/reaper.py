"""The auto-terminator's use cases: warn, terminate, sweep. Every one is idempotent.

EventBridge Scheduler delivers at least once and Lambda retries async events, so each
handler re-reads the bastion and acts on what it finds:

- warn: only a running bastion within the lead time, and once per ``ExpiresAt`` (the
  ``WarnedFor`` tag records which expiry was announced).
- terminate: only past ``ExpiresAt`` (an extension wins); "notify once" falls out of EC2's
  answer: only the call that saw the instance alive (``PreviousState``) notifies.
- sweep: the safety net for lost schedules; streams pages, keeps only ids in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Final

from bastion_orchestrator.clock import Clock, iso
from bastion_orchestrator.domain.bastion import (
    ACTIVE_STATES,
    GONE_STATES,
    Bastion,
    Lifetime,
    Tag,
    warning_due,
)
from bastion_orchestrator.domain.ports import (
    Instances,
    NoSlots,
    Notice,
    Notifier,
    Schedules,
    SessionActivity,
    Slots,
)
from bastion_orchestrator.observability import audit, count, logger

WARNING_TOLERANCE: Final = timedelta(minutes=2)
# Scheduler fires at the minute; a clock a little behind must not skip a due termination.
TERMINATION_TOLERANCE: Final = timedelta(seconds=60)
# A schedule this young may belong to a launch EC2 does not show yet (eventual consistency).
ORPHAN_GRACE: Final = timedelta(minutes=10)
TERMINATE_BATCH: Final = 500
DELETE_WORKERS: Final = 8
DELETE_CHUNK: Final = 100


@dataclass(frozen=True)
class _Doomed:
    """What the sweep keeps of an expired bastion: enough to notify, nothing more."""

    instance_id: str
    user_id: str | None
    expires_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class Reaper:
    environment: str
    rules: Lifetime
    instances: Instances
    schedules: Schedules
    notifier: Notifier
    clock: Clock
    slots: Slots = field(default_factory=NoSlots)
    sessions: SessionActivity | None = None
    idle: timedelta | None = None  # IDLE_MINUTES: reap bastions without a session this long

    def warn(self, instance_id: str) -> dict[str, Any]:
        bastion = self.instances.get(instance_id)
        if bastion is None or bastion.state != "running":
            return self._outcome("warn", instance_id, "not_running")
        now = self.clock()
        if not warning_due(bastion, self.rules, now, WARNING_TOLERANCE):
            return self._outcome("warn", instance_id, "not_due")
        expires = bastion.expires_at(self.rules)
        if bastion.warned_for == iso(expires):
            return self._outcome("warn", instance_id, "already_warned")
        # Claim before telling: a retried event then finds the claim and stays silent.
        self.instances.tag(instance_id, {Tag.WARNED_FOR: iso(expires)})
        self._notify(Notice("warning", bastion.user_id, instance_id, expires, self.environment))
        audit(
            "bastion expiry warning sent",
            actor="auto-terminator",
            action="warn",
            instance_id=instance_id,
            user_id=bastion.user_id,
            expires_at=iso(expires),
        )
        return self._outcome("warn", instance_id, "warned", expires_at=iso(expires))

    def terminate(self, instance_id: str) -> dict[str, Any]:
        bastion = self.instances.get(instance_id)
        if bastion is None:
            return self._outcome("terminate", instance_id, "already_gone")
        if bastion.state in GONE_STATES:
            # A retry after a terminate whose schedule clean-up failed: finish it, tell nobody.
            self.schedules.remove(instance_id)
            return self._outcome("terminate", instance_id, "already_gone")
        now = self.clock()
        expires = bastion.expires_at(self.rules)
        if expires > now + TERMINATION_TOLERANCE:
            return self._outcome("terminate", instance_id, "not_expired", expires_at=iso(expires))
        doomed = _doomed(bastion, self.rules)
        notified, _ = self._terminate([doomed], cause="expiry", now=now)
        self.schedules.remove(instance_id)
        outcome = "terminated" if notified else "already_gone"
        return self._outcome("terminate", instance_id, outcome, expires_at=iso(expires))

    def sweep(self) -> dict[str, Any]:
        now = self.clock()
        live: set[str] = set()
        doomed: list[_Doomed] = []
        old_enough: list[_Doomed] = []  # idle candidates: running longer than IDLE_MINUTES
        checked = 0
        for bastion in self.instances.active():
            checked += 1
            if bastion.is_expired(self.rules, now):
                doomed.append(_doomed(bastion, self.rules))
                continue
            live.add(bastion.instance_id)
            if self.idle and bastion.state == "running" and bastion.created_at <= now - self.idle:
                old_enough.append(_doomed(bastion, self.rules))
        terminated, failed = self._terminate_in_batches(doomed, "sweep", now)
        idle = self._idle(old_enough, now)
        live.difference_update(item.instance_id for item in idle)
        terminated_idle, failed_idle = self._terminate_in_batches(idle, "idle", now)
        schedules_deleted = self._delete_orphan_schedules(live, now)
        if failed or failed_idle:
            failures = failed + failed_idle
            raise TerminationFailed(
                f"{len(failures)} bastion(s) could not be terminated (the rest were): {failures}"
            )
        result = self._outcome(
            "sweep",
            None,
            "swept",
            checked=checked,
            terminated=terminated,
            terminated_idle=terminated_idle,
            schedules_deleted=schedules_deleted,
        )
        logger.info("sweep finished", extra=result)
        return result

    # ----------------------------------------------------------------- helpers
    def _idle(self, candidates: list[_Doomed], now: datetime) -> list[_Doomed]:
        """Candidates with no open SSM session and none that ended within IDLE_MINUTES."""
        if not candidates or self.sessions is None or self.idle is None:
            return []
        in_use = self.sessions.active_targets()
        idle = []
        for item in candidates:
            if item.instance_id in in_use:
                continue
            last = self.sessions.last_session_end(item.instance_id) or item.created_at
            if last <= now - self.idle:
                idle.append(item)
        return idle

    def _terminate_in_batches(
        self, doomed: list[_Doomed], cause: str, now: datetime
    ) -> tuple[int, list[str]]:
        terminated, failed = 0, []
        for start in range(0, len(doomed), TERMINATE_BATCH):
            fresh, refused = self._terminate(doomed[start : start + TERMINATE_BATCH], cause, now)
            terminated += fresh
            failed.extend(refused)
        return terminated, failed

    def _terminate(
        self, doomed: Sequence[_Doomed], cause: str, now: datetime
    ) -> tuple[int, list[str]]:
        """Terminate, then tell once: only instances EC2 saw alive before this call.
        Answers how many were terminated now, and the ids EC2 refused."""
        previous, failed = self._terminate_each_if_needed([d.instance_id for d in doomed])
        fresh = 0
        for item in doomed:
            if previous.get(item.instance_id) not in ACTIVE_STATES:
                continue  # someone else (a retry, the sweep, a destroy) already did it
            fresh += 1
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
            self._notify(
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
        if fresh:
            count("BastionsTerminated", fresh, cause=cause)
        return fresh, failed

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

    def _delete_orphan_schedules(self, live: set[str], now: datetime) -> int:
        """Delete schedules whose bastion is gone. There is no batch delete, so a backlog
        (thousands after an outage) is deleted by a few threads rather than one by one."""
        orphans = (
            ref.name
            for ref in self.schedules.ours()
            if ref.instance_id not in live and not _young(ref.created, now)
        )
        deleted = 0
        with ThreadPoolExecutor(max_workers=DELETE_WORKERS) as pool:
            # In chunks: Executor.map would submit the whole backlog at once.
            while chunk := list(islice(orphans, DELETE_CHUNK)):
                deleted += sum(1 for _ in pool.map(self.schedules.delete, chunk))
        return deleted

    def _notify(self, notice: Notice) -> None:
        try:
            self.notifier.send(notice)
        except Exception as e:
            # Whatever Slack does, the termination stands: log and count, never re-raise.
            count("NotificationFailures")
            logger.warning(
                "notification failed",
                extra={"instance_id": notice.instance_id, "kind": notice.kind, "error": repr(e)},
            )

    @staticmethod
    def _outcome(
        action: str, instance_id: str | None, outcome: str, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"success": True, "action": action, "outcome": outcome}
        if instance_id:
            body["instance_id"] = instance_id
        body.update(extra)
        return body


class TerminationFailed(Exception):
    """Some bastions could not be terminated: raised so Lambda retries and the DLQ see it."""


def _young(created: datetime | None, now: datetime) -> bool:
    """Too young to call an orphan: its instance may not be visible in EC2 yet."""
    return created is not None and timedelta(0) <= now - created < ORPHAN_GRACE


def _doomed(bastion: Bastion, rules: Lifetime) -> _Doomed:
    return _Doomed(
        bastion.instance_id, bastion.user_id, bastion.expires_at(rules), bastion.created_at
    )
