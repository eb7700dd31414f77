"""One way in: every door hands an authenticated actor and a parsed action to ``dispatch``.

Here, once: the policy decides, the use case runs, and errors become the contract's
responses. Doors only translate their requests in and these responses out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from bastion_orchestrator.app.policy import (
    Act,
    Action,
    Decision,
    Launch,
    Listing,
    Policy,
    RequestApproval,
    Verdict,
)
from bastion_orchestrator.clock import iso, parse_iso
from bastion_orchestrator.domain.actor import Actor, Owner
from bastion_orchestrator.errors import (
    BastionError,
    Forbidden,
    InternalError,
    InvalidRequest,
    LimitExceeded,
    NotFound,
)
from bastion_orchestrator.observability import audit, count, logger
from models import FIELD_HINTS, Create, Destroy, Extend, IamCreate, ListBastions, Status

if TYPE_CHECKING:  # built by the wiring, on first use: the policy alone needs neither
    from bastion_orchestrator.app.approvals import Approvals
    from bastion_orchestrator.app.orchestrator import Orchestrator
    from bastion_orchestrator.domain.approval import Approval

# Refusals a user caused are warnings; the rest (configuration, capacity, AWS) are errors.
USER_CAUSED: Final = (InvalidRequest, NotFound, Forbidden, LimitExceeded)
# The fields each action takes, from its model: named in VALIDATION_ERRORs.
ALLOWED_FIELDS: Final = {
    name: sorted(model.model_fields)
    for name, model in (
        ("create", Create),
        ("status", Status),
        ("extend", Extend),
        ("destroy", Destroy),
        ("list", ListBastions),
    )
}


def invalid(error: ValidationError) -> InvalidRequest:
    """A payload pydantic refused, as one VALIDATION_ERROR that says how to fix each field."""
    from bastion_orchestrator.app.views import validation_error

    return validation_error(error, FIELD_HINTS, ALLOWED_FIELDS)


def refused(error: BastionError) -> dict[str, Any]:
    """Log, count and answer a refusal: the one mapping of errors to responses."""
    level = logger.warning if isinstance(error, USER_CAUSED) else logger.error
    level("request refused", extra={"error": error.code, "reason": error.message})
    count("RequestsRefused")
    if isinstance(error, Forbidden):
        count("ForbiddenRequests")
    return error.to_response()


def failed() -> dict[str, Any]:
    logger.exception("unexpected failure")
    count("InternalErrors")
    return InternalError(
        "Unexpected failure; nothing was left half-done that the sweep will not clean up. "
        "Retry, and check the function's logs if it persists."
    ).to_response()


@dataclass(frozen=True)
class Dispatcher:
    policy: Callable[[], Policy]
    orchestrator: Callable[[], Orchestrator]
    approvals: Callable[[], Approvals]

    def decide(self, actor: Actor, action: Action) -> Decision:
        """The policy's answer alone, no AWS call: doors use it to refuse early."""
        return self.policy().decide(actor, action)

    def dispatch(self, actor: Actor, action: Action, *, request_id: str) -> dict[str, Any]:
        """Decide, act, answer. Never raises: every outcome is a contract response."""
        logger.append_keys(actor=actor.label, door=actor.door, action=action.action)
        try:
            decision = self.decide(actor, action)
            return self._run(decision, actor, request_id)
        except BastionError as e:
            if isinstance(e, Forbidden):
                audit(
                    "request forbidden",
                    actor=actor.label,
                    action=action.action,
                    instance_id=getattr(action, "instance_id", None),
                    door=actor.door,
                    reason=e.message,
                )
            return refused(e)
        except Exception:
            return failed()

    def _run(self, decision: Decision, actor: Actor, request_id: str) -> dict[str, Any]:
        service = self.orchestrator()
        match decision:
            case Launch(break_glass=True):
                result = service.create(
                    decision.request, decision.owner, request_id=request_id, break_glass=True
                )
                hours = decision.request.hours or 0.0
                self.approvals().announce_break_glass(
                    decision.owner, actor, result, hours, decision.request.reason or ""
                )
                return result
            case Launch():
                return service.create(decision.request, decision.owner, request_id=request_id)
            case RequestApproval():
                return self.approvals().request(
                    decision.request, decision.owner, actor, decision.hours
                )
            case Verdict():
                return self._verdict(decision, actor, service)
            case Listing():
                return service.list(decision.user_id)
            case Act(verb="status"):
                return service.status(decision)
            case Act(verb="extend"):
                return self._extend(decision, actor, service, request_id)
            case Act():
                return service.destroy(decision, actor=actor.label)

    def _extend(
        self, act: Act, actor: Actor, service: Orchestrator, request_id: str
    ) -> dict[str, Any]:
        """Within what was granted: extended. Past it, in a protected environment: a request
        to the approvers. A new break-glass: extended at once, and announced loudly."""
        from bastion_orchestrator.app.orchestrator import BeyondGrant

        try:
            result = service.extend(act, actor=actor.label, request_id=request_id)
        except BeyondGrant as beyond:
            return self.approvals().request_extension(
                beyond.bastion, beyond.until, beyond.by, actor
            )
        if result.get("break_glass") and not result.get("already_extended"):
            who = Owner(actor.user_id or "operator", actor.username or "", arn=actor.arn)
            hours = float(result.get("extended_hours", 0.0))
            reason = act.break_glass_reason or ""
            self.approvals().announce_break_glass(who, actor, result, hours, reason, extended=True)
        return result

    def _verdict(self, verdict: Verdict, actor: Actor, service: Orchestrator) -> dict[str, Any]:
        approvals = self.approvals()
        approval, decided = approvals.decide(
            verdict.approval_id, actor, approve=verdict.approve, reason=verdict.reason
        )
        answer: dict[str, Any] = {
            "approval_id": approval.id,
            "approval_status": approval.status,
            "requester_id": approval.requester_id,
            "requester_door": approval.door,
            "approval_kind": approval.kind,
        }
        if not decided:
            by = f" by {approval.decided_by}" if approval.decided_by else ""
            when = f" at {iso(approval.decided_at)}" if approval.decided_at else ""
            message = f"Request {approval.id} was already {approval.status}{by}{when}."
            if approval.status == "approved":
                # A second click, a redelivered event: the bastion was launched once already.
                return {"success": True, **answer, "message": message + " Nothing more to do."}
            return LimitExceeded(message + " Nothing was launched.", **answer).to_response()
        if not verdict.approve:
            return {"success": True, **answer, "message": f"Request {approval.id} denied."}
        if approval.kind == "extend":
            return {**self._approved_extension(approval, service), **answer}
        # What was asked for, exactly: the payload validated again, the owner as stored.
        request = IamCreate.model_validate(approval.request)
        result = service.create(
            request,
            Owner(**approval.owner),
            request_id=approval.id,
            approved_by=approval.decided_by,
        )
        if result.get("success"):
            approvals.launched(approval, result["instance_id"])
        return {**result, **answer}

    def _approved_extension(self, approval: Approval, service: Orchestrator) -> dict[str, Any]:
        """Extend once, to what the approvers saw (``until``), however often it is pressed."""
        until = parse_iso(approval.request.get("until"))
        if until is None or approval.instance_id is None:
            raise InvalidRequest(f"Request {approval.id} names no extension.")
        result = service.extend_approved(
            approval.instance_id,
            until,
            approved_by=approval.decided_by or "",
            request_id=approval.id,
        )
        if result.get("success"):
            self.approvals().launched(approval, approval.instance_id)
        return result
