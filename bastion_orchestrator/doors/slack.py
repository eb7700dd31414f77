"""The Slack door: slash commands and buttons through the public Function URL.

Order matters: the v0 signature is checked on the raw body before anything is parsed; a
missing, malformed, forged or stale one answers 401 and changes nothing. Then the form
becomes an actor (the signed ``user_id``) and an action, and the policy is asked at once, so
a refusal is answered inside Slack's 3 seconds with no AWS call. Quick verbs (help, list,
status) are answered inline; create, extend and destroy are acknowledged and handed to an
asynchronous invocation of this function as a sealed continuation
(``app.sealing.seal``) whose replies go only to Slack.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

from pydantic import ValidationError

from bastion_orchestrator.app.dispatcher import invalid, refused
from bastion_orchestrator.app.sealing import seal
from bastion_orchestrator.config import Settings
from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.doors.function_url import HttpAnswer, HttpRequest
from bastion_orchestrator.errors import BastionError
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.slack import commands, messages
from models import (
    APPROVAL_ID,
    INSTANCE_ID,
    SLACK_RESPONSE_URL,
    USER_ID,
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

_USERNAME_JUNK: Final = re.compile(r"[^A-Za-z0-9._-]+")
BUTTONS: Final = {
    messages.EXTEND_ACTION: "extend",
    messages.DESTROY_ACTION: "destroy",
    messages.APPROVE_ACTION: "approve",
    messages.DENY_ACTION: "deny",
}
_SLOW: Final = {
    "create": "Launching",
    "extend": "Extending",
    "destroy": "Destroying",
    "approve": "Approving",
    "deny": "Denying",
}


@dataclass(frozen=True)
class SlackDoor:
    dispatcher: Dispatcher
    jobs: Callable[[], SlackJobs]  # the slow half, built only when it runs inline
    settings: Callable[[], Settings]
    signing_secret: Callable[[], str | None]
    clock: Callable[[], datetime]
    enqueue: Callable[[str, dict[str, Any]], None]

    def __call__(self, request: HttpRequest, context: Any) -> HttpAnswer:
        if not self._signed(request):
            count("SlackRequestsRejected")
            return HttpAnswer(401, {"error": "invalid_signature"})
        if request.method != "POST":
            return HttpAnswer(400, {"error": "not a slash command or interaction"})
        form = {k: v[0] for k, v in parse_qs(request.body, keep_blank_values=True).items()}
        request_id = hashlib.sha256(request.body.encode()).hexdigest()[:32]
        try:
            if "payload" in form:
                body = self._interaction(form["payload"], request_id, context)
            elif "command" in form:
                body = self._command(form, request_id, context)
            else:
                body = None
        except ValidationError as e:  # e.g. "create 0h": a duration out of bounds
            body = messages.error_answer(refused(invalid(e))["message"], self._environment())
        except BastionError as e:
            refused(e)  # logged and counted like every refusal
            body = messages.error_answer(e.message, self._environment())
        if body is None:
            logger.warning("malformed Slack request (signed, but not a command or button)")
            return HttpAnswer(400, {"error": "not a slash command or interaction"})
        return HttpAnswer(200, body)

    # ------------------------------------------------------------------ the gate
    def _signed(self, request: HttpRequest) -> bool:
        from slack_sdk.signature import Clock, SignatureVerifier

        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        # slack-sdk raises on these (int() of the timestamp, compare_digest of non-ASCII).
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if not (signature.isascii() and signature.startswith("v0=")):
            return False
        secret = self.signing_secret()
        if not secret or not secret.strip():  # slack-sdk raises on a blank one
            logger.error("no signing_secret in the Slack secret (SLACK_SECRET_ARN): refusing")
            return False
        clock = self.clock

        class _Clock(Clock):
            def now(self) -> float:
                return clock().timestamp()

        verifier = SignatureVerifier(signing_secret=secret, clock=_Clock())
        return verifier.is_valid(body=request.body, timestamp=timestamp, signature=signature)

    def _environment(self) -> str:
        try:
            return self.settings().environment
        except BastionError:
            return "this deployment"

    # ------------------------------------------------------------------ slash commands
    def _command(
        self, form: dict[str, str], request_id: str, context: Any
    ) -> dict[str, Any] | None:
        user_id = form.get("user_id", "")
        if not re.match(USER_ID, user_id) or len(user_id) > 64:
            return None
        settings = self.settings()
        served = settings.environment
        command = commands.parse(form.get("text", ""), served)
        if command.environment and command.environment.lower() != served.lower():
            return messages.answer(
                f"This `{form.get('command', '/infra')}` serves *{served}*, not "
                f"*{command.environment}*. Use the command of the {command.environment} "
                f"deployment, or `/infra bastion {command.verb} {served}`."
            )
        actor = Actor("slack", user_id, username=_username(form.get("user_name", "")))
        if command.verb == "help":
            return messages.help_answer(_help(settings), served, command.unknown)
        if command.verb == "list":
            result = self.dispatcher.dispatch(
                actor, ListBastions(action="list"), request_id=request_id
            )
            return self._answer(result, lambda r: messages.list_answer(r["bastions"], served))
        if command.verb == "status":
            result = self.dispatcher.dispatch(
                actor, Status(action="status", user_id=user_id), request_id=request_id
            )
            return self._answer(result, lambda r: messages.status_answer(r, served))
        action: Create | Extend | Destroy | Approve | Deny
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
            action = Extend(action="extend", user_id=user_id)
        else:
            action = Destroy(action="destroy", user_id=user_id)
        return self._slow(
            actor, action, form.get("response_url"), request_id, context, replace_original=False
        )

    # ------------------------------------------------------------------ buttons
    def _interaction(self, raw: str, request_id: str, context: Any) -> dict[str, Any] | None:
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return None
        if not isinstance(payload, dict):
            return None
        if payload.get("type") != "block_actions":
            return {}
        user, actions = payload.get("user"), payload.get("actions")
        if not isinstance(user, dict) or not isinstance(actions, list):
            return None
        user_id = user.get("id")
        if not isinstance(user_id, str) or not re.match(USER_ID, user_id) or len(user_id) > 64:
            return None
        name = user.get("username") or user.get("name")
        actor = Actor("slack", user_id, username=_username(name if isinstance(name, str) else ""))
        for item in actions:
            if not isinstance(item, dict):
                return None
            verb = BUTTONS.get(str(item.get("action_id", "")))
            if verb is None:
                continue
            action = _button(verb, item.get("value"), user_id)
            if action is None:
                what = "request" if verb in ("approve", "deny") else "bastion"
                return messages.answer(f"That button does not name a {what}.")
            url = payload.get("response_url")
            return self._slow(
                actor,
                action,
                url if isinstance(url, str) else None,
                request_id,
                context,
                # a warning's buttons give way to the result; an approval request stays, and
                # is updated in place for everyone once decided
                replace_original=verb in ("extend", "destroy"),
            )
        return {}

    # ------------------------------------------------------------------ slow work
    def _slow(
        self,
        actor: Actor,
        action: Create | Extend | Destroy | Approve | Deny,
        response_url: str | None,
        request_id: str,
        context: Any,
        *,
        replace_original: bool,
    ) -> dict[str, Any]:
        # The policy first: a refusal is answered now, with nothing queued.
        self.dispatcher.decide(actor, action)
        if response_url is not None and not re.match(SLACK_RESPONSE_URL, response_url):
            logger.warning("response_url is not Slack's; replies go by direct message only")
            count("ForeignResponseUrls")
            response_url = None
        job = SlackJob(
            user_id=actor.user_id or "",
            username=actor.username or "slack-user",
            action=action,
            request_id=request_id,
            response_url=response_url,
            replace_original=replace_original,
        )
        if not self._enqueue(job, context):
            result = self.jobs().run(job, context)
            if result.get("pending_approval"):
                return messages.answer(str(result.get("message")))
            if result.get("success"):
                return messages.answer(
                    f"Done: {action.action} {result.get('instance_id')}, expires "
                    f"{result.get('expires_at')}. Details in your direct messages."
                )
            return messages.error_answer(str(result.get("message")), self._environment())
        what = (
            getattr(action, "instance_id", None)
            or getattr(action, "approval_id", None)
            or f"your bastion in {self._environment()}"
        )
        return messages.answer(
            f"{_SLOW[action.action]} {what}… I'll post the result here and in a direct message."
        )

    def _enqueue(self, job: SlackJob, context: Any) -> bool:
        """Hand the slow work to an async invocation of this very function, sealed. False
        when that is impossible (no function ARN, Invoke refused): the work is done inline."""
        function_arn = getattr(context, "invoked_function_arn", None)
        secret = self.signing_secret()
        if not isinstance(function_arn, str) or not function_arn.startswith("arn:") or not secret:
            logger.warning("no function ARN in the Lambda context; doing the work inline")
            return False
        try:
            self.enqueue(function_arn, seal(job, secret, self.clock()))
        except Exception as e:
            count("SelfInvokeFailures")
            logger.error(
                "async self-invocation failed; doing the work inline (check "
                "lambda:InvokeFunction on this function)",
                extra={"error": repr(e)},
            )
            return False
        logger.info(
            "slack job queued", extra={"verb": job.action.action, "request_id": job.request_id}
        )
        return True

    def _answer(
        self, result: dict[str, Any], render: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        if not result.get("success"):
            return messages.error_answer(str(result.get("message")), self._environment())
        return render(result)


def _button(verb: str, value: Any, user_id: str) -> Extend | Destroy | Approve | Deny | None:
    """The action a button stands for; None when its value is not what that button carries
    (an instance id, or an approval request's id)."""
    if not isinstance(value, str):
        return None
    if verb in ("approve", "deny"):
        if not re.match(APPROVAL_ID, value):
            return None
        if verb == "approve":
            return Approve(action="approve", approval_id=value)
        return Deny(action="deny", approval_id=value)
    if not re.match(INSTANCE_ID, value):
        return None
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
