"""EventBridge Scheduler: two one-shot schedules per bastion, named after the deployment.

Names are ``<project>-<environment>-<instance id>-warning|termination`` so that a deployment
only ever lists, moves or deletes its own schedules, even in a shared group. A bastion launched
from Slack also gets a few readiness checks, ``<...>-<instance id>-ready-<n>``: one-shot and
self-deleting like the others, so the sweep leaves them alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from bastion_orchestrator.adapters.aws.clients import error_code
from bastion_orchestrator.clock import scheduler_at, to_utc
from bastion_orchestrator.domain.ports import ScheduleRef
from bastion_orchestrator.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import CreateScheduleInputTypeDef, RetryPolicyTypeDef

_INSTANCE_ID: Final = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")
Kind = Literal["warning", "termination"]
KINDS: Final[tuple[Kind, ...]] = ("termination", "warning")
LIST_PAGE_SIZE: Final = 100  # the API's maximum
_EVENT_ACTION: Final[dict[Kind, str]] = {"warning": "warn", "termination": "terminate"}


class SchedulerSchedules:
    def __init__(
        self,
        client: Callable[[], EventBridgeSchedulerClient],
        *,
        group: str,
        prefix: str,
        role_arn: str,
        termination_target: str,
        warning_target: str,
    ) -> None:
        self._client = client
        self._group = group
        self._prefix = prefix
        self._role_arn = role_arn
        self._targets: dict[Kind, str] = {
            "termination": termination_target,
            "warning": warning_target,
        }

    def name(self, instance_id: str, kind: Kind) -> str:
        return f"{self._prefix}{instance_id}-{kind}"

    def put(self, instance_id: str, expires_at: datetime, warn_at: datetime, *, new: bool) -> None:
        # Termination first: if anything fails, the caller knows the bastion has none yet.
        self._put(instance_id, "termination", expires_at, new=new)
        self._put(instance_id, "warning", warn_at, new=new)

    def _put(self, instance_id: str, kind: Kind, at: datetime, *, new: bool) -> None:
        # Every field, every time: UpdateSchedule replaces the whole schedule.
        request = self._one_shot(
            self.name(instance_id, kind),
            at,
            f"bastion {instance_id}: {kind}",
            target=self._targets[kind],
            event={"action": _EVENT_ACTION[kind], "instance_id": instance_id},
            retry={"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10},
        )
        client = self._client()
        first, second = (
            (client.create_schedule, client.update_schedule)
            if new
            else (client.update_schedule, client.create_schedule)
        )
        try:
            first(**request)
        except Exception as e:
            # create -> exists (a retried request): move it; update -> gone (it fired): re-create.
            code = error_code(e)
            if code not in {"ConflictException", "ResourceNotFoundException"}:
                raise
            if code == "ResourceNotFoundException" and new:
                raise ConfigurationError(
                    f"Schedule group {self._group!r} does not exist. Create it or fix "
                    "SCHEDULE_GROUP.",
                    variables=["SCHEDULE_GROUP"],
                ) from e
            second(**request)

    def put_ready_checks(self, instance_id: str, times: Sequence[datetime]) -> None:
        """One schedule per check, delivering ``{"action": "ready", "attempt": n}`` to the
        auto-terminator. A retried continuation finds them there (ConflictException): kept."""
        client = self._client()
        for attempt, at in enumerate(times, start=1):
            request = self._one_shot(
                f"{self._prefix}{instance_id}-ready-{attempt}",
                at,
                f"bastion {instance_id}: readiness check {attempt}",
                target=self._targets["termination"],
                event={"action": "ready", "instance_id": instance_id, "attempt": attempt},
                # A check delivered late is worth nothing: a short life, few retries.
                retry={"MaximumEventAgeInSeconds": 300, "MaximumRetryAttempts": 2},
            )
            try:
                client.create_schedule(**request)
            except Exception as e:
                if error_code(e) != "ConflictException":
                    raise

    def _one_shot(
        self,
        name: str,
        at: datetime,
        description: str,
        *,
        target: str,
        event: dict[str, str | int],
        retry: RetryPolicyTypeDef,
    ) -> CreateScheduleInputTypeDef:
        """A schedule that fires once, at ``at``, then deletes itself."""
        return {
            "Name": name,
            "GroupName": self._group,
            "ScheduleExpression": scheduler_at(at),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "State": "ENABLED",
            "Description": description,
            "Target": {
                "Arn": target,
                "RoleArn": self._role_arn,
                "Input": json.dumps(event),
                "RetryPolicy": retry,
            },
        }

    def remove(self, instance_id: str) -> None:
        for kind in KINDS:
            self.delete(self.name(instance_id, kind))

    def delete(self, name: str) -> None:
        try:
            self._client().delete_schedule(Name=name, GroupName=self._group)
        except Exception as e:
            if error_code(e) != "ResourceNotFoundException":
                raise

    def ours(self) -> Iterator[ScheduleRef]:
        """This deployment's per-bastion schedules: our name prefix and our target."""
        ours = set(self._targets.values())
        pages = (
            self._client()
            .get_paginator("list_schedules")
            .paginate(
                GroupName=self._group,
                NamePrefix=self._prefix,
                PaginationConfig={"PageSize": LIST_PAGE_SIZE},
            )
        )
        for page in pages:
            for item in page.get("Schedules", []):
                name = item.get("Name", "")
                instance_id = _instance_of(name[len(self._prefix) :])
                if instance_id is None:
                    continue  # e.g. the recurring sweep: not a per-bastion schedule
                if item.get("Target", {}).get("Arn") not in ours:
                    # Same name, another deployment: "<project>-<env>-" is ambiguous
                    # ("a"/"b-c" and "a-b"/"c"), its target function is not.
                    continue
                created = item.get("CreationDate")
                yield ScheduleRef(name, instance_id, to_utc(created) if created else None)


def _instance_of(rest: str) -> str | None:
    """The instance id in ``<instance id>-<kind>``; None for any other name."""
    for kind in KINDS:
        suffix = f"-{kind}"
        if rest.endswith(suffix) and _INSTANCE_ID.fullmatch(rest[: -len(suffix)]):
            return rest[: -len(suffix)]
    return None
