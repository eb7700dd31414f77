"""The scheduler door: EventBridge Scheduler's one-shot events (warn, terminate, ready) and
the recurring sweep.

Bad input answers VALIDATION_ERROR (a retry cannot fix it); every other failure is raised
so Lambda retries and the dead-letter queue see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bastion_orchestrator.doors.parsing import validation_error
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.usecases.readiness import Readiness
from bastion_orchestrator.usecases.reaper import Reaper
from models import EVENT_ADAPTER, FIELD_HINTS, Ready, Sweep, Terminate, Warn

_HINTS = {
    **FIELD_HINTS,
    "action": "one of warn, terminate, sweep, ready",
    "attempt": "an integer from 1 to 10",
}
_ALLOWED = {
    "warn": ["action", "instance_id"],
    "terminate": ["action", "instance_id"],
    "sweep": ["action"],
    "ready": ["action", "instance_id", "attempt"],
}


def handle(
    event: Any,
    reaper: Callable[[], Reaper],
    expire_approvals: Callable[[], int | None],
    readiness: Callable[[], Readiness],
) -> dict[str, Any]:
    try:
        parsed = EVENT_ADAPTER.validate_python(event)
    except ValidationError as e:
        refusal = validation_error(e, _HINTS, _ALLOWED)
        logger.error(
            "invalid scheduler event", extra={"event": repr(event)[:500], "reason": refusal.message}
        )
        count("InvalidEvents")
        return refusal.to_response()
    logger.append_keys(
        action=parsed.action, instance_id=getattr(parsed, "instance_id", None), door="scheduler"
    )
    match parsed:
        case Warn():
            return reaper().warn(parsed.instance_id)
        case Terminate():
            return reaper().terminate(parsed.instance_id)
        case Ready():
            return readiness().check(parsed.instance_id, parsed.attempt)
        case Sweep():
            result = reaper().sweep()
            expired = expire_approvals()  # None: approvals are off
            if expired is not None:
                result["approvals_expired"] = expired
            return result
