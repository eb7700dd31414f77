"""Parsing, dispatch and the mapping of errors to responses, in one place each."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ValidationError

from bastion_orchestrator.app import wiring
from bastion_orchestrator.app.views import validation_error
from bastion_orchestrator.errors import BastionError, InternalError, InvalidRequest
from bastion_orchestrator.observability import count, logger
from models import (
    ACTION_ADAPTER,
    EVENT_ADAPTER,
    FIELD_HINTS,
    Create,
    Destroy,
    Extend,
    ListBastions,
    ScheduledEvent,
    SlackJob,
    Status,
    Sweep,
    Terminate,
    Warn,
)

_ACTIONS: Final[dict[str, type[BaseModel]]] = {
    "create": Create,
    "status": Status,
    "extend": Extend,
    "destroy": Destroy,
    "list": ListBastions,
}
_ALLOWED: Final = {name: sorted(model.model_fields) for name, model in _ACTIONS.items()}


def run_orchestrator(event: Any, context: Any) -> dict[str, Any]:
    """The orchestrator's three doors: Slack over the Function URL, the Slack door's async
    continuation, and direct payloads."""
    if isinstance(event, dict) and "http" in (event.get("requestContext") or {}):
        from bastion_orchestrator.slack import door  # Function URL, payload format 2.0

        return door.handle(event, context)
    if isinstance(event, dict) and "slack_job" in event:
        return run_slack_job(event["slack_job"])
    return run_action(event, request_id=context.aws_request_id)


def run_slack_job(raw: Any) -> dict[str, Any]:
    """An async continuation. Malformed ones are refused (a retry cannot fix them)."""
    from bastion_orchestrator.app import slack_jobs

    try:
        job = SlackJob.model_validate(raw)
    except ValidationError as e:
        logger.error("invalid slack job", extra={"reason": str(e)})
        count("InvalidEvents")
        return validation_error(e, FIELD_HINTS, {}).to_response()
    logger.append_keys(action=f"slack:{job.verb}", actor=job.user_id)
    return slack_jobs.run(job)


def run_action(event: Any, request_id: str) -> dict[str, Any]:
    """A direct payload in, a JSON-serialisable response out. Never raises."""
    try:
        try:
            action = ACTION_ADAPTER.validate_python(event)
        except ValidationError as e:
            raise validation_error(e, FIELD_HINTS, _ALLOWED) from e
        logger.append_keys(action=action.action, actor=getattr(action, "user_id", None))
        service = wiring.orchestrator()
        match action:
            case Create():
                return service.create(action, request_id=request_id)
            case Status():
                return service.status(action)
            case Extend():
                return service.extend(action)
            case Destroy():
                return service.destroy(action)
            case ListBastions():
                return service.list(action)
    except BastionError as e:
        level = logger.warning if isinstance(e, InvalidRequest) else logger.error
        level("request refused", extra={"error": e.code, "reason": e.message})
        count("RequestsRefused")
        return e.to_response()
    except Exception:
        logger.exception("unexpected failure")
        count("InternalErrors")
        return InternalError(
            "Unexpected failure; nothing was left half-done that the sweep will not clean up. "
            "Retry, and check the function's logs if it persists."
        ).to_response()


def parse_event(event: Any) -> ScheduledEvent:
    try:
        return EVENT_ADAPTER.validate_python(event)
    except ValidationError as e:
        hints = {**FIELD_HINTS, "action": "one of warn, terminate, sweep"}
        allowed = {
            "warn": ["action", "instance_id"],
            "terminate": ["action", "instance_id"],
            "sweep": ["action"],
        }
        raise validation_error(e, hints, allowed) from e


def run_scheduled(event: Any) -> dict[str, Any]:
    """A scheduler event in. Bad input answers VALIDATION_ERROR (a retry cannot fix it);
    every other failure is raised so Lambda retries and the dead-letter queue see it."""
    try:
        parsed = parse_event(event)
    except InvalidRequest as e:
        logger.error(
            "invalid scheduler event", extra={"event": repr(event)[:500], "reason": e.message}
        )
        count("InvalidEvents")
        return e.to_response()
    logger.append_keys(action=parsed.action, instance_id=getattr(parsed, "instance_id", None))
    reaper = wiring.reaper()
    match parsed:
        case Warn():
            return reaper.warn(parsed.instance_id)
        case Terminate():
            return reaper.terminate(parsed.instance_id)
        case Sweep():
            return reaper.sweep()
