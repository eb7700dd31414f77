"""A bastion as the contract's JSON describes it, and what the CLI needs to connect to it.

The Session Manager documents come from the answer's ``connection`` field: the commands the
orchestrator writes there name the deployment's ``SESSION_DOCUMENT`` and
``PORT_FORWARD_DOCUMENT`` (the module's logged shell and its port forward pinned to the
database), and ``bastion_user_policy_json`` allows sessions through those documents only.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

GONE: Final = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
DEFAULT_PORT_FORWARD: Final = "AWS-StartPortForwardingSessionToRemoteHost"


@dataclass(frozen=True)
class PortForward:
    document: str
    host: str
    port: int


@dataclass(frozen=True)
class Bastion:
    instance_id: str
    state: str | None
    ready: bool
    ssm_status: str | None
    expires_at: datetime | None
    seconds_left: int | None
    shell_document: str | None
    forward: PortForward | None
    existing: bool
    raw: dict[str, Any]

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Bastion:
        connection = answer.get("connection") or {}
        ssm_status = answer.get("ssm_status")
        ready = answer.get("ready")
        return cls(
            instance_id=str(answer["instance_id"]),
            state=answer.get("state"),
            # `ready` when the orchestrator says it; older ones only give ssm_status.
            ready=bool(ready) if isinstance(ready, bool) else ssm_status == "Online",
            ssm_status=ssm_status if isinstance(ssm_status, str) else None,
            expires_at=_time(answer.get("expires_at")),
            seconds_left=_int(answer.get("time_remaining_seconds")),
            shell_document=_option(connection.get("terminal"), "--document-name"),
            forward=_port_forward(connection.get("port_forward"), answer),
            existing=bool(answer.get("existing")),
            raw=answer,
        )

    @property
    def gone(self) -> bool:
        return self.state in GONE

    def remaining(self, now: datetime) -> float | None:
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()


def _time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _option(command: Any, name: str) -> str | None:
    if not isinstance(command, str):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i, word in enumerate(words[:-1]):
        if word == name:
            return words[i + 1]
    return None


def _port_forward(command: Any, answer: dict[str, Any]) -> PortForward | None:
    """The forward's document, host and port, from the ``aws ssm start-session`` command."""
    if not isinstance(command, str):
        return None
    document = _option(command, "--document-name") or DEFAULT_PORT_FORWARD
    try:
        parameters = json.loads(_option(command, "--parameters") or "{}")
    except ValueError:
        parameters = {}
    host = _first(parameters.get("host")) or answer.get("rds_endpoint")
    port = _first(parameters.get("portNumber"))
    if not host or not port or not str(port).isdigit():
        return None
    return PortForward(document, str(host), int(port))


def _first(value: Any) -> str | None:
    if isinstance(value, list) and value:
        return str(value[0])
    return str(value) if isinstance(value, str | int) else None


def describe_remaining(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def clock_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC") if moment else "?"
