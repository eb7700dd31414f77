"""What the use cases answer: typed results, with datetimes. Presenters (``presenters/``)
turn them into the contract's JSON, Slack messages or HTTP answers; nothing reads them back
out of a dict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bastion_orchestrator.domain.approval import Approval
from bastion_orchestrator.domain.bastion import GONE_STATES, Bastion, Lifetime
from bastion_orchestrator.errors import BastionError


@dataclass(frozen=True)
class Facts:
    """A bastion as every answer shows it, at one moment."""

    bastion: Bastion
    created_at: datetime
    expires_at: datetime
    seconds_remaining: int  # 0 once it is no longer active

    @classmethod
    def of(cls, bastion: Bastion, rules: Lifetime, now: datetime) -> Facts:
        remaining = bastion.seconds_remaining(rules, now) if bastion.is_active else 0
        return cls(bastion, bastion.created_at, bastion.expires_at(rules), remaining)

    @property
    def instance_id(self) -> str:
        return self.bastion.instance_id

    @property
    def gone(self) -> bool:
        return self.bastion.state in GONE_STATES


@dataclass(frozen=True)
class Created:
    """A create's answer: a new bastion, or the requester's existing one."""

    facts: Facts
    existing: bool
    subnet_id: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inspected:
    """status: the bastion and its SSM agent."""

    facts: Facts
    ssm_status: str
    ready: bool
    seconds_to_ready: int | None = None


@dataclass(frozen=True)
class BreakGlass:
    hours: float
    reason: str


@dataclass(frozen=True)
class Extended:
    facts: Facts
    previous_expires_at: datetime
    capped: bool = False
    message: str | None = None  # why it was capped
    break_glass: BreakGlass | None = None


@dataclass(frozen=True)
class AlreadyExtended:
    """The same extension again (a redelivery, a second approval click): nothing done."""

    facts: Facts
    message: str


@dataclass(frozen=True)
class Destroyed:
    facts: Facts
    already_terminated: bool


@dataclass(frozen=True)
class Listed:
    bastions: tuple[Facts, ...]


@dataclass(frozen=True)
class Pending:
    """A request stored for the approvers; nothing else happened."""

    approval: Approval
    message: str


@dataclass(frozen=True)
class Decided:
    """An approver's answer. ``outcome`` is what an approval did (a launch, an extension);
    ``fresh`` is False when the request had been decided (or had expired) before."""

    approval: Approval
    fresh: bool
    message: str | None = None
    outcome: Created | Extended | AlreadyExtended | None = None

    @property
    def stale(self) -> bool:
        """Decided (or expired) before, and not approved: a refusal to the approver."""
        return not self.fresh and self.approval.status != "approved"


@dataclass(frozen=True)
class Refused:
    """A refusal the caller is told about (already logged and counted)."""

    error: BastionError


Result = Created | Inspected | Extended | AlreadyExtended | Destroyed | Listed | Pending | Decided
Outcome = Result | Refused
