"""An approver's answer to a pending request: recorded once, then (approved) the create or
the extension it asked for runs, exactly as it was asked (CONTRACT.md, "Approvals")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bastion_orchestrator.clock import iso, parse_iso
from bastion_orchestrator.domain.actor import Actor, Owner
from bastion_orchestrator.domain.approval import Approval
from bastion_orchestrator.domain.results import Decided
from bastion_orchestrator.errors import InvalidRequest
from bastion_orchestrator.usecases.approvals import Approvals
from bastion_orchestrator.usecases.create import CreateBastion
from bastion_orchestrator.usecases.extend import ExtendBastion
from bastion_orchestrator.usecases.policy import Verdict
from models import IamCreate


@dataclass(frozen=True)
class DecideApproval:
    approvals: Callable[[], Approvals]
    create: Callable[[], CreateBastion]
    extend: Callable[[], ExtendBastion]

    def __call__(self, verdict: Verdict, actor: Actor) -> Decided:
        approval, fresh = self.approvals().decide(
            verdict.approval_id, actor, approve=verdict.approve, reason=verdict.reason
        )
        if not fresh:
            return Decided(approval, fresh=False, message=_already(approval))
        if not verdict.approve:
            return Decided(approval, fresh=True, message=f"Request {approval.id} denied.")
        if approval.kind == "extend":
            return self._extension(approval)
        return self._launch(approval)

    def _launch(self, approval: Approval) -> Decided:
        # What was asked for, exactly: the payload validated again, the owner as stored.
        request = IamCreate.model_validate(approval.request)
        created = self.create()(
            request,
            Owner(**approval.owner),
            request_id=approval.id,
            approved_by=approval.decided_by,
        )
        self.approvals().launched(approval, created.facts.instance_id)
        return Decided(approval, fresh=True, outcome=created)

    def _extension(self, approval: Approval) -> Decided:
        """Extend once, to what the approvers saw (``until``), however often it is pressed."""
        until = parse_iso(approval.request.get("until"))
        if until is None or approval.instance_id is None:
            raise InvalidRequest(f"Request {approval.id} names no extension.")
        extended = self.extend().approved(
            approval.instance_id,
            until,
            approved_by=approval.decided_by or "",
            request_id=approval.id,
        )
        self.approvals().launched(approval, approval.instance_id)
        return Decided(approval, fresh=True, outcome=extended)


def _already(approval: Approval) -> str:
    by = f" by {approval.decided_by}" if approval.decided_by else ""
    when = f" at {iso(approval.decided_at)}" if approval.decided_at else ""
    message = f"Request {approval.id} was already {approval.status}{by}{when}."
    if approval.status == "approved":
        # A second click, a redelivered event: the bastion was launched once already.
        return message + " Nothing more to do."
    return message + " Nothing was launched."
