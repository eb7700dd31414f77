"""The auto-terminator's use cases: warn, terminate, sweep. Every one is idempotent.

EventBridge Scheduler delivers at least once and Lambda retries async events, so each
handler re-reads the bastion and acts on what it finds:

- warn: only a running bastion within the lead time, and once per ``ExpiresAt`` (the
  ``WarnedFor`` tag records which expiry was announced).
- terminate: only past ``ExpiresAt`` (an extension wins); "notify once" falls out of EC2's
  answer: only the call that saw the instance alive (``PreviousState``) notifies.
- sweep: the safety net for lost schedules; streams pages, keeps only ids in memory.

The sweep's schedule clean-up is bounded: at most ``DELETE_BUDGET`` DeleteSchedule calls per
run (there is no batch delete), the rest left for the next run and logged. The schedules of
bastions the sweep terminates are known by name and deleted without a listing; the full
listing of the group, the only way to find schedules orphaned some other way (an instance
terminated by hand, a failed clean-up), runs on a cold start and then at most every
``LISTING_INTERVAL`` (such orphans are harmless meanwhile: each deletes itself when it fires,
``ActionAfterCompletion=DELETE``, and finds its instance gone). What is left over and when the
group was last listed live in a ``SweepMemory`` per warm container.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, TypeVar

from bastion_orchestrator.app.forensics import Forensics, evidence_of
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

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

WARNING_TOLERANCE: Final = timedelta(minutes=2)
# Scheduler fires at the minute; a clock a little behind must not skip a due termination.
TERMINATION_TOLERANCE: Final = timedelta(seconds=60)
# A schedule this young may belong to a launch EC2 does not show yet (eventual consistency).
ORPHAN_GRACE: Final = timedelta(minutes=10)
TERMINATE_BATCH: Final = 500
DELETE_WORKERS: Final = 8
DELETE_CHUNK: Final = 100
# DeleteSchedule calls per sweep, whatever the backlog (10,000 would take minutes and most of
# the function's CPU); what is left waits for the next sweep, 15 minutes later.
DELETE_BUDGET: Final = 1000
# How often a warm container re-lists the whole schedule group to find orphans it was not told
# about (a cold one always lists once). The listing costs one call per 100 schedules.
LISTING_INTERVAL: Final = timedelta(hours=6)
# Orphans found by a listing beyond the budget are remembered by name, up to this many; past
# that, the listing stays due and the next one finds the rest.
REMEMBERED_ORPHANS: Final = 10 * DELETE_BUDGET
SCHEDULES_PER_BASTION: Final = 2  # warning + termination: what Schedules.remove deletes

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Doomed:
    """What the sweep keeps of an expired bastion: enough to notify, nothing more."""

    instance_id: str
    user_id: str | None
    expires_at: datetime
    created_at: datetime
    evidence: Evidence | None = None  # what a forensic snapshot would keep


@dataclass
class SweepMemory:
    """What a warm container remembers between sweeps; a cold one starts empty (and lists)."""

    listed_at: datetime | None = None  # the last complete listing of the schedule group
    gone: list[str] = field(default_factory=list)  # bastions whose schedules still wait
    orphans: list[str] = field(default_factory=list)  # schedule names a listing found

    def listing_due(self, now: datetime) -> bool:
        return self.listed_at is None or now - self.listed_at >= LISTING_INTERVAL

    @property
    def waiting(self) -> int:
        """DeleteSchedule calls known to be waiting."""
        return SCHEDULES_PER_BASTION * len(self.gone) + len(self.orphans)


_memories: dict[int, SweepMemory] = {}


def memory_of(schedules: Schedules) -> SweepMemory:
    """The memory of this schedules adapter, which wiring builds once per container: it lives
    and dies with it (so ``wiring.reset()`` is a cold start for the sweep too)."""
    key = id(schedules)
    memory = _memories.get(key)
    if memory is None:
        memory = _memories[key] = SweepMemory()
        weakref.finalize(schedules, _memories.pop, key, None)
    return memory


@dataclass(frozen=True)
class _CleanUp:
    deleted: int  # DeleteSchedule calls made (an already-deleted schedule counts: it was asked)
    left: int  # calls known to be left for the next sweep
    listed: bool  # whether this sweep listed the schedule group


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
    memory: SweepMemory | None = None  # None: the memory of ``schedules`` (one per container)
    forensics: Forensics = field(default_factory=lambda: Forensics(None, timedelta(days=30)))

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
        doomed.extend(self._stripped_past_their_cap(live, {d.instance_id for d in doomed}, now))
        terminated, failed = self._terminate_in_batches(doomed, "sweep", now)
        idle = self._idle(old_enough, now)
        live.difference_update(item.instance_id for item in idle)
        terminated_idle, failed_idle = self._terminate_in_batches(idle, "idle", now)
        # A bastion EC2 refused to terminate keeps its schedules: its termination still fires.
        refused = {*failed, *failed_idle}
        gone = [d.instance_id for d in (*doomed, *idle) if d.instance_id not in refused]
        clean_up = self._clean_up(gone, live | refused, now)
        if failed or failed_idle:
            failures = failed + failed_idle
            raise TerminationFailed(
                f"{len(failures)} bastion(s) could not be terminated (the rest were): {failures}"
            )
        pruned = self._prune(now)
        result = self._outcome(
            "sweep",
            None,
            "swept",
            snapshots_deleted=pruned,
            checked=checked,
            terminated=terminated,
            terminated_idle=terminated_idle,
            schedules_deleted=clean_up.deleted,
            schedules_left=clean_up.left,
            schedules_listed=clean_up.listed,
        )
        logger.info("sweep finished", extra=result)
        return result

    # ----------------------------------------------------------------- helpers
    def _stripped_past_their_cap(
        self, live: set[str], doomed: set[str], now: datetime
    ) -> list[_Doomed]:
        """Bastions found by the module's instance profile but not by our tags (someone
        stripped or changed them): they still die at their hard cap, counted from EC2's
        LaunchTime, which no tag can move."""
        found = []
        for bastion in self.instances.by_profile():
            if bastion.instance_id in live or bastion.instance_id in doomed:
                continue
            if bastion.launch_time + self.rules.maximum <= now:
                logger.warning(
                    "bastion without our tags found by its instance profile, past its cap",
                    extra={"instance_id": bastion.instance_id},
                )
                count("UntaggedBastionsFound")
                found.append(_doomed(bastion, self.rules))
        return found

    def _prune(self, now: datetime) -> int:
        try:
            return self.forensics.prune(now)
        except Exception as e:  # old snapshots can wait for the next sweep; terminations can't
            count("SnapshotPruneFailures")
            logger.error("could not delete expired snapshots", extra={"error": repr(e)})
            return 0

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
        self.forensics.preserve([d.evidence for d in doomed], cause, now)
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

    def _clean_up(self, gone: list[str], keep: set[str], now: datetime) -> _CleanUp:
        """Delete the schedules of gone bastions, at most DELETE_BUDGET calls: first those
        known by name (left over from earlier sweeps, then this sweep's), then, when a listing
        is due and budget is left, the orphans a listing of the group finds. ``keep``: the
        bastions whose schedules stay. There is no batch delete, so a few threads share the
        calls."""
        from concurrent.futures import ThreadPoolExecutor  # only the sweep needs threads

        memory = self.memory or memory_of(self.schedules)
        budget = DELETE_BUDGET
        with ThreadPoolExecutor(max_workers=DELETE_WORKERS) as pool:
            # Remembered before deleting: if a call fails, the next sweep retries them all.
            memory.gone = bastions = list(dict.fromkeys([*memory.gone, *gone]))
            now_gone = bastions[: budget // SCHEDULES_PER_BASTION]
            deleted = SCHEDULES_PER_BASTION * _run(pool, self.schedules.remove, now_gone)
            memory.gone = bastions[len(now_gone) :]
            budget -= deleted

            names = memory.orphans[:budget]
            deleted += _run(pool, self.schedules.delete, names)
            memory.orphans = memory.orphans[len(names) :]
            budget -= len(names)

            due = memory.listing_due(now)
            listed = due and budget > 0
            if listed:
                handled = {*bastions, *keep}
                orphans = (
                    ref.name
                    for ref in self.schedules.ours()
                    if ref.instance_id not in handled and not _young(ref.created, now)
                )
                deleted += _run(pool, self.schedules.delete, islice(orphans, budget))
                # The listing goes on to its end: the rest is remembered (or, past
                # REMEMBERED_ORPHANS, only counted, and the listing stays due).
                rest = list(islice(orphans, REMEMBERED_ORPHANS))
                unremembered = sum(1 for _ in orphans)
                memory.orphans = rest
                if not unremembered:
                    memory.listed_at = now
            else:
                unremembered = 0
        left = memory.waiting + unremembered
        if left or (due and not listed):
            logger.warning(
                "orphan schedules left for the next sweep",
                extra={
                    "schedules_deleted": deleted,
                    "schedules_left": left,
                    "budget": DELETE_BUDGET,
                    "listing_deferred": due and not listed,
                },
            )
        return _CleanUp(deleted, left, listed)

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


def _run(pool: ThreadPoolExecutor, call: Callable[[_T], None], items: Iterable[_T]) -> int:
    """``call`` on every item, in chunks (``Executor.map`` would submit them all at once)."""
    done = 0
    chunks: Iterator[_T] = iter(items)
    while chunk := list(islice(chunks, DELETE_CHUNK)):
        done += sum(1 for _ in pool.map(call, chunk))
    return done


def _young(created: datetime | None, now: datetime) -> bool:
    """Too young to call an orphan: its instance may not be visible in EC2 yet."""
    return created is not None and timedelta(0) <= now - created < ORPHAN_GRACE


def _doomed(bastion: Bastion, rules: Lifetime) -> _Doomed:
    return _Doomed(
        bastion.instance_id,
        bastion.user_id,
        bastion.expires_at(rules),
        bastion.created_at,
        evidence_of(bastion),
    )
