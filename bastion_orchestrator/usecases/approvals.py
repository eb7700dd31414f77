"""Approvals for protected environments (``APPROVAL_REQUIRED``): nobody enters alone.

- A ``create`` from anyone but an approver launches nothing: the request is stored
  (``ApprovalStore``) and posted to ``APPROVAL_CHANNEL`` with Approve and Deny buttons that
  carry only its id, and the requester is told it waits, and for whom.
- An approver who is not the requester approves it: one conditional write moves it from
  pending to approved, so it launches once however often the button is pressed or the event
  redelivered (the launch's client token is the request's id, too). The bastion is tagged
  ``ApprovedBy``; the approval message is updated in place.
- A denial, or ``APPROVAL_TIMEOUT_MINUTES`` without an answer (the sweep expires it),
  launches nothing; the requester is told either way, and a late button says it expired.
- ``break_glass`` with a reason launches at once for at most ``BREAK_GLASS_HOURS``, tagged
  ``BreakGlass=true``, and is announced loudly in the approval channel.
- Every step is one audit line with the actor and the door, and a metric.

Trusted: the approvers (``APPROVER_USER_IDS``) and the Slack workspace that vouches for
them. A compromised workspace is out of scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

from bastion_orchestrator.clock import Clock, iso
from bastion_orchestrator.domain.actor import OPERATOR, Actor, Owner
from bastion_orchestrator.domain.approval import Approval, Status
from bastion_orchestrator.domain.bastion import Bastion, Tag
from bastion_orchestrator.domain.ports import ApprovalBoard, ApprovalStore, Notifier
from bastion_orchestrator.domain.results import Pending
from bastion_orchestrator.errors import NotFound
from bastion_orchestrator.observability import audit, count
from bastion_orchestrator.presenters.slack.mrkdwn import escape, mention
from bastion_orchestrator.usecases.approval_news import ApprovalNews
from bastion_orchestrator.usecases.self_approval import SelfApproval
from models import Create


@dataclass(frozen=True)
class Approvals:
    store: Callable[[], ApprovalStore]
    board: Callable[[], ApprovalBoard]
    notifier: Callable[[], Notifier]
    approvers: frozenset[str]
    environment: str
    timeout: timedelta
    clock: Clock
    # APPROVER_IAM_PRINCIPALS: Slack approver id -> the IAM principals that person signs as.
    identities: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def request(self, request: Create, owner: Owner, actor: Actor, hours: float) -> Pending:
        now = self.clock()
        asked = Approval(
            id=_new_id(),
            status="pending",
            environment=self.environment,
            requester_id=owner.user_id,
            requester_label=_label(actor, owner),
            requester_email=owner.email or _email(owner.display_name),
            door=actor.door,
            request=request.model_dump(
                mode="json", exclude_none=True, exclude={"user_id", "username"}
            ),
            owner=asdict(owner),
            hours=hours,
            created_at=now,
            expires_at=now + self.timeout,
        )
        return self._open(asked, actor, reason=request.reason)

    def request_extension(
        self, bastion: Bastion, until: datetime, by: timedelta, actor: Actor
    ) -> Pending:
        """An extend past what was granted: the approvers see "extend by N h", and nothing
        changes until one of them approves it."""
        now = self.clock()
        owner = Owner(
            user_id=bastion.user_id or "",
            username=bastion.username or "",
            display_name=bastion.display_name,
            email=bastion.tags.get(Tag.EMAIL),
            arn=bastion.tags.get(Tag.ARN),
        )
        asker = {"user_id": actor.user_id, "arn": actor.arn, "email": actor.email}
        asked = Approval(
            id=_new_id(),
            status="pending",
            environment=self.environment,
            requester_id=owner.user_id,
            requester_label=actor.arn or (f"<@{actor.user_id}>" if actor.user_id else OPERATOR),
            requester_email=owner.email,
            door=bastion_door(bastion, actor),
            request={"instance_id": bastion.instance_id, "until": iso(until)}
            | ({"reason": bastion.reason} if bastion.reason else {})
            # Who asked (an admin may ask for someone's bastion): not the approver either.
            | {"asked_by": {k: v for k, v in asker.items() if v}},
            owner=asdict(owner),
            hours=by.total_seconds() / 3600,
            created_at=now,
            expires_at=now + self.timeout,
            instance_id=bastion.instance_id,
            kind="extend",
        )
        return self._open(asked, actor, reason=bastion.reason)

    def _open(self, asked: Approval, actor: Actor, *, reason: str | None) -> Pending:
        """Store and post a new request (or answer the open one it repeats)."""
        approval = self.store().add(asked)
        what = "extend" if asked.kind == "extend" else "create"
        if approval.id == asked.id:
            self.news.post(approval)
            audit(
                "approval requested",
                actor=actor.label,
                action=what,
                instance_id=asked.instance_id,
                door=actor.door,
                approval_id=approval.id,
                environment=self.environment,
                hours=asked.hours,
                reason=reason,
            )
            count("ApprovalsRequested")
            self.news.tell(approval, "pending", f"waits for {self._names()}")
        asked_for = (
            f"extending {asked.instance_id} by {asked.hours:g} h"
            if asked.kind == "extend"
            else "your request"
        )
        return Pending(
            approval,
            f"Approval needed in {self.environment}: {asked_for} ({approval.id}) was posted "
            f"for {self._names()} and waits until {iso(approval.expires_at)}. Nothing "
            "changes until an approver who is not you approves it.",
        )

    def decide(
        self, approval_id: str, approver: Actor, *, approve: bool, reason: str | None = None
    ) -> tuple[Approval, bool]:
        """Record an approver's answer. Answers the request and whether this call decided it
        (False: already decided by someone, or expired; nothing more may happen)."""
        now = self.clock()
        approval = self.store().get(approval_id)
        if approval is None:
            raise NotFound(f"No approval request {approval_id} in {self.environment}.")
        who = approver.user_id or approver.label  # an approver: the policy checked that
        SelfApproval(self.identities, self._names()).refuse(approver, approval)
        status: Status = "approved" if approve else "denied"
        decided = self.store().decide(approval_id, status, by=who, now=now, reason=reason)
        if not decided:
            latest = self.store().get(approval_id) or approval
            if latest.status == "pending" and not latest.is_open(now):
                self._expire(latest, now)
                latest = self.store().get(approval_id) or latest
            return latest, False
        result = replace(approval, status=status, decided_by=who, decided_at=now, reason=reason)
        audit(
            f"approval {status}",
            actor=approver.label,
            action="approve" if approve else "deny",
            instance_id=None,
            door=approver.door,
            approval_id=approval_id,
            requester=approval.requester_label,
            reason=reason,
        )
        count("ApprovalsGranted" if approve else "ApprovalsDenied")
        if not approve:
            self.news.settled(
                result,
                "denied",
                f"denied by {mention(who)}" + (f": {escape(reason)}" if reason else ""),
            )
        return result, True

    def launched(self, approval: Approval, instance_id: str) -> None:
        """The approved bastion exists: show it in the approval message."""
        self.store().annotate(approval.id, instance_id=instance_id)
        self.news.update(replace(approval, instance_id=instance_id))

    def expire_overdue(self) -> int:
        """The sweep's part: requests nobody answered in time launch nothing, and say so."""
        now = self.clock()
        expired = 0
        for approval in self.store().overdue(now):
            if self._expire(approval, now):
                expired += 1
        return expired

    def _expire(self, approval: Approval, now: datetime) -> bool:
        if not self.store().decide(
            approval.id, "expired", by="timeout", now=now, before_expiry=False
        ):
            return False
        audit(
            "approval expired",
            actor="bastion-orchestrator",
            action="approve",
            instance_id=None,
            door="scheduler",
            approval_id=approval.id,
            requester=approval.requester_label,
        )
        count("ApprovalsExpired")
        minutes = int(self.timeout.total_seconds() // 60)
        self.news.settled(
            replace(approval, status="expired", decided_by="timeout", decided_at=now),
            "expired",
            f"expired unanswered after {minutes} min",
        )
        return True

    @property
    def news(self) -> ApprovalNews:
        return ApprovalNews(self.store, self.board, self.notifier, self.approvers, self.environment)

    def _names(self) -> str:
        return ", ".join(f"<@{a}>" for a in sorted(self.approvers)) or "the approvers"


def _new_id() -> str:
    import secrets  # only approval requests need it, not every cold start

    return "apr-" + secrets.token_hex(12)  # unguessable: a button press needs it


def bastion_door(bastion: Bastion, actor: Actor) -> str:
    """The door a bastion's owner is known by: IAM when its owner is an IAM principal (so the
    approver must be told apart from it), else the door that asks."""
    return "iam" if bastion.tags.get(Tag.ARN) else actor.door


def _label(actor: Actor, owner: Owner) -> str:
    return actor.arn if actor.door == "iam" and actor.arn else f"<@{owner.user_id}>"


def _email(text: str | None) -> str | None:
    return text if text and "@" in text else None
