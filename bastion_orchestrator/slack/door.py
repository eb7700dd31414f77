"""The Slack door: one Lambda Function URL for slash commands and buttons.

Order matters: the v0 signature is checked on the raw body before anything is parsed; a
missing, forged or stale one answers 401 and changes nothing. Quick verbs (help, list,
status) are answered inline; create, extend and destroy are acknowledged at once and handed
to an asynchronous invocation of this function (Slack allows 3 seconds).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import parse_qs

from slack_sdk.signature import Clock as SlackClock

from bastion_orchestrator.app import wiring
from bastion_orchestrator.config import Settings, get_settings
from bastion_orchestrator.errors import BastionError
from bastion_orchestrator.observability import audit, count, logger
from bastion_orchestrator.slack import commands, messages
from models import INSTANCE_ID, ListBastions, SlackJob, Status

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
    from aws_lambda_powertools.utilities.typing import LambdaContext

_USERNAME_JUNK: Final = re.compile(r"[^A-Za-z0-9._-]+")
ACTIONS: Final[dict[str, Literal["extend", "destroy"]]] = {
    messages.EXTEND_ACTION: "extend",
    messages.DESTROY_ACTION: "destroy",
}


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _resolver().resolve(event, context)


@cache
def _resolver() -> LambdaFunctionUrlResolver:
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver

    app = LambdaFunctionUrlResolver()

    # Recognised by its form body (command / payload), not by its path.
    @app.post(".+")
    def slack_request() -> Response[str]:
        event = app.current_event
        raw = event.decoded_body or ""
        headers = {k.lower(): v for k, v in (event.headers or {}).items()}
        if not _signed(raw, headers):
            count("SlackRequestsRejected")
            return _json(401, {"error": "invalid_signature"})
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        request_id = hashlib.sha256(raw.encode()).hexdigest()[:32]
        try:
            if "payload" in form:
                return _json(200, _interaction(json.loads(form["payload"]), request_id, app))
            if "command" in form:
                return _json(200, _command(form, request_id, app))
        except BastionError as e:
            return _json(200, messages.error_answer(e.message, _environment()))
        except (ValueError, KeyError, TypeError) as e:
            logger.warning("malformed Slack request", extra={"error": repr(e)})
        return _json(400, {"error": "not a slash command or interaction"})

    return app


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    from aws_lambda_powertools.event_handler import Response

    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


class _SlackClock(SlackClock):
    """slack-sdk's clock interface over our injected one."""

    def now(self) -> float:
        return wiring.now().timestamp()


def _signed(raw: str, headers: dict[str, str]) -> bool:
    from slack_sdk.signature import SignatureVerifier

    secret = wiring.slack_secret().signing_secret
    if not secret:
        logger.error("no signing_secret in the Slack secret (SLACK_SECRET_ARN): refusing")
        return False
    verifier = SignatureVerifier(signing_secret=secret, clock=_SlackClock())
    return verifier.is_valid(
        body=raw,
        timestamp=headers.get("x-slack-request-timestamp"),
        signature=headers.get("x-slack-signature"),
    )


def _environment() -> str:
    try:
        return get_settings().environment
    except BastionError:
        return "this deployment"


# ------------------------------------------------------------------ slash commands
def _command(form: dict[str, str], request_id: str, app: Any) -> dict[str, Any]:
    settings = get_settings()
    user_id, username = form.get("user_id", ""), _username(form.get("user_name", ""))
    command = commands.parse(form.get("text", ""), settings.environment)
    served = settings.environment
    if command.environment and command.environment.lower() != served.lower():
        return messages.answer(
            f"This `{form.get('command', '/infra')}` serves *{served}*, not "
            f"*{command.environment}*. Use the command of the {command.environment} "
            f"deployment, or `/infra bastion {command.verb} {served}`."
        )
    logger.append_keys(actor=user_id, action=f"slack:{command.verb}")
    if command.verb == "help":
        return messages.help_answer(_help(settings), served, command.unknown)
    service = wiring.orchestrator()
    if command.verb == "list":
        views = service.list(ListBastions(action="list"))["bastions"]
        return messages.list_answer(views, served)
    if command.verb == "status":
        return messages.status_answer(
            service.status(Status(action="status", user_id=user_id)), served
        )
    if (
        command.verb == "create"
        and settings.allowed_user_ids
        and (user_id not in settings.allowed_user_ids)
    ):
        audit("create refused: not allowed", actor=user_id, action="create", instance_id=None)
        return messages.answer(
            f"You are not on the list of people who may create bastions in {served}. Ask a "
            "platform admin to add your Slack user id to ALLOWED_USER_IDS."
        )
    job = SlackJob(
        verb=command.verb,
        user_id=user_id,
        username=username,
        reason=command.reason,
        response_url=form.get("response_url") or None,
        request_id=request_id,
    )
    if not _enqueue(job, app):
        return _inline(job)
    verb = {"create": "Launching", "extend": "Extending", "destroy": "Destroying"}[command.verb]
    return messages.answer(
        f"{verb} your bastion in {served}… I'll post the result here and in a direct message."
    )


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


# ------------------------------------------------------------------ buttons
def _interaction(payload: dict[str, Any], request_id: str, app: Any) -> dict[str, Any]:
    if payload.get("type") != "block_actions":
        return {}
    user = payload.get("user") or {}
    for action in payload.get("actions") or []:
        verb = ACTIONS.get(action.get("action_id", ""))
        instance_id = str(action.get("value", ""))
        if verb is None:
            continue
        if not re.match(INSTANCE_ID, instance_id):
            return messages.answer("That button does not name a bastion.")
        job = SlackJob(
            verb=verb,
            user_id=user["id"],
            username=_username(user.get("username") or user.get("name") or ""),
            instance_id=instance_id,
            response_url=payload.get("response_url"),
            replace_original=True,
            request_id=request_id,
        )
        if not _enqueue(job, app):
            return _inline(job)
        return messages.answer(f"{verb.capitalize()}ing {instance_id}…")
    return {}


def _enqueue(job: SlackJob, app: Any) -> bool:
    """Hand the slow work to an async invocation of this very function. False when that is
    impossible (no function ARN, Invoke refused): the caller then does the work inline."""
    function_arn = getattr(app.lambda_context, "invoked_function_arn", None)
    if not isinstance(function_arn, str) or not function_arn:
        logger.warning("no function ARN in the Lambda context; doing the work inline")
        return False
    try:
        wiring.self_invoker().invoke_async(function_arn, {"slack_job": job.model_dump(mode="json")})
    except Exception as e:
        count("SelfInvokeFailures")
        logger.error(
            "async self-invocation failed; doing the work inline (check lambda:InvokeFunction "
            "on this function)",
            extra={"error": repr(e)},
        )
        return False
    logger.info(
        "slack job queued",
        extra={"verb": job.verb, "request_id": job.request_id, "user_id": job.user_id},
    )
    return True


def _inline(job: SlackJob) -> dict[str, Any]:
    """Degraded path: run the job now and answer with its result."""
    from bastion_orchestrator.app import slack_jobs

    result = slack_jobs.run(job)
    if result.get("success"):
        return messages.answer(
            f"Done: {job.verb} {result.get('instance_id')}, expires {result.get('expires_at')}. "
            "Details in your direct messages."
        )
    return messages.error_answer(str(result.get("message")), _environment())
