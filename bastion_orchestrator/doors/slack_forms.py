"""The Slack door's deciding half: a verified Slack form becomes an actor and an action, the
policy answers, and the work runs.

The acknowledging half (``doors.slack``) checks Slack's signature, answers quick verbs through
``answer`` at once, and queues slow ones (create, extend, destroy, approve, deny) as a sealed
continuation; ``resume`` runs such a continuation in the asynchronous invocation. Either way
the same code decides: the signed ``user_id`` is the actor, a refusal (the policy, a bad
duration, another environment's word) changes nothing and is told where the user asked. This
is the half that needs pydantic, the settings and the use cases, so the acknowledgement never
loads it for a slow verb.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from bastion_orchestrator.app.dispatcher import invalid, refused
from bastion_orchestrator.app.sealing import ForgedContinuation
from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.doors.slack import (
    BUTTONS,
    QUEUED_FORM,
    QUEUED_ID,
    button_names,
    button_payload,
    names_its_target,
    response_url_of,
    slack_hook,
    valid_user_id,
)
from bastion_orchestrator.errors import BastionError
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.slack import commands, messages
from bastion_orchestrator.slack.mrkdwn import escape
from models import (
    Approve,
    Create,
    Deny,
    Destroy,
    Extend,
    ListBastions,
    SlackJob,
    Status,
)

if TYPE_CHECKING:
    from bastion_orchestrator.app.continuations import SlackJobs
    from bastion_orchestrator.app.dispatcher import Dispatcher
    from bastion_orchestrator.config import Settings

_USERNAME_JUNK: Final = re.compile(r"[^A-Za-z0-9._-]+")
_REQUEST_ID: Final = re.compile(r"^[0-9a-f]{32}$")
SlowAction = Create | Extend | Destroy | Approve | Deny


@dataclass(frozen=True)
class _Work:
    """A slow action the policy allowed: the job to run, and what it is about."""

    job: SlackJob


@dataclass(frozen=True)
class _Refused:
    """A refusal: what Slack shows the user, and the contract's response."""

    body: dict[str, Any]
    response: dict[str, Any]


@dataclass(frozen=True)
class SlackForms:
    dispatcher: Dispatcher
    jobs: Callable[[], SlackJobs]
    settings: Callable[[], Settings]
    # Posts an answer to a response_url (ephemeral, as a new message): refusals found by the
    # asynchronous half reach the user where they asked.
    answer_back: Callable[[str, dict[str, Any]], None]

    # ------------------------------------------------------------------ the two entries
    def answer(self, form: dict[str, str], request_id: str, context: Any) -> dict[str, Any] | None:
        """The answer to give Slack now, slow work included (run here); None when the form
        is not a slash command or button of ours."""
        outcome = self._decide(form, request_id)
        if isinstance(outcome, _Refused):
            return outcome.body
        if not isinstance(outcome, _Work):
            return outcome
        job = outcome.job
        result = self.jobs().run(job, context)
        if result.get("pending_approval"):
            return messages.answer(str(result.get("message")))
        if result.get("success"):
            return messages.answer(
                f"Done: {job.action.action} {result.get('instance_id')}, expires "
                f"{result.get('expires_at')}. Details in your direct messages."
            )
        return messages.error_answer(str(result.get("message")), self._environment())

    def resume(self, job: dict[str, Any], context: Any) -> dict[str, Any]:
        """A queued Slack request (a verified continuation's job), in the asynchronous
        invocation: decided exactly as it would have been inline, run, and reported through
        ``response_url`` (and a direct message). Returns the action's response, or the
        refusal's; ``ForgedContinuation`` before anything when the job is not a queued
        request (signed by us, yet not ours to read: never worth a retry)."""
        form, request_id = job.get(QUEUED_FORM), job.get(QUEUED_ID)
        if (
            set(job) != {QUEUED_FORM, QUEUED_ID}
            or not isinstance(form, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in form.items())
            or not isinstance(request_id, str)
            or not _REQUEST_ID.fullmatch(request_id)
        ):
            self._not_run(job)
            raise ForgedContinuation("invalid job: not a queued Slack request")
        logger.append_keys(request_id=request_id)
        outcome = self._decide(form, request_id)
        if isinstance(outcome, _Work):
            return self.jobs().run(outcome.job, context)
        if outcome is None:  # our own door queued it: never expected, logged, nothing done
            logger.warning("queued Slack request is not a command or button; nothing was done")
            return {"success": False, "message": "not a slash command or interaction"}
        body, response = (
            (outcome.body, outcome.response)
            if isinstance(outcome, _Refused)
            else (outcome, {"success": False, "message": str(outcome.get("text", ""))})
        )
        url = response_url_of(form)
        if url is not None and body:
            self._tell(url, body)
        return response

    def _not_run(self, job: dict[str, Any]) -> None:
        """A job the previous release sealed (a parsed job, in flight during an upgrade) is
        not run: its requester, told "I'll post the result here", hears that it was not."""
        url = slack_hook(job.get("response_url"))
        if "action" not in job or url is None:
            return
        self._tell(
            url,
            messages.answer(
                "Your request was queued just before this deployment was upgraded and was not "
                "run; nothing was done. Please ask again."
            ),
        )

    def _tell(self, url: str, answer: dict[str, Any]) -> None:
        try:
            self.answer_back(url, answer)
        except Exception as e:  # delivery failures never undo (or redo) anything
            count("NotificationFailures")
            logger.warning("response_url post failed", extra={"error": repr(e)})

    # ------------------------------------------------------------------ deciding
    def _decide(
        self, form: dict[str, str], request_id: str
    ) -> dict[str, Any] | _Refused | _Work | None:
        """An answer for the user, a refusal, the allowed work, or None for a form that is not
        ours."""
        if "payload" not in form and "command" not in form:
            return None
        try:
            if "payload" in form:
                return self._interaction(form["payload"], request_id)
            return self._command(form, request_id)
        except ValidationError as e:  # e.g. "create 0h": a duration out of bounds
            response = refused(invalid(e))
        except BastionError as e:
            response = refused(e)  # logged and counted like every refusal
        return _Refused(
            messages.error_answer(str(response["message"]), self._environment()), response
        )

    def _environment(self) -> str:
        try:
            return self.settings().environment
        except BastionError:
            return "this deployment"

    def _command(self, form: dict[str, str], request_id: str) -> dict[str, Any] | _Work | None:
        user_id = form.get("user_id", "")
        if not valid_user_id(user_id):
            return None
        settings = self.settings()
        served = settings.environment
        command = commands.parse(form.get("text", ""), served)
        if command.environment and command.environment.lower() != served.lower():
            asked, slash = escape(command.environment), escape(form.get("command", "/infra"))
            return messages.answer(
                f"This `{slash}` serves *{served}*, not *{asked}*. Use the command of the "
                f"{asked} deployment, or `/infra bastion {command.verb} {served}`."
            )
        actor = Actor("slack", user_id, username=_username(form.get("user_name", "")))
        if command.verb == "help":
            return messages.help_answer(_help(settings), served, command.unknown)
        if command.verb == "list":
            result = self.dispatcher.dispatch(
                actor, ListBastions(action="list"), request_id=request_id
            )
            return self._shown(result, lambda r: messages.list_answer(r["bastions"], served))
        if command.verb == "status":
            result = self.dispatcher.dispatch(
                actor, Status(action="status", user_id=user_id), request_id=request_id
            )
            return self._shown(result, lambda r: messages.status_answer(r, served))
        action: SlowAction
        if command.verb == "create":
            action = Create(
                action="create",
                user_id=user_id,
                username=actor.username or "slack-user",
                reason=command.reason,
                hours=command.hours,
                break_glass=command.break_glass,
            )
        elif command.verb == "approve":
            action = Approve(action="approve", approval_id=command.approval_id or "")
        elif command.verb == "deny":
            action = Deny(
                action="deny", approval_id=command.approval_id or "", reason=command.reason
            )
        elif command.verb == "extend":
            action = Extend(
                action="extend",
                user_id=user_id,
                break_glass=command.break_glass,
                reason=command.reason if command.break_glass else None,
            )
        else:
            action = Destroy(action="destroy", user_id=user_id)
        return self._allowed(
            actor, action, form.get("response_url"), request_id, replace_original=False
        )

    def _interaction(self, raw: str, request_id: str) -> dict[str, Any] | _Work | None:
        payload = button_payload(raw)
        if payload is None:
            return None
        if payload.get("type") != "block_actions":
            return {}
        user, actions = payload["user"], payload["actions"]
        name = user.get("username") or user.get("name")
        actor = Actor(
            "slack", user["id"], username=_username(name if isinstance(name, str) else "")
        )
        for item in actions:
            if not isinstance(item, dict):
                return None
            verb = BUTTONS.get(str(item.get("action_id", "")))
            if verb is None:
                continue
            action = _button(verb, item.get("value"), user["id"])
            if action is None:
                return messages.answer(f"That button does not name a {button_names(verb)}.")
            url = payload.get("response_url")
            return self._allowed(
                actor,
                action,
                url if isinstance(url, str) else None,
                request_id,
                # a warning's buttons give way to the result; an approval request stays, and
                # is updated in place for everyone once decided
                replace_original=verb in ("extend", "destroy"),
            )
        return {}

    def _allowed(
        self,
        actor: Actor,
        action: SlowAction,
        response_url: str | None,
        request_id: str,
        *,
        replace_original: bool,
    ) -> _Work:
        # The policy first: a refusal (raised) is answered, and nothing runs.
        self.dispatcher.decide(actor, action)
        if response_url is not None and slack_hook(response_url) is None:
            logger.warning("response_url is not Slack's; replies go by direct message only")
            count("ForeignResponseUrls")
            response_url = None
        return _Work(
            SlackJob(
                user_id=actor.user_id or "",
                username=actor.username or "slack-user",
                action=action,
                request_id=request_id,
                response_url=response_url,
                replace_original=replace_original,
            )
        )

    def _shown(
        self, result: dict[str, Any], render: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        if not result.get("success"):
            return messages.error_answer(str(result.get("message")), self._environment())
        return render(result)


def _button(verb: str, value: Any, user_id: str) -> Extend | Destroy | Approve | Deny | None:
    """The action a button stands for; None when its value is not what that button carries
    (an instance id, or an approval request's id)."""
    if not names_its_target(verb, value):
        return None
    if verb == "approve":
        return Approve(action="approve", approval_id=value)
    if verb == "deny":
        return Deny(action="deny", approval_id=value)
    if verb == "extend":
        return Extend(action="extend", instance_id=value, user_id=user_id)
    return Destroy(action="destroy", instance_id=value, user_id=user_id)


def _help(settings: Settings) -> str:
    return commands.HELP.format(
        hours=f"{settings.bastion_lifetime_hours:g}",
        extend=f"{settings.extend_hours:g}",
        cap=f"{settings.max_lifetime_hours:g}",
        env=settings.environment,
    )


def _username(raw: str) -> str:
    cleaned = _USERNAME_JUNK.sub("-", raw).strip("-")[:80]
    return cleaned or "slack-user"
