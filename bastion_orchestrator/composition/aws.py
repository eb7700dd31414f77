"""The composition root, its first layer: settings, the clock and the AWS adapters, each
built on first use from one ``Clients``."""

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
    from bastion_orchestrator.adapters.aws.ec2.compute import Ec2Compute
    from bastion_orchestrator.adapters.aws.scheduler import SchedulerSchedules
    from bastion_orchestrator.adapters.aws.ssm import SsmSessions
    from bastion_orchestrator.config import Settings
    from bastion_orchestrator.domain.bastion import Lifetime
    from bastion_orchestrator.domain.ports import ApprovalStore, Slots
    from bastion_orchestrator.usecases.forensics import Forensics


class AwsParts:
    def __init__(
        self, clock: Clock = system_clock, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.clock = clock
        self.sleep = sleep  # how waiting advances the clock (a concurrent create's short poll)
        self.clients = Clients()

    def now(self) -> datetime:
        return self.clock()

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
        from bastion_orchestrator.adapters.aws.ec2.compute import Ec2Compute, Ec2Profile

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
