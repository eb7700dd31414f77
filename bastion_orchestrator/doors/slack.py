"""The Slack door: slash commands and buttons through the public Function URL.

Order matters: the v0 signature is checked on the raw body before anything is parsed; a
missing, malformed, forged or stale one answers 401 and changes nothing. So does a signed
request from a Slack app or workspace other than the one the deployment pins
(``SLACK_APP_ID``, ``SLACK_TEAM_ID``; blank pins nothing): one signing secret may serve an
app installed in many workspaces, or several deployments. Quick verbs (help,
list, status) are then answered inline by the deciding half (``doors.slack_forms``). Slow
verbs (create, extend, destroy, approve, deny) are acknowledged at once: the signed request
itself is sealed (``app.sealing``) and handed to an asynchronous invocation of this function,
which decides it exactly as it would have been decided inline (the signed ``user_id`` is the
actor; the policy may refuse) and reports only to Slack, through ``response_url`` and a
direct message.

Acknowledging before deciding keeps the cold acknowledgement to what Slack's signature and
the queueing need: no pydantic, no settings model, no use case (``make bench`` measures it
against its floor). A refusal of slow work arrives a moment later in the same place; with no
function ARN, or an Invoke that fails, the request is decided and run inline instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

from bastion_orchestrator.app.sealing import seal, usable
from bastion_orchestrator.domain.ids import (
    APPROVAL_ID,
    INSTANCE_ID,
    SLACK_RESPONSE_URL,
    USER_ID,
    USER_ID_MAX,
)
from bastion_orchestrator.doors.function_url import HttpAnswer, HttpRequest
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.slack import commands, messages

if TYPE_CHECKING:
    from bastion_orchestrator.doors.slack_forms import SlackForms

# A button's action_id -> its verb; every button is slow work.
BUTTONS: Final = {
    messages.EXTEND_ACTION: "extend",
    messages.DESTROY_ACTION: "destroy",
    messages.APPROVE_ACTION: "approve",
    messages.DENY_ACTION: "deny",
}
APPROVAL_VERBS: Final = frozenset({"approve", "deny"})  # their value is a request's id
SLOW: Final = {
    "create": "Launching",
    "extend": "Extending",
    "destroy": "Destroying",
    "approve": "Approving",
    "deny": "Denying",
}
# A queued request, as its sealed continuation carries it: the signed request's id, and the
# fields the deciding half reads, nothing else (no verification token, trigger id, channel or
# message: the async event may end in a dead-letter queue).
QUEUED_FORM: Final = "slack_form"
QUEUED_ID: Final = "request_id"
_COMMAND_FIELDS: Final = ("command", "text", "user_id", "user_name", "response_url")
_USER_FIELDS: Final = ("id", "username", "name")
_ACTION_FIELDS: Final = ("action_id", "value")


@dataclass(frozen=True)
class SlackPins:
    """The Slack app (``api_app_id``) and workspace (``team_id``) the deployment answers;
    None pins nothing. Read from the environment, not the settings model: the gate needs it."""

    app_id: str | None = None
    team_id: str | None = None

    @classmethod
    def here(cls) -> SlackPins:
        return cls(
            os.environ.get("SLACK_APP_ID", "").strip() or None,
            os.environ.get("SLACK_TEAM_ID", "").strip() or None,
        )

    def admit(self, form: dict[str, str]) -> bool:
        """The signed form comes from the pinned app and workspace (always, when unpinned)."""
        if self.app_id is None and self.team_id is None:
            return True
        app_id, team_id = origin_of(form)
        return (self.app_id is None or app_id == self.app_id) and (
            self.team_id is None or team_id == self.team_id
        )


@dataclass(frozen=True)
class SlackDoor:
    forms: Callable[[], SlackForms]  # the deciding half, built only when a request needs it
    signing_secret: Callable[[], str | None]
    clock: Callable[[], datetime]
    enqueue: Callable[[str, dict[str, Any]], None]
    pins: Callable[[], SlackPins] = SlackPins.here

    def __call__(self, request: HttpRequest, context: Any) -> HttpAnswer:
        if not self._signed(request):
            count("SlackRequestsRejected")
            return HttpAnswer(401, {"error": "invalid_signature"})
        form = form_of(request.body)
        if not self.pins().admit(form):
            # Answered as an unsigned request is: this deployment does not vouch for it.
            count("SlackRequestsRejected")
            app_id, team_id = origin_of(form)
            logger.warning(
                "signed Slack request from another app or workspace (SLACK_APP_ID, "
                "SLACK_TEAM_ID): refused, nothing done",
                extra={"api_app_id": str(app_id)[:40], "team_id": str(team_id)[:40]},
            )
            return HttpAnswer(401, {"error": "invalid_signature"})
        if request.method != "POST":
            return HttpAnswer(400, {"error": "not a slash command or interaction"})
        request_id = request_id_of(request.body)
        acknowledgement = _slow_work(form)
        if acknowledgement is not None and self._enqueue(form, request_id, context):
            return HttpAnswer(200, messages.answer(acknowledgement))
        body = self.forms().answer(form, request_id, context)
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
        if not usable(secret):  # slack-sdk raises on a blank one
            logger.error("no signing_secret in the Slack secret (SLACK_SECRET_ARN): refusing")
            return False
        clock = self.clock

        class _Clock(Clock):
            def now(self) -> float:
                return clock().timestamp()

        verifier = SignatureVerifier(signing_secret=secret, clock=_Clock())
        return verifier.is_valid(body=request.body, timestamp=timestamp, signature=signature)

    def _enqueue(self, form: dict[str, str], request_id: str, context: Any) -> bool:
        """Hand the signed request to an async invocation of this very function, sealed.
        False when that is impossible (no function ARN, Invoke refused): it is done inline."""
        function_arn = getattr(context, "invoked_function_arn", None)
        secret = self.signing_secret()
        if not isinstance(function_arn, str) or not function_arn.startswith("arn:"):
            logger.warning("no function ARN in the Lambda context; doing the work inline")
            return False
        if not usable(secret):  # never sealed under a blank key (the gate refused it anyway)
            return False
        try:
            self.enqueue(function_arn, seal(queued(form, request_id), secret, self.clock()))
        except Exception as e:
            count("SelfInvokeFailures")
            logger.error(
                "async self-invocation failed; doing the work inline (check "
                "lambda:InvokeFunction on this function)",
                extra={"error": repr(e)},
            )
            return False
        logger.info("slack request queued", extra={"request_id": request_id})
        return True


# ---------------------------------------------------------------------- reading the form
# Light on purpose, and shared with the deciding half: the acknowledgement needs them.
def form_of(body: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def origin_of(form: dict[str, str]) -> tuple[Any, Any]:
    """The app and workspace a form names: a slash command's ``api_app_id`` and ``team_id``,
    an interaction's ``api_app_id`` and ``team.id`` (None where absent or malformed)."""
    if "payload" not in form:
        return form.get("api_app_id"), form.get("team_id")
    try:
        payload = json.loads(form["payload"])
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    team = payload.get("team")
    return payload.get("api_app_id"), team.get("id") if isinstance(team, dict) else None


def queued(form: dict[str, str], request_id: str) -> dict[str, Any]:
    """The job a slow request is queued as: what the deciding half reads of it, and its id."""
    kept: dict[str, str]
    payload = button_payload(form["payload"]) if "payload" in form else None
    if payload is not None:
        reduced: dict[str, Any] = {
            "type": payload.get("type"),
            "user": {k: v for k, v in payload.get("user", {}).items() if k in _USER_FIELDS},
            "actions": [
                {k: v for k, v in item.items() if k in _ACTION_FIELDS}
                for item in payload.get("actions", [])
                if isinstance(item, dict)
            ],
        }
        if "response_url" in payload:
            reduced["response_url"] = payload["response_url"]
        kept = {"payload": json.dumps(reduced)}
    else:
        kept = {k: form[k] for k in _COMMAND_FIELDS if k in form}
    return {QUEUED_FORM: kept, QUEUED_ID: request_id}


def request_id_of(body: str) -> str:
    """The signed request's id: its RunInstances client token and idempotency key, the same
    however often the request (or its continuation) is delivered."""
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def valid_user_id(user_id: Any) -> bool:
    if not isinstance(user_id, str) or len(user_id) > USER_ID_MAX:
        return False
    return re.fullmatch(USER_ID, user_id) is not None


def button_payload(raw: str) -> dict[str, Any] | None:
    """A button press's JSON payload, with a valid user and a list of actions (any other
    interaction type as it came); None when it is neither."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    if not isinstance(payload, dict):
        return None
    if payload.get("type") != "block_actions":
        return payload
    user, actions = payload.get("user"), payload.get("actions")
    if not isinstance(user, dict) or not isinstance(actions, list):
        return None
    return payload if valid_user_id(user.get("id")) else None


def button_names(verb: str) -> str:
    return "request" if verb in APPROVAL_VERBS else "bastion"


def names_its_target(verb: str, value: Any) -> bool:
    """A button's value is what that button carries: an approval request's id for approve
    and deny, an instance id for extend and destroy."""
    shape = APPROVAL_ID if verb in APPROVAL_VERBS else INSTANCE_ID
    return isinstance(value, str) and re.fullmatch(shape, value) is not None


def slack_hook(url: Any) -> str | None:
    """The URL if it is one of Slack's own hooks (the only place replies ever go)."""
    return url if isinstance(url, str) and re.fullmatch(SLACK_RESPONSE_URL, url) else None


def response_url_of(form: dict[str, str]) -> str | None:
    """Where the user asked: the command's or the button's response_url, if it is Slack's."""
    url: Any = form.get("response_url")
    if "payload" in form:
        payload = button_payload(form["payload"])
        url = payload.get("response_url") if payload else None
    return slack_hook(url)


def _slow_work(form: dict[str, str]) -> str | None:
    """The acknowledgement of a slow verb to queue; None when the request is answered now
    (quick verbs, help, anything malformed, a button that names nothing)."""
    if "payload" in form:
        payload = button_payload(form["payload"])
        if payload is None or payload.get("type") != "block_actions":
            return None
        for item in payload["actions"]:
            if not isinstance(item, dict):
                return None
            verb = BUTTONS.get(str(item.get("action_id", "")))
            if verb is None:
                continue
            value = item.get("value")
            if not names_its_target(verb, value):
                return None  # answered now: that button does not name anything
            return _acknowledge(verb, str(value))
        return None
    if "command" not in form or not valid_user_id(form.get("user_id", "")):
        return None
    # The verb does not depend on the environment served; the deciding half checks that.
    command = commands.parse(form.get("text", ""), served="")
    if command.verb not in SLOW:
        return None
    what = command.approval_id if command.verb in APPROVAL_VERBS else None
    if what is not None and not names_its_target(command.verb, what):
        what = "that request"
    return _acknowledge(command.verb, what or "your bastion")


def _acknowledge(verb: str, what: str) -> str:
    return f"{SLOW[verb]} {what}… I'll post the result here and in a direct message."
