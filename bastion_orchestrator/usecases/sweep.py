"""The sweep, the safety net for lost schedules: every bastion past its expiry (or, with
``IDLE_MINUTES``, without a session that long) is terminated, then the schedules of the gone
are cleaned up (``schedule_cleanup``). It streams pages and keeps only ids in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.usecases.reaping import Doomed, Reaping, doomed, result
from bastion_orchestrator.usecases.schedule_cleanup import clean_up, memory_of

TERMINATE_BATCH: Final = 500


class TerminationFailed(Exception):
    """Some bastions could not be terminated: raised so Lambda retries and the DLQ see it."""


@dataclass
class _Survey:
    """One pass over the active bastions."""

    checked: int = 0
    live: set[str] = field(default_factory=set)  # not expired: their schedules stay
    doomed: list[Doomed] = field(default_factory=list)  # past their expiry
    old_enough: list[Doomed] = field(default_factory=list)  # running longer than IDLE_MINUTES


def sweep(r: Reaping, *, budget: int) -> dict[str, Any]:
    """Terminate what is due, then clean up at most ``budget`` schedules."""
    now = r.clock()
    survey = _survey(r, now)
    live, expired = survey.live, survey.doomed
    expired.extend(_stripped_past_their_cap(r, live, {d.instance_id for d in expired}, now))
    terminated, failed = _terminate_in_batches(r, expired, "sweep", now)
    idle = _idle(r, survey.old_enough, now)
    live.difference_update(item.instance_id for item in idle)
    terminated_idle, failed_idle = _terminate_in_batches(r, idle, "idle", now)
    # A bastion EC2 refused to terminate keeps its schedules: its termination still fires.
    refused = {*failed, *failed_idle}
    gone = [d.instance_id for d in (*expired, *idle) if d.instance_id not in refused]
    memory = r.memory or memory_of(r.schedules)
    cleaned = clean_up(r.schedules, memory, gone, live | refused, now, budget=budget)
    if failed or failed_idle:
        failures = failed + failed_idle
        raise TerminationFailed(
            f"{len(failures)} bastion(s) could not be terminated (the rest were): {failures}"
        )
    pruned = _prune(r, now)
    answer = result(
        "sweep",
        None,
        "swept",
        snapshots_deleted=pruned,
        checked=survey.checked,
        terminated=terminated,
        terminated_idle=terminated_idle,
        schedules_deleted=cleaned.deleted,
        schedules_left=cleaned.left,
        schedules_listed=cleaned.listed,
    )
    logger.info("sweep finished", extra=answer)
    return answer


def _survey(r: Reaping, now: datetime) -> _Survey:
    survey = _Survey()
    for bastion in r.instances.active():
        survey.checked += 1
        if bastion.is_expired(r.rules, now):
            survey.doomed.append(doomed(bastion, r.rules))
            continue
        survey.live.add(bastion.instance_id)
        if r.idle and bastion.state == "running" and bastion.created_at <= now - r.idle:
            survey.old_enough.append(doomed(bastion, r.rules))
    return survey


def _stripped_past_their_cap(
    r: Reaping, live: set[str], expired: set[str], now: datetime
) -> list[Doomed]:
    """Bastions found by the module's instance profile but not by our tags (someone
    stripped or changed them): they still die at their hard cap, counted from EC2's
    LaunchTime, which no tag can move."""
    found = []
    for bastion in r.instances.by_profile():
        if bastion.instance_id in live or bastion.instance_id in expired:
            continue
        if bastion.launch_time + r.rules.maximum <= now:
            logger.warning(
                "bastion without our tags found by its instance profile, past its cap",
                extra={"instance_id": bastion.instance_id},
            )
            count("UntaggedBastionsFound")
            found.append(doomed(bastion, r.rules))
    return found


def _idle(r: Reaping, candidates: list[Doomed], now: datetime) -> list[Doomed]:
    """Candidates with no open SSM session and none that ended within IDLE_MINUTES."""
    if not candidates or r.sessions is None or r.idle is None:
        return []
    in_use = r.sessions.active_targets()
    idle = []
    for item in candidates:
        if item.instance_id in in_use:
            continue
        last = r.sessions.last_session_end(item.instance_id) or item.created_at
        if last <= now - r.idle:
            idle.append(item)
    return idle


def _terminate_in_batches(
    r: Reaping, expired: list[Doomed], cause: str, now: datetime
) -> tuple[int, list[str]]:
    terminated, failed = 0, []
    for start in range(0, len(expired), TERMINATE_BATCH):
        batch = expired[start : start + TERMINATE_BATCH]
        fresh, refused = r.terminate_and_tell(batch, cause, now)
        terminated += fresh
        failed.extend(refused)
    return terminated, failed


def _prune(r: Reaping, now: datetime) -> int:
    try:
        return r.forensics.prune(now)
    except Exception as e:  # old snapshots can wait for the next sweep; terminations can't
        count("SnapshotPruneFailures")
        logger.error("could not delete expired snapshots", extra={"error": repr(e)})
        return 0
