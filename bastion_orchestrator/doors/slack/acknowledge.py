"""The Slack door: slash commands and buttons through the public Function URL.

Order matters: the v0 signature is checked on the raw body before anything is parsed; a
missing, malformed, forged or stale one answers 401 and changes nothing. So does a signed
request from a Slack app or workspace other than the one the deployment pins
(``SLACK_APP_ID``, ``SLACK_TEAM_ID``; blank pins nothing): one signing secret may serve an
app installed in many workspaces, or several deployments. Quick verbs (help,
list, status) are then answered inline by the deciding half (``decide``). Slow
verbs (create, extend, destroy, approve, deny) are acknowledged at once: the signed request
itself is sealed (``sealing``) and handed to an asynchronous invocation of this function,
which decides it exactly as it would have been decided inline (the signed ``user_id`` is the
actor; the policy may refuse) and reports only to Slack, through ``response_url`` and a
direct message.

Acknowledging before deciding keeps the cold acknowledgement to what Slack's signature and
the queueing need: no pydantic, no settings model, no use case (``make bench`` measures it
against its floor). A refusal of slow work arrives a moment later in the same place; with no
function ARN, or an Invoke that fails, the request is decided and run inline instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.doors.http import HttpAnswer, HttpRequest
from bastion_orchestrator.doors.slack.request import APPROVAL_VERBS, SlackRequest, names_its_target
from bastion_orchestrator.doors.slack.sealing import seal, usable
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.presenters.slack.answers import answer

if TYPE_CHECKING:
    from bastion_orchestrator.doors.slack.decide import SlackForms

SLOW: Final = {
    "create": "Launching",
    "extend": "Extending",
    "destroy": "Destroying",
    "approve": "Approving",
    "deny": "Denying",
}
_REFUSED: Final = HttpAnswer(401, {"error": "invalid_signature"})
_NOT_OURS: Final = HttpAnswer(400, {"error": "not a slash command or interaction"})


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

    def admit(self, request: SlackRequest) -> bool:
        """The signed form comes from the pinned app and workspace (always, when unpinned)."""
        if self.app_id is None and self.team_id is None:
            return True
        return (self.app_id is None or request.app_id == self.app_id) and (
            self.team_id is None or request.team_id == self.team_id
        )


@dataclass(frozen=True)
class SlackDoor:
    forms: Callable[[], SlackForms]  # the deciding half, built only when a request needs it
    signing_secret: Callable[[], str | None]
    clock: Callable[[], datetime]
    enqueue: Callable[[str, dict[str, Any]], None]
    pins: Callable[[], SlackPins] = SlackPins.here

    def __call__(self, http: HttpRequest, context: Any) -> HttpAnswer:
        if not self._signed(http):
            count("SlackRequestsRejected")
            return _REFUSED
        request = SlackRequest.parse(http.body)
        if not self.pins().admit(request):
            # Answered as an unsigned request is: this deployment does not vouch for it.
            count("SlackRequestsRejected")
            logger.warning(
                "signed Slack request from another app or workspace (SLACK_APP_ID, "
                "SLACK_TEAM_ID): refused, nothing done",
                extra={
                    "api_app_id": str(request.app_id)[:40],
                    "team_id": str(request.team_id)[:40],
                },
            )
            return _REFUSED
        if http.method != "POST":
            return _NOT_OURS
        acknowledgement = slow_work(request)
        if acknowledgement is not None and self._enqueue(request, context):
            return HttpAnswer(200, answer(acknowledgement))
        body = self.forms().answer(request, context)
        if body is None:
            logger.warning("malformed Slack request (signed, but not a command or button)")
            return _NOT_OURS
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

    def _enqueue(self, request: SlackRequest, context: Any) -> bool:
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
            self.enqueue(function_arn, seal(request.queued(), secret, self.clock()))
        except Exception as e:
            count("SelfInvokeFailures")
            logger.error(
                "async self-invocation failed; doing the work inline (check "
                "lambda:InvokeFunction on this function)",
                extra={"error": repr(e)},
            )
            return False
        logger.info("slack request queued", extra={"request_id": request.request_id})
        return True


def slow_work(request: SlackRequest) -> str | None:
    """The acknowledgement of a slow verb to queue; None when the request is answered now
    (quick verbs, help, anything malformed, a button that names nothing)."""
    if request.kind == "button":
        button = request.button
        if button is None or not button.names_its_target:
            return None  # answered now: no button of ours, or one that names nothing
        return _acknowledge(button.verb, str(button.value))
    if request.kind != "command" or request.user_id is None or request.command is None:
        return None
    command = request.command
    if command.verb not in SLOW:
        return None
    what = command.approval_id if command.verb in APPROVAL_VERBS else None
    if what is not None and not names_its_target(command.verb, what):
        what = "that request"
    return _acknowledge(command.verb, what or "your bastion")


def _acknowledge(verb: str, what: str) -> str:
    return f"{SLOW[verb]} {what}… I'll post the result here and in a direct message."
