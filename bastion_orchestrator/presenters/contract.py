"""Typed results as the contract's JSON (CONTRACT.md, "Responses"): times in UTC, ISO 8601.

Every door that answers in the contract's words (direct, IAM, continuations) presents here,
once; the Slack door renders the same results as Block Kit (``presenters/slack``)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.bastion import Bastion
from bastion_orchestrator.domain.results import (
    AlreadyExtended,
    Created,
    Decided,
    Destroyed,
    Extended,
    Facts,
    Inspected,
    Listed,
    Outcome,
    Pending,
    Refused,
)
from bastion_orchestrator.errors import LimitExceeded


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


@dataclass(frozen=True)
class Guide:
    """How to reach a bastion from a laptop: the deployment's region, its Session Manager
    documents, and the database a bastion forwards to when its tags name none."""

    region: str | None = None
    session_document: str | None = None
    port_forward_document: str = "AWS-StartPortForwardingSessionToRemoteHost"
    rds_endpoint: str | None = None
    rds_port: int = 5432

    def endpoint(self, bastion: Bastion) -> tuple[str | None, int]:
        return bastion.rds_endpoint or self.rds_endpoint, bastion.rds_port or self.rds_port

    def commands(self, bastion: Bastion) -> dict[str, str]:
        endpoint, port = self.endpoint(bastion)
        return connection(
            bastion.instance_id,
            self.region,
            endpoint,
            port,
            session_document=self.session_document,
            port_forward_document=self.port_forward_document,
        )


@dataclass(frozen=True)
class Contract:
    """The presenter: ``present`` answers any outcome as the contract's JSON. The guide is
    read only when a bastion is shown: a refusal of bad configuration needs no settings."""

    guides: Callable[[], Guide]

    @property
    def guide(self) -> Guide:
        return self.guides()

    def present(self, outcome: Outcome) -> dict[str, Any]:
        match outcome:
            case Refused(error=error):
                return error.to_response()
            case Created():
                return self._created(outcome)
            case Inspected():
                return self._inspected(outcome)
            case Extended():
                return self._extended(outcome)
            case AlreadyExtended(facts=facts, message=message):
                return {**self.view(facts), "already_extended": True, "message": message}
            case Destroyed(facts=facts, already_terminated=already):
                state = {"state": facts.bastion.state, "already_terminated": already}
                return {**self.view(facts), **state}
            case Listed(bastions=bastions):
                return {"success": True, "bastions": [self.view(f, True) for f in bastions]}
            case Pending():
                return pending(outcome)
            case Decided():
                return self._decided(outcome)
        raise TypeError(f"not an outcome: {outcome!r}")  # pragma: no cover - exhaustive

    def view(self, facts: Facts, detailed: bool = False) -> dict[str, Any]:
        bastion = facts.bastion
        view: dict[str, Any] = {
            "success": True,
            "instance_id": bastion.instance_id,
            "private_ip": bastion.private_ip,
            "created_at": iso(facts.created_at),
            "expires_at": iso(facts.expires_at),
        }
        view.update(self._connection(facts))
        if detailed:
            view.update(
                state=bastion.state,
                requested_by=bastion.username,
                user_id=bastion.user_id,
                display_name=bastion.display_name,
                time_remaining_seconds=facts.seconds_remaining,
                rds_endpoint=self.guide.endpoint(bastion)[0],
            )
        return view

    def _connection(self, facts: Facts) -> dict[str, Any]:
        if facts.gone:  # nothing to connect to: a terminated bastion's answers carry no commands
            return {
                "connection_instructions": f"None: {facts.instance_id} is "
                f"{facts.bastion.state}. Create a new bastion to connect.",
                "connection": {},
            }
        commands = self.guide.commands(facts.bastion)
        port = self.guide.endpoint(facts.bastion)[1]
        return {"connection_instructions": instructions(commands, port), "connection": commands}

    def _created(self, created: Created) -> dict[str, Any]:
        if created.existing:
            return {**self.view(created.facts), "existing": True}
        answer = {**self.view(created.facts), "existing": False, "subnet_id": created.subnet_id}
        if created.notes:
            answer["notes"] = list(created.notes)
        return answer

    def _inspected(self, inspected: Inspected) -> dict[str, Any]:
        answer = self.view(inspected.facts, True)
        answer["ssm_status"] = inspected.ssm_status
        answer["ready"] = inspected.ready
        if inspected.seconds_to_ready is not None:
            answer["seconds_to_ready"] = inspected.seconds_to_ready
        return answer

    def _extended(self, extended: Extended) -> dict[str, Any]:
        answer = {
            **self.view(extended.facts),
            "previous_expires_at": iso(extended.previous_expires_at),
        }
        if extended.capped:
            answer["capped"] = True
            answer["message"] = extended.message
        if extended.break_glass is not None:
            glass = extended.break_glass
            answer.update(break_glass=True, extended_hours=glass.hours, reason=glass.reason)
        return answer

    def _decided(self, decided: Decided) -> dict[str, Any]:
        answer = verdict_fields(decided)
        if decided.outcome is not None:
            return {**self.present(decided.outcome), **answer}
        if decided.stale:
            return LimitExceeded(decided.message or "", **answer).to_response()
        return {"success": True, **answer, "message": decided.message}


def pending(result: Pending) -> dict[str, Any]:
    return {
        "success": True,
        "pending_approval": True,
        "approval_id": result.approval.id,
        "expires_at": iso(result.approval.expires_at),
        "message": result.message,
    }


def verdict_fields(decided: Decided) -> dict[str, Any]:
    """What every answer to an approver names: the request, its status, whose it was."""
    approval = decided.approval
    return {
        "approval_id": approval.id,
        "approval_status": approval.status,
        "requester_id": approval.requester_id,
        "requester_door": approval.door,
        "approval_kind": approval.kind,
    }
