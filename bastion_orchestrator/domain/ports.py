"""What the use cases need from the outside world. Adapters in ``aws/`` and ``slack/``
implement these; unit tests hand in in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.approval import Approval, Status
from bastion_orchestrator.domain.bastion import ACTIVE_STATES, Bastion


@dataclass(frozen=True)
class LaunchSpec:
    image_id: str
    instance_type: str
    subnet_id: str
    security_group_id: str
    instance_profile: str
    tags: Mapping[str, str]
    client_token: str
    user_data: str = ""


class Instances(Protocol):
    """Our bastions, read and ended (the compute port, ``domain.compute``, adds launching)."""

    def get(self, instance_id: str) -> Bastion | None:
        """Our bastion with this id (any state), or None when absent or not ours."""

    def active(
        self, user_id: str | None = None, *, states: Sequence[str] = ACTIVE_STATES
    ) -> Iterator[Bastion]:
        """Our bastions in these states (default: not terminated), page by page, of one
        requester if given."""

    def by_profile(self) -> Iterator[Bastion]:
        """Running or stopped instances with this deployment's instance profile, whatever
        their tags say (a bastion whose tags were stripped is still found)."""

    def terminate(self, instance_ids: Sequence[str]) -> dict[str, str]:
        """Terminate; answer each instance's state *before* the call."""

    def tag(self, instance_id: str, tags: Mapping[str, str]) -> None:
        """Record facts (``Tag`` attributes) with the bastion."""


@dataclass(frozen=True)
class ScheduleRef:
    name: str
    instance_id: str
    created: datetime | None


class Schedules(Protocol):
    def put(self, instance_id: str, expires_at: datetime, warn_at: datetime, *, new: bool) -> None:
        """Create (``new``) or move the warning and termination schedules of a bastion."""

    def remove(self, instance_id: str) -> None:
        """Delete both schedules; absent ones are fine."""

    def ours(self) -> Iterator[ScheduleRef]: ...

    def delete(self, name: str) -> None: ...


NoticeKind = Literal[
    "launching",
    "ready",
    "not_ready",
    "created",
    "warning",
    "extended",
    "terminated",
    "failed",
    "approval",  # cause: pending, denied, expired; instance_id: the request's id
]


@dataclass(frozen=True)
class Notice:
    """Something to tell the requester (and, for some kinds, the channel)."""

    kind: NoticeKind
    user_id: str | None
    instance_id: str
    expires_at: datetime | None
    environment: str
    cause: str | None = None
    lived_seconds: int | None = None
    connection: Mapping[str, str] = field(default_factory=dict)
    detail: str | None = None


class Notifier(Protocol):
    def send(self, notice: Notice) -> None:
        """Deliver; raises ``NotificationFailed`` when Slack cannot be reached."""


class Slots(Protocol):
    """Per-user launch slots: at most MAX_BASTIONS_PER_USER launches at once per user."""

    def acquire(self, user_id: str, token: str, until: datetime, now: datetime) -> int | None:
        """The slot claimed for this request, or None when all are held by others."""

    def record(
        self, user_id: str, n: int, token: str, instance_id: str, until: datetime
    ) -> None: ...

    def holders(self, user_id: str) -> list[str]:
        """Instance ids recorded in the user's slots."""

    def release(
        self, user_id: str, *, instance_id: str | None = None, token: str | None = None
    ) -> None: ...


class NoSlots:
    """Without ``IDEMPOTENCY_TABLE``: the describe-before-launch check and the RunInstances
    client token are the only guards against a double launch."""

    def acquire(self, user_id: str, token: str, until: datetime, now: datetime) -> int | None:
        return 0

    def record(self, user_id: str, n: int, token: str, instance_id: str, until: datetime) -> None:
        return None

    def holders(self, user_id: str) -> list[str]:
        return []

    def release(
        self, user_id: str, *, instance_id: str | None = None, token: str | None = None
    ) -> None:
        return None


@dataclass(frozen=True)
class Evidence:
    """What a forensic snapshot preserves and how it is labelled."""

    instance_id: str
    volume_id: str
    user_id: str | None
    username: str | None
    reason: str | None


class Snapshots(Protocol):
    def take(self, evidence: Evidence, cause: str, now: datetime) -> str:
        """Snapshot the volume, tagged with owner, reason and cause; answers its id."""

    def older_than(self, moment: datetime) -> Iterator[str]:
        """Our snapshots started before ``moment`` (this deployment's only)."""

    def delete(self, snapshot_id: str) -> None: ...


@dataclass(frozen=True)
class Agent:
    """The SSM agent on a bastion, as SSM sees it."""

    status: str  # Online, ConnectionLost, Inactive, NotRegistered, Unknown
    registered_at: datetime | None = None

    @property
    def ready(self) -> bool:
        """A session can start: the agent is online."""
        return self.status == "Online"


class Reachability(Protocol):
    def problems(self, instance_id: str) -> list[str]:
        """Why a bastion's SSM agent probably cannot come online (empty: nothing obvious)."""


class SessionActivity(Protocol):
    def active_targets(self) -> set[str]:
        """Instances with an SSM session open right now."""

    def last_session_end(self, instance_id: str) -> datetime | None:
        """When the newest finished SSM session on the instance ended (None: never)."""

    def agent(self, instance_id: str) -> Agent:
        """The SSM agent's ping status and when it registered."""


class ApprovalStore(Protocol):
    def add(self, approval: Approval) -> Approval:
        """Store it, or answer the requester's open request instead."""

    def get(self, approval_id: str) -> Approval | None: ...

    def decide(
        self,
        approval_id: str,
        status: Status,
        *,
        by: str,
        now: datetime,
        reason: str | None = None,
        before_expiry: bool = True,
    ) -> bool: ...

    def annotate(self, approval_id: str, **fields: str) -> None: ...

    def overdue(self, now: datetime) -> Iterator[Approval]:
        """Iterator of pending requests whose time is up."""


class ApprovalBoard(Protocol):
    """The approval channel."""

    def post(self, approval: Approval, approvers: Sequence[str]) -> tuple[str, str] | None:
        """Post the request with its buttons; answers (channel, ts) to update it later."""

    def update(self, approval: Approval) -> None:
        """Show the outcome in place of the buttons."""

    def break_glass(
        self, owner: Owner, instance_id: str, hours: float, reason: str, *, extended: bool = False
    ) -> None: ...
