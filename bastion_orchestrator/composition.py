"""The composition root: everything built from settings and a clock, once per container.

``handler.py`` and ``auto_terminate.py`` each hold one ``Root``; it builds nothing until an
event needs it, and each part at most once. Tests, the demo and the bench build their own
(``Root(clock=...)``): there are no module globals to reset.

Imports follow use: each part imports what it builds when first asked for, so a cold Slack
acknowledgement loads neither pydantic, nor the settings, nor a use case it never runs
(``make bench`` measures it against its floor).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bastion_orchestrator.adapters.aws.clients import Clients
from bastion_orchestrator.clock import Clock, system_clock

if TYPE_CHECKING:
    from bastion_orchestrator.adapters.aws.ec2 import Ec2Instances, Ec2Reachability
    from bastion_orchestrator.adapters.aws.ec2_compute import Ec2Compute
    from bastion_orchestrator.adapters.aws.scheduler import SchedulerSchedules
    from bastion_orchestrator.adapters.aws.ssm import SsmSessions
    from bastion_orchestrator.adapters.slack.secret import SlackSecret
    from bastion_orchestrator.config import Settings
    from bastion_orchestrator.domain.bastion import Lifetime
    from bastion_orchestrator.domain.ports import Notice, Notifier, Slots
    from bastion_orchestrator.domain.results import Outcome
    from bastion_orchestrator.doors.http import HttpAnswer, HttpRequest, Route
    from bastion_orchestrator.doors.slack.decide import SlackForms
    from bastion_orchestrator.doors.slack.jobs import SlackJobs
    from bastion_orchestrator.presenters.contract import Contract, Guide
    from bastion_orchestrator.usecases.approvals import ApprovalBoard, Approvals, ApprovalStore
    from bastion_orchestrator.usecases.create import CreateBastion
    from bastion_orchestrator.usecases.destroy import DestroyBastion
    from bastion_orchestrator.usecases.dispatcher import Dispatcher, UseCases
    from bastion_orchestrator.usecases.extend import ExtendBastion
    from bastion_orchestrator.usecases.forensics import Forensics
    from bastion_orchestrator.usecases.listing import ListBastions
    from bastion_orchestrator.usecases.policy import Policy
    from bastion_orchestrator.usecases.readiness import Readiness
    from bastion_orchestrator.usecases.reaper import Reaper
    from bastion_orchestrator.usecases.status import ShowStatus
    from bastion_orchestrator.usecases.targets import Targets
    from bastion_orchestrator.usecases.verdict import DecideApproval


class Root:
    def __init__(
        self, clock: Clock = system_clock, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.clock = clock
        self.sleep = sleep  # how waiting advances the clock (a concurrent create's short poll)
        self.clients = Clients()

    def now(self) -> datetime:
        return self.clock()

    # ------------------------------------------------------------------ the doors
    def orchestrator(self, event: Any, context: Any) -> dict[str, Any]:
        """The orchestrator's doors: the Function URL (Slack, IAM), the Slack door's sealed
        continuations, and direct payloads. Never raises for a request a caller sent."""
        from bastion_orchestrator.doors import http

        if isinstance(event, dict) and "requestContext" in event:
            return http.handle(event, context, self.http_doors())
        from bastion_orchestrator.doors import continuation

        if continuation.is_continuation(event):
            return continuation.handle(
                event,
                context,
                signing_secret=self.signing_secret,
                now=self.now(),
                resume=lambda job, ctx: self.slack_forms().resume(job, ctx),
            )
        from bastion_orchestrator.doors import direct

        return direct.handle(event, context.aws_request_id, self.dispatcher(), self.present)

    def scheduled(self, event: Any) -> dict[str, Any]:
        from bastion_orchestrator.doors import scheduled

        return scheduled.handle(event, self.reaper, self.expire_approvals, self.readiness)

    def http_doors(self) -> list[Route]:
        """The HTTP doors, in the order they are asked whether a request is theirs: the IAM
        URL's requests carry AWS's authorizer context (nobody on the public URL can add it);
        every other request must be Slack's, signed."""
        from bastion_orchestrator.doors.http import Route

        return [
            Route("iam", lambda request: request.iam is not None, self._iam_door),
            Route("slack", lambda request: True, self._slack_door),
        ]

    def _iam_door(self, request: HttpRequest, context: Any) -> HttpAnswer:
        from bastion_orchestrator.doors.iam import IamDoor

        return IamDoor(self.dispatcher(), self.present)(request, context)

    def _slack_door(self, request: HttpRequest, context: Any) -> HttpAnswer:
        from bastion_orchestrator.doors.slack.acknowledge import SlackDoor

        door = SlackDoor(
            forms=self.slack_forms,
            signing_secret=self.signing_secret,
            clock=self.now,
            enqueue=self.enqueue,
        )
        return door(request, context)

    def slack_forms(self) -> SlackForms:
        """The Slack door's deciding half (pydantic, settings, the use cases): built only when
        a request is decided, never for a slow verb's acknowledgement."""
        from bastion_orchestrator.doors.slack.decide import SlackForms

        return SlackForms(
            dispatcher=self.dispatcher(),
            jobs=self.slack_jobs,
            settings=lambda: self.settings,
            answer_back=self.answer_back,
            present=self.present,
        )

    def slack_jobs(self) -> SlackJobs:
        from bastion_orchestrator.doors.slack.jobs import SlackJobs

        return SlackJobs(
            dispatcher=self.dispatcher(),
            environment=lambda: self.settings.environment,
            clock=self.now,
            notifier=lambda: self.notifier,
            reply=self.reply,
            email_of=self.email_of,
            once=self.once,
            ready_checks=self.ready_checks,
            present=self.present,
            connection=lambda facts: self.guide.commands(facts.bastion),
        )

    # ------------------------------------------------------------------ settings
    @cached_property
    def settings(self) -> Settings:
        """The validated settings, read on first use: a slow verb's Slack acknowledgement
        needs none of them, nor pydantic."""
        import os

        from bastion_orchestrator.config import load_settings

        return load_settings(os.environ)

    @cached_property
    def rules(self) -> Lifetime:
        from bastion_orchestrator.domain.bastion import Lifetime

        s = self.settings
        return Lifetime.of_hours(
            s.bastion_lifetime_hours, s.extend_hours, s.max_lifetime_hours, s.warning_minutes
        )

    # ------------------------------------------------------------------ presenting
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

    # ------------------------------------------------------------------ AWS adapters
    @cached_property
    def instances(self) -> Ec2Instances:
        from bastion_orchestrator.adapters.aws.ec2 import Ec2Instances
        from bastion_orchestrator.adapters.aws.ssm import image_resolver

        s = self.settings
        return Ec2Instances(
            self.clients.ec2,
            project=s.project_name,
            environment=s.environment,
            latest_image=image_resolver(s.ami_parameter, self.clients.ssm),
            instance_profile=s.iam_instance_profile,
        )

    @cached_property
    def compute(self) -> Ec2Compute:
        from bastion_orchestrator.adapters.aws.ec2_compute import Ec2Compute, Ec2Profile

        s = self.settings
        profile = Ec2Profile(
            project=s.project_name,
            environment=s.environment,
            instance_type=s.instance_type,
            subnets=s.subnets,
            security_group_id=s.bastion_security_group_id,
            instance_profile=s.iam_instance_profile,
            ami_id=s.ami_id,
            region=self.clients.region(),
            port_forward_document=s.port_forward_document,
            operator_script=s.boot_script,
            session_sudo=s.session_sudo,
        )
        return Ec2Compute(self.instances, profile)

    @cached_property
    def schedules(self) -> SchedulerSchedules:
        from bastion_orchestrator.adapters.aws.scheduler import SchedulerSchedules

        s = self.settings
        return SchedulerSchedules(
            self.clients.scheduler,
            group=s.schedule_group,
            prefix=s.schedule_prefix,
            role_arn=s.scheduler_role_arn,
            termination_target=s.auto_terminate_lambda_arn,
            warning_target=s.warning_target_arn,
        )

    @cached_property
    def sessions(self) -> SsmSessions:
        from bastion_orchestrator.adapters.aws.ssm import SsmSessions

        return SsmSessions(self.clients.ssm)

    @cached_property
    def slots(self) -> Slots:
        s = self.settings
        if not s.idempotency_table:
            from bastion_orchestrator.domain.ports import NoSlots

            return NoSlots()
        from bastion_orchestrator.adapters.aws.slots import DynamoSlots

        return DynamoSlots(
            lambda: self.clients.client("dynamodb"),
            table=s.idempotency_table,
            project=s.project_name,
            environment=s.environment,
            per_user=s.max_bastions_per_user,
        )

    @cached_property
    def reachability(self) -> Ec2Reachability:
        from bastion_orchestrator.adapters.aws.ec2 import Ec2Reachability

        return Ec2Reachability(self.clients.ec2)

    @cached_property
    def forensics(self) -> Forensics:
        from bastion_orchestrator.usecases.forensics import Forensics

        s = self.settings
        snapshots = None
        if s.snapshot_on_terminate:
            from bastion_orchestrator.adapters.aws.ec2 import Ec2Snapshots

            ec2 = self.clients.ec2
            snapshots = Ec2Snapshots(ec2, project=s.project_name, environment=s.environment)
        return Forensics(snapshots, timedelta(days=s.snapshot_retention_days))

    def enqueue(self, function_arn: str, payload: dict[str, Any]) -> None:
        self._self_invoker.invoke_async(function_arn, payload)

    @cached_property
    def _self_invoker(self) -> Any:
        from bastion_orchestrator.adapters.aws.lambda_ import SelfInvoker

        return SelfInvoker(self.clients.lambda_)

    @cached_property
    def _once(self) -> Any:
        table = self.settings.idempotency_table
        if not table:
            return None
        from bastion_orchestrator.adapters.aws.idempotency import once_per_request

        return once_per_request(table, lambda: self.clients.client("dynamodb"))

    def once(self) -> Any:
        return self._once

    # ------------------------------------------------------------------ Slack adapters
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
        from bastion_orchestrator.adapters.slack.notifier import email_of as lookup

        return lookup(self.slack_secret, user_id, api_url=self.settings.slack_api_url)

    @cached_property
    def approval_store(self) -> ApprovalStore:
        from bastion_orchestrator.errors import ConfigurationError

        s = self.settings
        if not s.idempotency_table:
            raise ConfigurationError(
                "Approval requests are stored in IDEMPOTENCY_TABLE, which is not set.",
                variables=["IDEMPOTENCY_TABLE"],
            )
        from bastion_orchestrator.adapters.aws.approvals import DynamoApprovals

        return DynamoApprovals(
            lambda: self.clients.client("dynamodb"),
            table=s.idempotency_table,
            project=s.project_name,
            environment=s.environment,
        )

    @cached_property
    def approval_board(self) -> ApprovalBoard:
        """APPROVAL_CHANNEL (else SLACK_CHANNEL) through the bot token; logged without Slack."""
        from bastion_orchestrator.adapters.slack.notifier import (
            LoggedBoard,
            SlackApprovalBoard,
            SlackNotifier,
        )

        s = self.settings
        channel = s.approval_channel or s.slack_channel
        if channel and isinstance(self.notifier, SlackNotifier):
            return SlackApprovalBoard(self.notifier, channel)
        return LoggedBoard()

    # ------------------------------------------------------------------ use cases
    def policy(self) -> Policy:
        from bastion_orchestrator.usecases.policy import Policy

        return Policy.of(self.settings)

    def dispatcher(self) -> Dispatcher:
        from bastion_orchestrator.usecases.dispatcher import Dispatcher

        return Dispatcher(policy=self.policy, cases=self.use_cases)

    @cached_property
    def use_cases(self) -> UseCases:
        from bastion_orchestrator.usecases.dispatcher import UseCases

        return UseCases(
            create=self.create,
            status=self.status,
            extend=self.extend,
            destroy=self.destroy,
            listing=self.listing,
            approvals=self.approvals,
            verdict=self.verdict,
        )

    @cached_property
    def targets(self) -> Targets:
        from bastion_orchestrator.usecases.targets import Targets

        s = self.settings
        return Targets(self.compute, f"{s.project_name}/{s.environment}")

    def create(self) -> CreateBastion:
        from bastion_orchestrator.usecases.create import CreateBastion

        return CreateBastion(
            settings=self.settings,
            rules=self.rules,
            compute=self.compute,
            schedules=self.schedules,
            clock=self.now,
            slots=self.slots,
            sleep=self.sleep,
        )

    def status(self) -> ShowStatus:
        from bastion_orchestrator.usecases.status import ShowStatus

        return ShowStatus(self.targets, self.sessions, self.rules, self.now)

    def extend(self) -> ExtendBastion:
        from bastion_orchestrator.usecases.extend import ExtendBastion, ExtendRules

        s = self.settings
        rules = ExtendRules(s.approval_required, s.break_glass_hours, s.max_lifetime_hours)
        return ExtendBastion(
            self.targets, self.compute, self.schedules, self.rules, rules, self.now
        )

    def destroy(self) -> DestroyBastion:
        from bastion_orchestrator.usecases.destroy import DestroyBastion

        return DestroyBastion(
            self.targets,
            self.compute,
            self.schedules,
            self.rules,
            self.now,
            slots=self.slots,
            forensics=self.forensics,
        )

    def listing(self) -> ListBastions:
        from bastion_orchestrator.usecases.listing import ListBastions

        return ListBastions(self.compute, self.rules, self.now)

    def verdict(self) -> DecideApproval:
        from bastion_orchestrator.usecases.verdict import DecideApproval

        return DecideApproval(self.approvals, self.create, self.extend)

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

    def ready_checks(self, instance_id: str, launched: datetime) -> None:
        """The one-shot schedules that tell a Slack requester when their bastion is ready."""
        from bastion_orchestrator.usecases.readiness import check_times

        self.schedules.put_ready_checks(instance_id, check_times(launched))

    def readiness(self) -> Readiness:
        from bastion_orchestrator.usecases.readiness import Readiness

        s = self.settings
        return Readiness(
            environment=s.environment,
            rules=self.rules,
            instances=self.compute,
            sessions=self.sessions,
            notifier=self.notifier,
            clock=self.now,
            connection=self.guide.commands,
            diagnose=lambda instance_id: self.reachability.problems(instance_id),  # noqa: PLW0108
        )

    def reaper(self) -> Reaper:
        from bastion_orchestrator.usecases.reaper import Reaper

        s = self.settings
        return Reaper(
            environment=s.environment,
            rules=self.rules,
            instances=self.compute,
            schedules=self.schedules,
            notifier=self.notifier,
            clock=self.now,
            slots=self.slots,
            sessions=self.sessions,
            idle=timedelta(minutes=s.idle_minutes) if s.idle_minutes else None,
            forensics=self.forensics,
        )
