"""The continuation door: the Slack door's asynchronous self-invocations.

Only a continuation sealed by this deployment's Slack door is obeyed (``app.sealing``): it
carries the Slack request whose signature that door checked, so its actor is the one Slack
verified. Anything else that looks like one (the unsigned ``slack_job`` of earlier versions,
and the sealed jobs they queued, included) is refused, logged, counted, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from bastion_orchestrator.doors.slack.sealing import ForgedContinuation, unseal
from bastion_orchestrator.errors import Forbidden
from bastion_orchestrator.observability import audit, count, logger

KEYS: Final = ("continuation", "slack_job")


def is_continuation(event: Any) -> bool:
    return isinstance(event, dict) and any(key in event for key in KEYS)


def handle(
    event: dict[str, Any],
    context: Any,
    *,
    signing_secret: Callable[[], str | None],
    now: datetime,
    resume: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> dict[str, Any]:
    """``resume`` runs the verified job; it raises ``ForgedContinuation`` before doing
    anything when the job is not one it reads."""
    # Anything beside the envelope (an unsigned slack_job included) makes it no envelope.
    envelope = event["continuation"] if set(event) == {"continuation"} else None
    try:
        return resume(unseal(envelope, signing_secret(), now), context)
    except ForgedContinuation as e:
        count("ForgedContinuations")
        audit(
            "continuation refused",
            actor="unknown",
            action="continuation",
            instance_id=None,
            door="continuation",
            reason=str(e),
        )
        logger.warning("continuation refused: nothing was done", extra={"reason": str(e)})
        return Forbidden(
            f"Refused: not a continuation this deployment produced ({e}). Nothing was done. "
            "Send orchestrator actions as plain payloads instead."
        ).to_response()
