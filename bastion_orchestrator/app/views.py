"""How a bastion looks in responses and messages: the contract's fields, times in UTC."""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bastion_orchestrator.clock import iso
from bastion_orchestrator.config import Settings
from bastion_orchestrator.domain.bastion import GONE_STATES, Bastion, Lifetime
from bastion_orchestrator.errors import InvalidRequest


def connection(
    instance_id: str,
    region: str | None,
    rds_endpoint: str | None,
    rds_port: int,
    *,
    session_document: str | None = None,
    port_forward_document: str = "AWS-StartPortForwardingSessionToRemoteHost",
) -> dict[str, str]:
    """The two commands a user copies: a shell, and (with an RDS endpoint) a port forward,
    each through the deployment's Session Manager document (the module's logged ones)."""
    where = f" --region {region}" if region else ""
    shell = f" --document-name {session_document}" if session_document else ""
    commands = {"terminal": f"aws ssm start-session --target {instance_id}{where}{shell}"}
    if rds_endpoint:
        parameters = json.dumps(
            {
                "host": [rds_endpoint],
                "portNumber": [str(rds_port)],
                "localPortNumber": [str(rds_port)],
            },
            separators=(",", ":"),
        )
        commands["port_forward"] = (
            f"aws ssm start-session --target {instance_id}{where} "
            f"--document-name {port_forward_document} --parameters {shlex.quote(parameters)}"
        )
    return commands


def instructions(commands: dict[str, str], rds_port: int) -> str:
    """One copy-pasteable text: the terminal command, then the port forward when known."""
    text = f"Terminal: {commands['terminal']}"
    if "port_forward" in commands:
        text += f"\nRDS port forward (then connect to localhost:{rds_port}): "
        text += commands["port_forward"]
    return text + "\nRequires the AWS CLI Session Manager plugin."


def bastion_view(
    bastion: Bastion,
    rules: Lifetime,
    now: datetime,
    *,
    region: str | None,
    settings: Settings,
    detailed: bool = False,
) -> dict[str, Any]:
    endpoint = bastion.rds_endpoint or settings.rds_endpoint
    port = bastion.rds_port or settings.rds_port
    view: dict[str, Any] = {
        "success": True,
        "instance_id": bastion.instance_id,
        "private_ip": bastion.private_ip,
        "created_at": iso(bastion.created_at),
        "expires_at": iso(bastion.expires_at(rules)),
    }
    if bastion.state in GONE_STATES:
        # Nothing to connect to: a terminated bastion's answers carry no commands.
        view["connection_instructions"] = (
            f"None: {bastion.instance_id} is {bastion.state}. Create a new bastion to connect."
        )
        view["connection"] = {}
    else:
        commands = connection(
            bastion.instance_id,
            region,
            endpoint,
            port,
            session_document=settings.session_document,
            port_forward_document=settings.port_forward_document,
        )
        view["connection_instructions"] = instructions(commands, port)
        view["connection"] = commands
    if detailed:
        view.update(
            state=bastion.state,
            requested_by=bastion.username,
            user_id=bastion.user_id,
            display_name=bastion.display_name,
            time_remaining_seconds=(
                bastion.seconds_remaining(rules, now) if bastion.is_active else 0
            ),
            rds_endpoint=endpoint,
        )
    return view


def _value(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_error(
    error: ValidationError, hints: dict[str, str], allowed: dict[str, list[str]]
) -> InvalidRequest:
    """Turn pydantic's errors into one sentence per problem, each saying how to fix it."""
    problems: list[dict[str, str]] = []
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ())]
        kind = item.get("type", "")
        action = loc[0] if loc else None
        field = loc[-1] if len(loc) > 1 else None
        if kind == "union_tag_not_found":
            problems.append({"field": "action", "problem": f"missing; use {hints['action']}"})
        elif kind == "union_tag_invalid":
            got = _value(item.get("ctx", {}).get("tag"))
            problems.append(
                {"field": "action", "problem": f"unknown action {got}; use {hints['action']}"}
            )
        elif kind in {"model_type", "model_attributes_type", "dict_type"} and field is None:
            problems.append(
                {
                    "field": "(payload)",
                    "problem": 'must be a JSON object such as {"action": "status", '
                    '"instance_id": "i-0123456789abcdef0"}',
                }
            )
        elif kind == "extra_forbidden" and field:
            names = ", ".join(allowed.get(action or "", []))
            problems.append(
                {"field": field, "problem": f"not a field of {action!r}; allowed: {names}"}
            )
        elif kind == "missing" and field:
            problems.append({"field": field, "problem": f"required: {hints.get(field, 'a value')}"})
        elif field is None:
            problems.append(
                {"field": "(payload)", "problem": str(item["msg"]).removeprefix("Value error, ")}
            )
        else:
            expected = hints.get(field, str(item["msg"]))
            problems.append(
                {
                    "field": field,
                    "problem": f"{_value(item.get('input'))} is not valid; expected {expected}",
                }
            )
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return InvalidRequest(
        f"Invalid request. {summary}. Nothing was changed; fix the payload and retry.",
        errors=problems,
    )
