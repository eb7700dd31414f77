"""The Slack door's deciding half: a verified Slack form becomes an actor and an action, the
policy answers, and the work runs.

The acknowledging half (``acknowledge``) checks Slack's signature, answers quick verbs through
``answer`` at once, and queues slow ones (create, extend, destroy, approve, deny) as a sealed
continuation; ``resume`` runs such a continuation in the asynchronous invocation. Either way
the same code decides: the signed ``user_id`` is the actor, a refusal (the policy, a bad
duration, another environment's word) changes nothing and is told where the user asked. This
is the half that needs pydantic, the settings and the use cases, so the acknowledgement never
loads it for a slow verb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.domain.results import Facts, Inspected, Listed, Outcome, Refused
from bastion_orchestrator.doors.parsing import invalid
from bastion_orchestrator.doors.slack.actions import (
    SlowAction,
    button_action,
    elsewhere,
    help_text,
    slow_action,
    username,
)
from bastion_orchestrator.doors.slack.request import (
    APPROVAL_VERBS,
    SlackRequest,
    slack_hook,
)
from bastion_orchestrator.doors.slack.sealing import ForgedContinuation
from bastion_orchestrator.errors import BastionError
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.presenters.slack import messages
from bastion_orchestrator.usecases.dispatcher import refused
from models import ListBastions, SlackJob, Status

if TYPE_CHECKING:
    from bastion_orchestrator.config import Settings
    from bastion_orchestrator.doors.slack.jobs import SlackJobs
    from bastion_orchestrator.usecases.dispatcher import Dispatcher


Answer = dict[str, Any]


@dataclass(frozen=True)
class _Work:
    """A slow action the policy allowed: the job to run."""

    job: SlackJob


@dataclass(frozen=True)
class _Refused:
    """A refusal: what Slack shows the user, and the contract's response."""

    body: Answer
    response: dict[str, Any]


Decision = Answer | _Refused | _Work | None


@dataclass(frozen=True)
class SlackForms:
    dispatcher: Dispatcher
    jobs: Callable[[], SlackJobs]
    settings: Callable[[], Settings]
    # Posts an answer to a response_url (ephemeral, as a new message): refusals found by the
    # asynchronous half reach the user where they asked.
    answer_back: Callable[[str, Answer], None]
    present: Callable[[Outcome], dict[str, Any]]  # the contract's JSON
    connection: Callable[[Facts], Mapping[str, str]]  # the commands a status shows

    # ------------------------------------------------------------------ the two entries
    def answer(self, request: SlackRequest, context: Any) -> Answer | None:
        """The answer to give Slack now, slow work included (run here); None when the form
        is not a slash command or button of ours."""
        outcome = self._decide(request)
        if isinstance(outcome, _Refused):
            return outcome.body
        if not isinstance(outcome, _Work):
            return outcome
        job = outcome.job
        result = self.jobs().run(job, context)  # the contract's JSON, as the store keeps it
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
        request = self._queued(job)
        logger.append_keys(request_id=request.request_id)
        outcome = self._decide(request)
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
        if request.response_url is not None and body:
            self._tell(request.response_url, body)
        return response

    def _queued(self, job: dict[str, Any]) -> SlackRequest:
        # unreadable settings: parsed for none, decided below, where the refusal is told
        request = SlackRequest.unqueued(job, self._environment(unknown=""))
        if request is None:
            self._not_run(job)
            raise ForgedContinuation("invalid job: not a queued Slack request")
        return request

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

    def _tell(self, url: str, answer: Answer) -> None:
        try:
            self.answer_back(url, answer)
        except Exception as e:  # delivery failures never undo (or redo) anything
            count("NotificationFailures")
            logger.warning("response_url post failed", extra={"error": repr(e)})

    # ------------------------------------------------------------------ deciding
    def _decide(self, request: SlackRequest) -> Decision:
        """An answer for the user, a refusal, the allowed work, or None for a form that is not
        ours."""
        if request.kind not in ("command", "button"):
            return {} if request.kind == "interaction" else None
        try:
            if request.kind == "command":
                return self._command(request)
            return self._button(request)
        except ValidationError as e:  # e.g. "create 0h": a duration out of bounds
            response = self.present(refused(invalid(e)))
        except BastionError as e:
            response = self.present(refused(e))  # logged and counted like every refusal
        return _Refused(
            messages.error_answer(str(response["message"]), self._environment()), response
        )

    def _environment(self, unknown: str = "this deployment") -> str:
        try:
            return self.settings().environment
        except BastionError:
            return unknown

    def _command(self, request: SlackRequest) -> Decision:
        if request.user_id is None:
            return None
        settings = self.settings()
        served = settings.environment
        command = request.for_environment(served).command
        assert command is not None  # a command request always has one
        if command.environment and command.environment.lower() != served.lower():
            return elsewhere(command, served, request.slash)
        actor = Actor("slack", request.user_id, username=username(request.user_name))
        if command.verb == "help":
            return messages.help_answer(help_text(settings), served, command.unknown)
        if command.verb in ("list", "status"):
            return self._quick(actor, command.verb, request.request_id, served)
        action = slow_action(command, actor)
        return self._allowed(actor, action, request, replace_original=False)

    def _quick(self, actor: Actor, verb: str, request_id: str, served: str) -> Answer:
        """list and status: answered now, as Block Kit."""
        action = (
            ListBastions(action="list")
            if verb == "list"
            else Status(action="status", user_id=actor.user_id)
        )
        outcome = self.dispatcher.dispatch(actor, action, request_id=request_id)
        if isinstance(outcome, Listed):
            return messages.list_answer(outcome.bastions, served)
        if isinstance(outcome, Inspected):
            return messages.status_answer(outcome, self.connection(outcome.facts), served)
        message = outcome.error.message if isinstance(outcome, Refused) else str(outcome)
        return messages.error_answer(message, self._environment())

    def _button(self, request: SlackRequest) -> Decision:
        button = request.button
        if button is None:
            return {}
        if not button.verb:  # an action that is not an object
            return None
        actor = Actor("slack", request.user_id, username=username(request.user_name))
        action = button_action(button, request.user_id or "")
        if action is None:
            what = "request" if button.verb in APPROVAL_VERBS else "bastion"
            return messages.answer(f"That button does not name a {what}.")
        # a warning's buttons give way to the result; an approval request stays, and is
        # updated in place for everyone once decided
        replace = button.verb in ("extend", "destroy")
        return self._allowed(actor, action, request, replace_original=replace)

    def _allowed(
        self, actor: Actor, action: SlowAction, request: SlackRequest, *, replace_original: bool
    ) -> _Work:
        # The policy first: a refusal (raised) is answered, and nothing runs.
        self.dispatcher.decide(actor, action)
        if request.foreign_response_url:
            logger.warning("response_url is not Slack's; replies go by direct message only")
            count("ForeignResponseUrls")
        return _Work(
            SlackJob(
                user_id=actor.user_id or "",
                username=actor.username or "slack-user",
                action=action,
                request_id=request.request_id,
                response_url=request.response_url,
                replace_original=replace_original,
            )
        )
