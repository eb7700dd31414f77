"""The sweep's schedule clean-up, bounded: at most ``DELETE_BUDGET`` DeleteSchedule calls per
run (there is no batch delete), the rest left for the next run and logged.

The schedules of bastions the sweep terminates are known by name and deleted without a
listing; the full listing of the group, the only way to find schedules orphaned some other way
(an instance terminated by hand, a failed clean-up), runs on a cold start and then at most
every ``LISTING_INTERVAL`` (such orphans are harmless meanwhile: each deletes itself when it
fires, ``ActionAfterCompletion=DELETE``, and finds its instance gone). What is left over and
when the group was last listed live in a ``SweepMemory`` per warm container.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Final, TypeVar

from bastion_orchestrator.observability import logger

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from bastion_orchestrator.domain.ports import Schedules

# A schedule this young may belong to a launch EC2 does not show yet (eventual consistency).
ORPHAN_GRACE: Final = timedelta(minutes=10)
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
class CleanUp:
    deleted: int  # DeleteSchedule calls made (an already-deleted schedule counts: it was asked)
    left: int  # calls known to be left for the next sweep
    listed: bool  # whether this sweep listed the schedule group


def clean_up(
    schedules: Schedules,
    memory: SweepMemory,
    gone: list[str],
    keep: set[str],
    now: datetime,
    *,
    budget: int,
) -> CleanUp:
    """Delete the schedules of gone bastions, at most ``budget`` calls: first those known by
    name (left over from earlier sweeps, then this sweep's), then, when a listing is due and
    budget is left, the orphans a listing of the group finds. ``keep``: the bastions whose
    schedules stay. There is no batch delete, so a few threads share the calls."""
    from concurrent.futures import ThreadPoolExecutor  # only the sweep needs threads

    with ThreadPoolExecutor(max_workers=DELETE_WORKERS) as pool:
        bastions, deleted = _delete_known(pool, schedules, memory, gone, budget)
        due = memory.listing_due(now)
        listed = due and deleted < budget
        unremembered = 0
        if listed:
            handled = {*bastions, *keep}
            found, unremembered = _delete_listed(
                pool, schedules, memory, handled=handled, now=now, budget=budget - deleted
            )
            deleted += found
    left = memory.waiting + unremembered
    if left or (due and not listed):
        logger.warning(
            "orphan schedules left for the next sweep",
            extra={
                "schedules_deleted": deleted,
                "schedules_left": left,
                "budget": budget,
                "listing_deferred": due and not listed,
            },
        )
    return CleanUp(deleted, left, listed)


def _delete_known(
    pool: ThreadPoolExecutor,
    schedules: Schedules,
    memory: SweepMemory,
    gone: list[str],
    budget: int,
) -> tuple[list[str], int]:
    """The schedules known by name, within ``budget``: every gone bastion's (and the calls
    made). The rest stays in ``memory``."""
    # Remembered before deleting: if a call fails, the next sweep retries them all.
    memory.gone = bastions = list(dict.fromkeys([*memory.gone, *gone]))
    now_gone = bastions[: budget // SCHEDULES_PER_BASTION]
    deleted = SCHEDULES_PER_BASTION * _run(pool, schedules.remove, now_gone)
    memory.gone = bastions[len(now_gone) :]

    names = memory.orphans[: budget - deleted]
    deleted += _run(pool, schedules.delete, names)
    memory.orphans = memory.orphans[len(names) :]
    return bastions, deleted


def _delete_listed(
    pool: ThreadPoolExecutor,
    schedules: Schedules,
    memory: SweepMemory,
    *,
    handled: set[str],
    now: datetime,
    budget: int,
) -> tuple[int, int]:
    """The orphans a listing of the group finds, within ``budget``: the calls made, and how
    many orphans are neither deleted nor remembered."""
    orphans = (
        ref.name
        for ref in schedules.ours()
        if ref.instance_id not in handled and not _young(ref.created, now)
    )
    deleted = _run(pool, schedules.delete, islice(orphans, budget))
    # The listing goes on to its end: the rest is remembered (or, past REMEMBERED_ORPHANS,
    # only counted, and the listing stays due).
    rest = list(islice(orphans, REMEMBERED_ORPHANS))
    unremembered = sum(1 for _ in orphans)
    memory.orphans = rest
    if not unremembered:
        memory.listed_at = now
    return deleted, unremembered


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
