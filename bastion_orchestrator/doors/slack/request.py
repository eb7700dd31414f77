"""One signed Slack request, parsed once: what both halves of the door read.

``SlackRequest.read`` takes the form of a slash command or an interaction (the signed body,
or the part of it a sealed continuation kept) and parses it once: its JSON payload, its
command text, its first button of ours, its user, app and workspace, and where replies may
go. Frozen, pydantic-free and light: the cold acknowledgement builds it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal
from urllib.parse import parse_qs

from bastion_orchestrator.domain.ids import (
    APPROVAL_ID,
    INSTANCE_ID,
    SLACK_RESPONSE_URL,
    USER_ID,
    USER_ID_MAX,
)
from bastion_orchestrator.doors.slack import commands
from bastion_orchestrator.presenters.slack.actions import (
    APPROVE_ACTION,
    DENY_ACTION,
    DESTROY_ACTION,
    EXTEND_ACTION,
)

# A button's action_id -> its verb; every button is slow work.
BUTTONS: Final = {
    EXTEND_ACTION: "extend",
    DESTROY_ACTION: "destroy",
    APPROVE_ACTION: "approve",
    DENY_ACTION: "deny",
}
APPROVAL_VERBS: Final = frozenset({"approve", "deny"})  # their value is a request's id
# A queued request, as its sealed continuation carries it: the signed request's id, and the
# fields the deciding half reads, nothing else (no verification token, trigger id, channel or
# message: the async event may end in a dead-letter queue).
QUEUED_FORM: Final = "slack_form"
QUEUED_ID: Final = "request_id"
_COMMAND_FIELDS: Final = ("command", "text", "user_id", "user_name", "response_url")
_USER_FIELDS: Final = ("id", "username", "name")
_ACTION_FIELDS: Final = ("action_id", "value")
Kind = Literal["command", "button", "interaction", "unknown"]
_REQUEST_ID: Final = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Button:
    """The first button of ours a press carries: its verb and the value it came with."""

    verb: str
    value: Any

    @property
    def names_its_target(self) -> bool:
        return names_its_target(self.verb, self.value)


@dataclass(frozen=True)
class SlackRequest:
    request_id: str
    form: Mapping[str, str]
    kind: Kind  # interaction: a payload of another type; unknown: not ours to read
    user_id: str | None = None  # only a valid Slack user id
    user_name: str = ""
    app_id: Any = None  # api_app_id, as it came (None: absent or unreadable)
    team_id: Any = None
    command: commands.Command | None = None  # parsed for ``served``
    served: str = ""  # the environment the command was parsed for
    slash: str = "/infra"
    button: Button | None = None
    response_url: str | None = None  # only one of Slack's own hooks
    foreign_response_url: bool = False  # a response_url was given that is not Slack's
    payload: dict[str, Any] | None = None  # an interaction's JSON

    @classmethod
    def read(cls, form: Mapping[str, str], request_id: str, served: str) -> SlackRequest:
        if "payload" in form:
            return _interaction(form, request_id)
        if "command" not in form:
            return cls(request_id, form, "unknown")
        user_id = form.get("user_id", "")
        url = form.get("response_url")
        return cls(
            request_id,
            form,
            "command",
            user_id=user_id if valid_user_id(user_id) else None,
            user_name=form.get("user_name", ""),
            app_id=form.get("api_app_id"),
            team_id=form.get("team_id"),
            command=commands.parse(form.get("text", ""), served),
            served=served,
            slash=form.get("command", "/infra"),
            response_url=slack_hook(url),
            foreign_response_url=url is not None and slack_hook(url) is None,
        )

    @classmethod
    def parse(cls, body: str) -> SlackRequest:
        """The signed body of a request, for the environment this function serves."""
        return cls.read(form_of(body), request_id_of(body), served_here())

    @classmethod
    def unqueued(cls, job: Mapping[str, Any], served: str) -> SlackRequest | None:
        """The request a sealed job carries; None when the job is not one ``queued`` made."""
        form, request_id = job.get(QUEUED_FORM), job.get(QUEUED_ID)
        if (
            set(job) != {QUEUED_FORM, QUEUED_ID}
            or not isinstance(form, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in form.items())
            or not isinstance(request_id, str)
            or not _REQUEST_ID.fullmatch(request_id)
        ):
            return None
        return cls.read(form, request_id, served)

    def for_environment(self, served: str) -> SlackRequest:
        """The same request with its command parsed for ``served`` (once, if it differs)."""
        if self.kind != "command" or served == self.served:
            return self
        command = commands.parse(self.form.get("text", ""), served)
        return replace(self, command=command, served=served)

    def queued(self) -> dict[str, Any]:
        """The job a slow request is queued as: what the deciding half reads of it, its id."""
        if self.payload is None:
            kept = {k: self.form[k] for k in _COMMAND_FIELDS if k in self.form}
            return {QUEUED_FORM: kept, QUEUED_ID: self.request_id}
        reduced: dict[str, Any] = {
            "type": self.payload.get("type"),
            "user": {k: v for k, v in self.payload["user"].items() if k in _USER_FIELDS},
            "actions": [
                {k: v for k, v in item.items() if k in _ACTION_FIELDS}
                for item in self.payload["actions"]
                if isinstance(item, dict)
            ],
        }
        if "response_url" in self.payload:
            reduced["response_url"] = self.payload["response_url"]
        return {QUEUED_FORM: {"payload": json.dumps(reduced)}, QUEUED_ID: self.request_id}


def _interaction(form: Mapping[str, str], request_id: str) -> SlackRequest:
    try:
        payload = json.loads(form["payload"])
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        payload = None
    if not isinstance(payload, dict):
        return SlackRequest(request_id, form, "unknown")
    team = payload.get("team")
    app_id = payload.get("api_app_id")
    team_id = team.get("id") if isinstance(team, dict) else None
    if payload.get("type") != "block_actions":
        return SlackRequest(request_id, form, "interaction", app_id=app_id, team_id=team_id)
    user, actions = payload.get("user"), payload.get("actions")
    if not (isinstance(user, dict) and isinstance(actions, list) and valid_user_id(user.get("id"))):
        return SlackRequest(request_id, form, "unknown", app_id=app_id, team_id=team_id)
    name = user.get("username") or user.get("name")
    url = payload.get("response_url")
    return SlackRequest(
        request_id,
        form,
        "button",
        user_id=user["id"],
        user_name=name if isinstance(name, str) else "",
        button=_first_button(actions),
        response_url=slack_hook(url),
        foreign_response_url=isinstance(url, str) and slack_hook(url) is None,
        payload=payload,
        app_id=app_id,
        team_id=team_id,
    )


_MALFORMED: Final = Button("", None)  # an action that is not an object: nothing is ours


def _first_button(actions: list[Any]) -> Button | None:
    for item in actions:
        if not isinstance(item, dict):
            return _MALFORMED
        verb = BUTTONS.get(str(item.get("action_id", "")))
        if verb is not None:
            return Button(verb, item.get("value"))
    return None


def served_here() -> str:
    """``ENVIRONMENT``, read without the settings model (the cold acknowledgement loads
    none); the deciding half parses again only if the validated settings say otherwise."""
    return os.environ.get("ENVIRONMENT", "")


def form_of(body: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def request_id_of(body: str) -> str:
    """The signed request's id: its RunInstances client token and idempotency key, the same
    however often the request (or its continuation) is delivered."""
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def valid_user_id(user_id: Any) -> bool:
    if not isinstance(user_id, str) or len(user_id) > USER_ID_MAX:
        return False
    return re.fullmatch(USER_ID, user_id) is not None


def names_its_target(verb: str, value: Any) -> bool:
    """A button's value is what that button carries: an approval request's id for approve
    and deny, an instance id for extend and destroy."""
    shape = APPROVAL_ID if verb in APPROVAL_VERBS else INSTANCE_ID
    return isinstance(value, str) and re.fullmatch(shape, value) is not None


def slack_hook(url: Any) -> str | None:
    """The URL if it is one of Slack's own hooks (the only place replies ever go)."""
    return url if isinstance(url, str) and re.fullmatch(SLACK_RESPONSE_URL, url) else None
