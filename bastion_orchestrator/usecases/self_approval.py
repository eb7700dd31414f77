"""Nobody approves what they asked for, or what is for them (CONTRACT.md, "Approvals").

The approver is compared with the requester by Slack id and e-mail, with whoever asked (an
admin may ask for someone), and with the IAM principals behind the request, through
``APPROVER_IAM_PRINCIPALS``: without an entry for the approver, an IAM request is refused
(fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.domain.approval import Approval
from bastion_orchestrator.errors import Forbidden
from bastion_orchestrator.observability import audit, count
from bastion_orchestrator.usecases.policy import arn_is_listed


@dataclass(frozen=True)
class SelfApproval:
    # APPROVER_IAM_PRINCIPALS: Slack approver id -> the IAM principals that person signs as.
    identities: Mapping[str, frozenset[str]]
    names: str  # the approvers, as a refusal names them

    def refuse(self, approver: Actor, approval: Approval) -> None:
        """Raise ``Forbidden`` (audited, counted) when the approver is, or may be, the
        requester or the person who asked."""
        if same_person(approver, approval):
            self._refuse(approver, approval, "it is yours")
        self._other_person(approver, approval)

    def _other_person(self, approver: Actor, approval: Approval) -> None:
        """Nobody approves what they asked for, or what is for them. IAM principals (an IAM
        requester, an IAM admin who asked) and approvers' Slack ids are told apart only by
        APPROVER_IAM_PRINCIPALS: without an entry, refuse (fail closed)."""
        asker = approval.request.get("asked_by") or {}
        if approver.user_id and approver.user_id == asker.get("user_id"):
            self._refuse(approver, approval, "you asked for it")
        if approver.email and approver.email.lower() == str(asker.get("email", "")).lower():
            self._refuse(approver, approval, "you asked for it")
        arns = [asker.get("arn"), approval.owner.get("arn") if approval.door == "iam" else None]
        for arn in filter(None, arns):
            principals = self.identities.get(approver.user_id or "")
            if principals is None:
                count("SelfApprovalsRefused")
                raise Forbidden(
                    f"Cannot tell that you are not {arn}, an IAM principal behind this "
                    f"request: APPROVER_IAM_PRINCIPALS has no entry for {approver.user_id}. Ask "
                    "a platform admin to map your Slack id to the IAM principals you sign as "
                    '(module variable approver_iam_principals, e.g. {"U0APPROVER1": '
                    '["arn:aws:iam::123456789012:role/Developer"]}, or [] if you sign as none); '
                    "another mapped approver may approve meanwhile.",
                    approval_id=approval.id,
                )
            if signs_as(str(arn), principals) or cut_match(str(arn), principals):
                self._refuse(approver, approval, f"{arn} is one of the principals you sign as")

    def _refuse(self, approver: Actor, approval: Approval, why: str) -> None:
        audit(
            "self-approval refused",
            actor=approver.label,
            action="approve",
            instance_id=approval.instance_id,
            door=approver.door,
            approval_id=approval.id,
        )
        count("SelfApprovalsRefused")
        raise Forbidden(
            f"Nobody approves their own request ({why}). Ask another approver ({self.names}).",
            approval_id=approval.id,
        )


def same_person(approver: Actor, approval: Approval) -> bool:
    """The approver is the requester: the same Slack id, the same e-mail address as the IAM
    session name, or (for an IAM request) one of the principals the approver signs as."""
    if approver.user_id == approval.requester_id:
        return True
    emails = {e.lower() for e in (approver.email,) if e}
    requester = approval.requester_email or approval.requester_id.rpartition(":")[2]
    return bool(emails) and requester.lower() in emails


def signs_as(caller_arn: str, principals: frozenset[str]) -> bool:
    """Is this IAM caller one of ``principals`` (as admins are matched)? Case-blind: a near
    miss counts as the same person, so it refuses rather than lets through."""
    return arn_is_listed(caller_arn.lower(), frozenset(p.lower() for p in principals))


def cut_match(tagged_arn: str, principals: frozenset[str]) -> bool:
    """A ``RequestedByArn`` cut to EC2's 256 characters ("…" + its end) still matches its
    principal by that end: a cut never lets a requester pass as someone else."""
    if not tagged_arn.startswith("…"):
        return False
    end = tagged_arn[1:].lower()
    return any(p.lower().endswith(end) for p in principals)
