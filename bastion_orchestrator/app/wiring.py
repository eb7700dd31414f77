"""Builds the use cases from settings, once per cold start.

The clock is the one injection point for time: production uses the system clock; tests and
the demo call ``set_clock``. ``reset`` forgets settings, clients and cached secrets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from bastion_orchestrator.aws import clients
from bastion_orchestrator.clock import Clock, system_clock
from bastion_orchestrator.errors import ConfigurationError

# Each factory imports what it builds: a cold request loads only the parts its door uses (the
# Slack acknowledgement never loads the orchestrator, EC2 or the approvals).
if TYPE_CHECKING:
    from typing import Any

    from bastion_orchestrator.app.approvals import ApprovalBoard, Approvals, ApprovalStore
    from bastion_orchestrator.app.continuations import SlackJobs
    from bastion_orchestrator.app.dispatcher import Dispatcher
    from bastion_orchestrator.app.forensics import Forensics
    from bastion_orchestrator.app.orchestrator import Orchestrator
    from bastion_orchestrator.app.policy import Policy
    from bastion_orchestrator.app.readiness import Readiness
    from bastion_orchestrator.app.reaper import Reaper
    from bastion_orchestrator.aws.ec2 import Ec2Instances, Ec2Reachability
    from bastion_orchestrator.aws.lambda_ import SelfInvoker
    from bastion_orchestrator.aws.scheduler import SchedulerSchedules
    from bastion_orchestrator.config import Settings
    from bastion_orchestrator.domain.bastion import Lifetime
    from bastion_orchestrator.domain.ports import Notice, Notifier, Slots
    from bastion_orchestrator.slack.secret import SlackSecret

_clock: list[Clock] = [system_clock]
_sleep: list[Callable[[float], None]] = [time.sleep]


def set_clock(clock: Clock, sleep: Callable[[float], None] = time.sleep) -> None:
    """Inject time: the clock, and how waiting advances it (tests and the demo)."""
    _clock[0] = clock
    _sleep[0] = sleep


def sleep(seconds: float) -> None:
    _sleep[0](seconds)


def now() -> datetime:
    return _clock[0]()


def get_settings() -> Settings:
    """The validated settings (``config``), imported on first use: a slow verb's Slack
    acknowledgement needs none of them, nor pydantic."""
    from bastion_orchestrator.config import get_settings as load

    return load()


def rules(settings: Settings) -> Lifetime:
    from bastion_orchestrator.domain.bastion import Lifetime

    return Lifetime.of_hours(
        settings.bastion_lifetime_hours,
        settings.extend_hours,
        settings.max_lifetime_hours,
        settings.warning_minutes,
    )


@cache
def instances() -> Ec2Instances:
    from bastion_orchestrator.aws.ec2 import Ec2Instances
    from bastion_orchestrator.aws.ssm import image_resolver

    s = get_settings()
    return Ec2Instances(
        clients.ec2,
        project=s.project_name,
        environment=s.environment,
        latest_image=image_resolver(s.ami_parameter),
        instance_profile=s.iam_instance_profile,
    )


@cache
def schedules() -> SchedulerSchedules:
    from bastion_orchestrator.aws.scheduler import SchedulerSchedules

    s = get_settings()
    return SchedulerSchedules(
        clients.scheduler,
        group=s.schedule_group,
        prefix=s.schedule_prefix,
        role_arn=s.scheduler_role_arn,
        termination_target=s.auto_terminate_lambda_arn,
        warning_target=s.warning_target_arn,
    )


@cache
def notifier() -> Notifier:
    s = get_settings()
    if s.slack_notifier_lambda_arn:
        from bastion_orchestrator.slack.notifier import LambdaNotifier

        return LambdaNotifier(clients.lambda_, s.slack_notifier_lambda_arn)
    from bastion_orchestrator.slack.notifier import SlackNotifier

    return SlackNotifier(slack_secret_loader(), channel=s.slack_channel, api_url=s.slack_api_url)


@cache
def slack_secret_loader() -> Callable[[], SlackSecret]:
    from bastion_orchestrator.slack.secret import secret_arn, secret_loader

    return secret_loader(secret_arn())


def slack_secret() -> SlackSecret:
    return slack_secret_loader()()


def signing_secret() -> str | None:
    return slack_secret().signing_secret


def reply(url: str, notice: Notice, replace_original: bool) -> None:
    from bastion_orchestrator.slack.notifier import reply as post

    post(url, notice, replace_original=replace_original)


def answer_back(url: str, answer: dict[str, Any]) -> None:
    from bastion_orchestrator.slack.notifier import answer_back as post

    post(url, answer)


def email_of(user_id: str) -> str | None:
    """The Slack user's e-mail (users.info), for the RequestedByEmail tag; None if unknown."""
    from bastion_orchestrator.slack.notifier import email_of as lookup

    s = get_settings()
    return lookup(slack_secret, user_id, api_url=s.slack_api_url)


def enqueue(function_arn: str, payload: dict[str, Any]) -> None:
    self_invoker().invoke_async(function_arn, payload)


def once() -> Any:
    table = get_settings().idempotency_table
    if not table:
        return None
    from bastion_orchestrator.aws.idempotency import once_per_request

    return once_per_request(table)


@cache
def self_invoker() -> SelfInvoker:
    from bastion_orchestrator.aws.lambda_ import SelfInvoker

    return SelfInvoker(clients.lambda_)


@cache
def slots() -> Slots:
    s = get_settings()
    if not s.idempotency_table:
        from bastion_orchestrator.domain.ports import NoSlots

        return NoSlots()
    from bastion_orchestrator.aws.slots import DynamoSlots

    return DynamoSlots(
        lambda: clients.client("dynamodb"),
        table=s.idempotency_table,
        project=s.project_name,
        environment=s.environment,
        per_user=s.max_bastions_per_user,
    )


def orchestrator() -> Orchestrator:
    from bastion_orchestrator.app.orchestrator import Orchestrator
    from bastion_orchestrator.aws.ssm import SsmSessions

    s = get_settings()
    return Orchestrator(
        settings=s,
        rules=rules(s),
        instances=instances(),
        schedules=schedules(),
        sessions=SsmSessions(clients.ssm),
        clock=now,
        region=clients.region(),
        slots=slots(),
        sleep=sleep,  # a concurrent create's short poll: injected with the clock
        forensics=forensics(),
    )


def forensics() -> Forensics:
    from bastion_orchestrator.app.forensics import Forensics

    s = get_settings()
    snapshots = None
    if s.snapshot_on_terminate:
        from bastion_orchestrator.aws.ec2 import Ec2Snapshots

        snapshots = Ec2Snapshots(clients.ec2, project=s.project_name, environment=s.environment)
    return Forensics(snapshots, timedelta(days=s.snapshot_retention_days))


def policy() -> Policy:
    from bastion_orchestrator.app.policy import Policy

    return Policy.of(get_settings())


def dispatcher() -> Dispatcher:
    from bastion_orchestrator.app.dispatcher import Dispatcher

    return Dispatcher(policy=policy, orchestrator=orchestrator, approvals=approvals)


def approvals() -> Approvals:
    from bastion_orchestrator.app.approvals import Approvals

    s = get_settings()
    return Approvals(
        store=approval_store,
        board=approval_board,
        notifier=notifier,
        approvers=s.approver_user_ids,
        environment=s.environment,
        timeout=timedelta(minutes=s.approval_timeout_minutes),
        clock=now,
        identities=s.approver_iam_principals,
    )


def expire_approvals() -> int | None:
    """The sweep's part in approvals: None when they are off."""
    return approvals().expire_overdue() if get_settings().approval_required else None


@cache
def approval_store() -> ApprovalStore:
    s = get_settings()
    if not s.idempotency_table:
        raise ConfigurationError(
            "Approval requests are stored in IDEMPOTENCY_TABLE, which is not set.",
            variables=["IDEMPOTENCY_TABLE"],
        )
    from bastion_orchestrator.aws.approvals import DynamoApprovals

    return DynamoApprovals(
        lambda: clients.client("dynamodb"),
        table=s.idempotency_table,
        project=s.project_name,
        environment=s.environment,
    )


@cache
def approval_board() -> ApprovalBoard:
    """APPROVAL_CHANNEL (else SLACK_CHANNEL) through the bot token; logged without Slack."""
    from bastion_orchestrator.slack.notifier import LoggedBoard, SlackApprovalBoard, SlackNotifier

    s = get_settings()
    channel = s.approval_channel or s.slack_channel
    sender = notifier()
    if channel and isinstance(sender, SlackNotifier):
        return SlackApprovalBoard(sender, channel)
    return LoggedBoard()


def slack_jobs() -> SlackJobs:
    from bastion_orchestrator.app.continuations import SlackJobs

    return SlackJobs(
        dispatcher=dispatcher(),
        environment=lambda: get_settings().environment,
        clock=now,
        notifier=notifier,
        reply=reply,
        email_of=email_of,
        once=once,
        ready_checks=ready_checks,
    )


def ready_checks(instance_id: str, launched: datetime) -> None:
    """The one-shot schedules that tell a Slack requester when their bastion is ready."""
    from bastion_orchestrator.app.readiness import check_times

    schedules().put_ready_checks(instance_id, check_times(launched))


def readiness() -> Readiness:
    from bastion_orchestrator.app.readiness import Readiness
    from bastion_orchestrator.app.views import bastion_view
    from bastion_orchestrator.aws.ssm import SsmSessions

    s = get_settings()
    lifetime = rules(s)
    region = clients.region()
    return Readiness(
        environment=s.environment,
        rules=lifetime,
        instances=instances(),
        sessions=SsmSessions(clients.ssm),
        notifier=notifier(),
        clock=now,
        connection=lambda b: bastion_view(b, lifetime, now(), region=region, settings=s)[
            "connection"
        ],
        diagnose=lambda instance_id: reachability().problems(instance_id),
    )


@cache
def reachability() -> Ec2Reachability:
    from bastion_orchestrator.aws.ec2 import Ec2Reachability

    return Ec2Reachability(clients.ec2)


def reaper() -> Reaper:
    from bastion_orchestrator.app.reaper import Reaper
    from bastion_orchestrator.aws.ssm import SsmSessions

    s = get_settings()
    return Reaper(
        environment=s.environment,
        rules=rules(s),
        instances=instances(),
        schedules=schedules(),
        notifier=notifier(),
        clock=now,
        slots=slots(),
        sessions=SsmSessions(clients.ssm),
        idle=timedelta(minutes=s.idle_minutes) if s.idle_minutes else None,
        forensics=forensics(),
    )


def reset() -> None:
    """Forget settings, clients, adapters and cached parameters (tests, demo)."""
    from bastion_orchestrator import config
    from bastion_orchestrator.aws import idempotency, ssm
    from bastion_orchestrator.slack import notifier as slack_notifier
    from bastion_orchestrator.slack import secret

    config.get_settings.cache_clear()
    clients.reset()
    instances.cache_clear()
    schedules.cache_clear()
    notifier.cache_clear()
    slack_secret_loader.cache_clear()
    self_invoker.cache_clear()
    reachability.cache_clear()
    approval_store.cache_clear()
    approval_board.cache_clear()
    slots.cache_clear()
    ssm._parameters.cache_clear()
    secret._secrets.cache_clear()
    slack_notifier.web_client.cache_clear()
    idempotency.once_per_request.cache_clear()
