"""What approvals tell: the approval channel (posted, updated in place, break-glass
announced loudly) and the Slack requester (pending, denied, expired). Delivery failures are
logged and counted; they never undo a decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bastion_orchestrator.domain.actor import Actor, Owner
from bastion_orchestrator.domain.approval import Approval
from bastion_orchestrator.domain.ports import ApprovalBoard, ApprovalStore, Notice, Notifier
from bastion_orchestrator.observability import audit, count, logger


@dataclass(frozen=True)
class ApprovalNews:
    store: Callable[[], ApprovalStore]
    board: Callable[[], ApprovalBoard]
    notifier: Callable[[], Notifier]
    approvers: frozenset[str]
    environment: str

    def break_glass(
        self,
        owner: Owner,
        actor: Actor,
        instance_id: str,
        hours: float,
        reason: str,
        *,
        extended: bool = False,
    ) -> None:
        audit(
            "break-glass extension" if extended else "break-glass launch",
            actor=actor.label,
            action="extend" if extended else "create",
            instance_id=instance_id,
            door=actor.door,
            environment=self.environment,
            hours=hours,
            reason=reason,
        )
        count("BreakGlassLaunches")
        try:
            self.board().break_glass(owner, instance_id, hours, reason, extended=extended)
        except Exception as e:
            count("NotificationFailures")
            logger.error("break-glass announcement failed", extra={"error": repr(e)})

    # ----------------------------------------------------------------- helpers
    def settled(self, approval: Approval, kind: str, how: str) -> None:
        self.update(approval)
        self.tell(approval, kind, how)

    def post(self, approval: Approval) -> None:
        try:
            ref = self.board().post(approval, sorted(self.approvers))
        except Exception as e:
            count("NotificationFailures")
            logger.error("approval request could not be posted", extra={"error": repr(e)})
            return
        if ref is not None:
            self.store().annotate(approval.id, channel=ref[0], ts=ref[1])

    def update(self, approval: Approval) -> None:
        latest = self.store().get(approval.id) or approval
        merged = replace(approval, channel=latest.channel, ts=latest.ts)
        try:
            self.board().update(merged)
        except Exception as e:
            count("NotificationFailures")
            logger.warning("approval message not updated", extra={"error": repr(e)})

    def tell(self, approval: Approval, kind: str, how: str) -> None:
        if approval.door != "slack":
            return  # IAM and direct callers see it in the answers to their requests
        try:
            self.notifier().send(
                Notice(
                    "approval",
                    approval.requester_id,
                    approval.id,
                    approval.expires_at,
                    self.environment,
                    cause=kind,
                    detail=how,
                )
            )
        except Exception as e:
            count("NotificationFailures")
            logger.warning("requester not told", extra={"error": repr(e)})
