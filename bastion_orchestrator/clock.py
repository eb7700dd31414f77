"""Time, injected. Only ``system_clock`` reads the wall clock; everything else is handed one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with an explicit ``+00:00`` offset, to the second (the contract's form)."""
    return to_utc(moment).replace(microsecond=0).isoformat()


def parse_iso(text: str | None) -> datetime | None:
    """Parse a timestamp we wrote (or someone tampered with); ``None`` when it is not one."""
    if not text:
        return None
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def scheduler_at(moment: datetime) -> str:
    """EventBridge Scheduler one-shot expression, UTC, to the second."""
    return f"at({to_utc(moment).strftime('%Y-%m-%dT%H:%M:%S')})"
