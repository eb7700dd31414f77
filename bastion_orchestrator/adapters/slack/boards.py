"""The approval board: where approval requests and break-glass launches are announced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bastion_orchestrator.observability import logger
from bastion_orchestrator.presenters.slack.mrkdwn import mention

if TYPE_CHECKING:
    from bastion_orchestrator.adapters.slack.notifier import SlackNotifier
    from bastion_orchestrator.domain.actor import Owner
    from bastion_orchestrator.domain.approval import Approval


class SlackApprovalBoard:
    """The approval channel (``APPROVAL_CHANNEL``), through the bot token: requests are
    posted with buttons and updated in place (chat.update) once decided."""

    def __init__(self, notifier: SlackNotifier, channel: str, environment: str) -> None:
        self._notifier = notifier
        self._channel = channel
        self._environment = environment  # how a break-glass announcement names it

    def post(self, approval: Approval, approvers: Sequence[str]) -> tuple[str, str] | None:
        from bastion_orchestrator.presenters.slack.approvals import approval_request

        text, blocks = approval_request(approval, approvers)
        return self._notifier.announce(self._channel, text, blocks)

    def update(self, approval: Approval) -> None:
        from bastion_orchestrator.presenters.slack.approvals import approval_outcome

        text, blocks = approval_outcome(approval)
        if approval.channel and approval.ts:
            self._notifier.revise(approval.channel, approval.ts, text, blocks)
        else:
            self._notifier.announce(self._channel, text, blocks)

    def break_glass(
        self, owner: Owner, instance_id: str, hours: float, reason: str, *, extended: bool = False
    ) -> None:
        from bastion_orchestrator.presenters.slack.approvals import break_glass

        who = owner.arn or mention(owner.user_id)  # break_glass shows an ARN as text
        text, blocks = break_glass(
            self._environment, who, instance_id, hours, reason, extended=extended
        )
        self._notifier.announce(self._channel, text, blocks)


class LoggedBoard:
    """No approval channel (or notices handed to another Lambda): log what would be posted."""

    def post(self, approval: Approval, approvers: Sequence[str]) -> tuple[str, str] | None:
        logger.warning(
            "approval request not posted (no APPROVAL_CHANNEL with a bot token)",
            extra={"approval_id": approval.id, "approvers": list(approvers)},
        )
        return None

    def update(self, approval: Approval) -> None:
        logger.info(
            "approval decided", extra={"approval_id": approval.id, "status": approval.status}
        )

    def break_glass(
        self, owner: Owner, instance_id: str, hours: float, reason: str, *, extended: bool = False
    ) -> None:
        logger.warning(
            f"BREAK-GLASS {'extension' if extended else 'launch'} (no approval channel to "
            "announce it in)",
            extra={"user_id": owner.user_id, "instance_id": instance_id, "reason": reason},
        )
