"""The composition root, its second layer: the Slack adapters and the presenters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bastion_orchestrator.composition.aws import AwsParts

if TYPE_CHECKING:
    from bastion_orchestrator.adapters.slack.secret import SlackSecret
    from bastion_orchestrator.domain.ports import ApprovalBoard, Notice, Notifier
    from bastion_orchestrator.domain.results import Outcome
    from bastion_orchestrator.presenters.contract import Contract, Guide
    from bastion_orchestrator.usecases.approvals import Approvals


class SlackParts(AwsParts):
    @cached_property
    def _slack_secret(self) -> Callable[[], SlackSecret]:
        from bastion_orchestrator.adapters.slack.secret import secret_arn, secret_loader

        return secret_loader(secret_arn(), lambda: self.clients.client("secretsmanager"))

    def slack_secret(self) -> SlackSecret:
        return self._slack_secret()

    def signing_secret(self) -> str | None:
        return self.slack_secret().signing_secret

    @cached_property
    def notifier(self) -> Notifier:
        s = self.settings
        if s.slack_notifier_lambda_arn:
            from bastion_orchestrator.adapters.slack.notifier import LambdaNotifier

            return LambdaNotifier(self.clients.lambda_, s.slack_notifier_lambda_arn)
        from bastion_orchestrator.adapters.slack.notifier import SlackNotifier

        return SlackNotifier(self._slack_secret, channel=s.slack_channel, api_url=s.slack_api_url)

    def reply(self, url: str, notice: Notice, replace_original: bool) -> None:
        from bastion_orchestrator.adapters.slack.notifier import reply as post

        post(url, notice, replace_original=replace_original)

    def answer_back(self, url: str, answer: dict[str, Any]) -> None:
        from bastion_orchestrator.adapters.slack.notifier import answer_back as post

        post(url, answer)

    def email_of(self, user_id: str) -> str | None:
        """The Slack user's e-mail (users.info), for the RequestedByEmail tag; None if unknown."""
        from bastion_orchestrator.adapters.slack.web import email_of as lookup

        return lookup(self.slack_secret, user_id, api_url=self.settings.slack_api_url)

    @cached_property
    def approval_board(self) -> ApprovalBoard:
        """APPROVAL_CHANNEL (else SLACK_CHANNEL) through the bot token; logged without Slack."""
        from bastion_orchestrator.adapters.slack.boards import LoggedBoard, SlackApprovalBoard
        from bastion_orchestrator.adapters.slack.notifier import SlackNotifier

        s = self.settings
        channel = s.approval_channel or s.slack_channel
        if channel and isinstance(self.notifier, SlackNotifier):
            return SlackApprovalBoard(self.notifier, channel, s.environment)
        return LoggedBoard()

    @cached_property
    def guide(self) -> Guide:
        from bastion_orchestrator.presenters.contract import Guide

        s = self.settings
        return Guide(
            region=self.clients.region(),
            session_document=s.session_document,
            port_forward_document=s.port_forward_document,
            rds_endpoint=s.rds_endpoint,
            rds_port=s.rds_port,
        )

    @cached_property
    def contract(self) -> Contract:
        from bastion_orchestrator.presenters.contract import Contract

        return Contract(lambda: self.guide)

    def present(self, outcome: Outcome) -> dict[str, Any]:
        return self.contract.present(outcome)

    def approvals(self) -> Approvals:
        from bastion_orchestrator.usecases.approvals import Approvals

        s = self.settings
        return Approvals(
            store=lambda: self.approval_store,
            board=lambda: self.approval_board,
            notifier=lambda: self.notifier,
            approvers=s.approver_user_ids,
            environment=s.environment,
            timeout=timedelta(minutes=s.approval_timeout_minutes),
            clock=self.now,
            identities=s.approver_iam_principals,
        )

    def expire_approvals(self) -> int | None:
        """The sweep's part in approvals: None when they are off."""
        return self.approvals().expire_overdue() if self.settings.approval_required else None
