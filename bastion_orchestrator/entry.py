"""The composition root: which door an event came through, and the parts each door needs.

This is the only module that knows both the doors and the wiring; the doors call inward
(``app.dispatcher``) and never import each other or the wiring (the Slack door's deciding
half, ``doors.slack_forms``, reads forms with its acknowledging half's helpers). Each door,
and the wiring, is imported when its first event arrives: a cold Slack acknowledgement loads
neither the direct door, nor the deciding half, nor the use cases it never runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion_orchestrator.doors import function_url

if TYPE_CHECKING:
    from bastion_orchestrator.doors.function_url import HttpAnswer, HttpRequest
    from bastion_orchestrator.doors.slack_forms import SlackForms


def run_orchestrator(event: Any, context: Any) -> dict[str, Any]:
    """The orchestrator's doors: the Function URL (Slack, IAM), the Slack door's sealed
    continuations, and direct payloads. Never raises for a request a caller sent."""
    if isinstance(event, dict) and "requestContext" in event:
        return function_url.handle(event, context, slack=_slack_door, iam=_iam_door)
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.doors import continuation

    if continuation.is_continuation(event):
        return continuation.handle(
            event,
            context,
            signing_secret=wiring.signing_secret,
            now=wiring.now(),
            resume=lambda job, ctx: _slack_forms().resume(job, ctx),
        )
    from bastion_orchestrator.doors import direct

    return direct.handle(event, context.aws_request_id, wiring.dispatcher())


def run_scheduled(event: Any) -> dict[str, Any]:
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.doors import scheduled

    return scheduled.handle(event, wiring.reaper, wiring.expire_approvals, wiring.readiness)


def _iam_door(request: HttpRequest, context: Any) -> HttpAnswer:
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.doors import iam

    return iam.handle(request, wiring.dispatcher())


def _slack_door(request: HttpRequest, context: Any) -> HttpAnswer:
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.doors.slack import SlackDoor

    door = SlackDoor(
        forms=_slack_forms,
        signing_secret=wiring.signing_secret,
        clock=wiring.now,
        enqueue=wiring.enqueue,
    )
    return door(request, context)


def _slack_forms() -> SlackForms:
    """The Slack door's deciding half (pydantic, settings, the use cases): built only when a
    request is decided, never for a slow verb's acknowledgement."""
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.doors.slack_forms import SlackForms

    return SlackForms(
        dispatcher=wiring.dispatcher(),
        jobs=wiring.slack_jobs,
        settings=wiring.get_settings,
        answer_back=wiring.answer_back,
    )
