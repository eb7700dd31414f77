"""A bastion as its EC2 tags describe it, and the rules of its lifetime.

EC2 tags are the state. Tags can be written by anyone with ``ec2:CreateTags``, so the rules
never trust them to grant more: the expiry is clamped to the launch time (which EC2 sets and
nobody can change) plus ``MAX_LIFETIME_HOURS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from bastion_orchestrator.clock import iso, parse_iso
from bastion_orchestrator.domain.actor import Principal
from bastion_orchestrator.domain.ids import dns_name
from bastion_orchestrator.errors import Forbidden, LimitExceeded

MANAGED_BY: Final = "bastion-orchestrator"
ACTIVE_STATES: Final = ("pending", "running", "stopping", "stopped")
GONE_STATES: Final = ("shutting-down", "terminated")


class Tag:
    MANAGED_BY: Final = "ManagedBy"
    NAME: Final = "Name"
    PROJECT: Final = "Project"
    ENVIRONMENT: Final = "Environment"
    USER_ID: Final = "RequestedByUserId"
    USERNAME: Final = "RequestedBy"
    DISPLAY_NAME: Final = "RequestedByName"
    ARN: Final = "RequestedByArn"
    EMAIL: Final = "RequestedByEmail"
    APPROVED_BY: Final = "ApprovedBy"
    BREAK_GLASS: Final = "BreakGlass"
    CREATED_AT: Final = "CreatedAt"
    EXPIRES_AT: Final = "ExpiresAt"
    RDS_ENDPOINT: Final = "RdsEndpoint"
    RDS_PORT: Final = "RdsPort"
    REASON: Final = "Reason"
    WARNED_FOR: Final = "WarnedFor"
    # Whether its Slack requester was told it is ready (or not): at most once (app.readiness).
    READY_NOTIFIED: Final = "ReadyNotified"
    # The request that last extended it: a redelivered extend (Lambda's async retries) finds
    # itself here and extends nothing twice, with no store beyond the tags.
    EXTENDED_BY_REQUEST: Final = "ExtendedByRequest"
    # In a protected environment, the expiry an approval (or a break-glass) granted: an
    # extend past it is a request to the approvers (CONTRACT.md, "Approvals").
    GRANTED_UNTIL: Final = "GrantedUntil"
    EXTENSION_APPROVED_BY: Final = "ExtensionApprovedBy"


@dataclass(frozen=True)
class Lifetime:
    """The deployment's lifetime rules."""

    initial: timedelta
    extension: timedelta
    maximum: timedelta
    warning: timedelta

    @classmethod
    def of_hours(
        cls, initial: float, extension: float, maximum: float, warning_minutes: int
    ) -> Lifetime:
        return cls(
            timedelta(hours=initial),
            timedelta(hours=extension),
            timedelta(hours=maximum),
            timedelta(minutes=warning_minutes),
        )


@dataclass(frozen=True)
class Bastion:
    instance_id: str
    state: str
    private_ip: str | None
    launch_time: datetime
    tags: dict[str, str] = field(default_factory=dict)
    subnet_id: str | None = None
    root_volume_id: str | None = None

    @property
    def user_id(self) -> str | None:
        return self.tags.get(Tag.USER_ID)

    @property
    def username(self) -> str | None:
        return self.tags.get(Tag.USERNAME)

    @property
    def reason(self) -> str | None:
        return self.tags.get(Tag.REASON)

    @property
    def display_name(self) -> str | None:
        return self.tags.get(Tag.DISPLAY_NAME)

    @property
    def rds_endpoint(self) -> str | None:
        """The tag, only if it is still a DNS name: tags can be rewritten by anyone with
        ``ec2:CreateTags``, and this one ends up in a command people paste into a shell."""
        value = self.tags.get(Tag.RDS_ENDPOINT)
        if value is None or len(value) > 253:
            return None
        try:
            return dns_name(value)
        except ValueError:
            return None

    @property
    def rds_port(self) -> int | None:
        value = self.tags.get(Tag.RDS_PORT, "")
        return int(value) if value.isdigit() and 0 < int(value) < 65536 else None

    @property
    def created_at(self) -> datetime:
        """The earlier of the tag and the launch time: a later tag cannot buy lifetime."""
        tagged = parse_iso(self.tags.get(Tag.CREATED_AT))
        return min(tagged, self.launch_time) if tagged else self.launch_time

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def warned_for(self) -> str | None:
        return self.tags.get(Tag.WARNED_FOR)

    def cap(self, rules: Lifetime) -> datetime:
        return self.created_at + rules.maximum

    def expires_at(self, rules: Lifetime) -> datetime:
        """``ExpiresAt`` clamped to the cap; a missing or garbled tag means the initial lifetime."""
        tagged = parse_iso(self.tags.get(Tag.EXPIRES_AT))
        expiry = tagged if tagged else self.created_at + rules.initial
        return min(expiry, self.cap(rules))

    def is_expired(self, rules: Lifetime, now: datetime) -> bool:
        return self.expires_at(rules) <= now

    def seconds_remaining(self, rules: Lifetime, now: datetime) -> int:
        return max(0, int((self.expires_at(rules) - now).total_seconds()))


def initial_expiry(now: datetime, rules: Lifetime) -> datetime:
    return now.replace(microsecond=0) + rules.initial


@dataclass(frozen=True)
class Extension:
    expires_at: datetime
    capped: bool  # clamped to the cap: less than a full extension was granted


def extended_expiry(bastion: Bastion, rules: Lifetime, now: datetime) -> Extension:
    """Push the expiry out by the extension, never past the cap.

    Raises ``LimitExceeded`` when the bastion already sits at its cap, or when its expiry has
    passed (it is being terminated; extending it now would revive it).
    """
    current = bastion.expires_at(rules)
    cap = bastion.cap(rules).replace(microsecond=0)
    if current <= now:
        raise LimitExceeded(
            f"Bastion {bastion.instance_id} expired at {iso(current)} and is being "
            "terminated; it cannot be extended. Create a new bastion.",
            instance_id=bastion.instance_id,
            expires_at=iso(current),
        )
    if current >= cap:
        raise LimitExceeded(
            f"Bastion {bastion.instance_id} already runs until its maximum lifetime "
            f"({iso(cap)}, {_hours(rules.maximum)} after creation) and cannot be extended "
            "further. Create a new bastion when this one expires.",
            instance_id=bastion.instance_id,
            expires_at=iso(current),
        )
    wanted = max(current, now).replace(microsecond=0) + rules.extension
    return Extension(min(wanted, cap), capped=wanted > cap)


def granted_until(bastion: Bastion, rules: Lifetime) -> datetime:
    """What was granted: ``GrantedUntil``, or (a bastion from before grants were recorded)
    its current expiry, so that nothing more is granted without an approver."""
    return parse_iso(bastion.tags.get(Tag.GRANTED_UNTIL)) or bastion.expires_at(rules)


def ensure_may_act(bastion: Bastion, caller: Principal) -> None:
    """Owner-or-admin: the bastion's requester, an admin, or the operator (direct invoke
    naming nobody) may act on it."""
    if caller.unrestricted or caller.id == bastion.user_id:
        return
    raise Forbidden(
        f"{caller.id} did not request bastion {bastion.instance_id} and is not an admin. "
        "Ask its requester, or an admin (ADMIN_USER_IDS, or ADMIN_PRINCIPAL_ARNS on the IAM "
        "door).",
        instance_id=bastion.instance_id,
    )


def warning_due(bastion: Bastion, rules: Lifetime, now: datetime, tolerance: timedelta) -> bool:
    """True when a warning should go out now: running, not expired, within the lead time."""
    remaining = bastion.expires_at(rules) - now
    return bastion.state == "running" and timedelta(0) < remaining <= rules.warning + tolerance


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h"


WARNING_FLOOR: Final = timedelta(minutes=1)


def warning_time(expires_at: datetime, rules: Lifetime, now: datetime) -> datetime:
    """``ExpiresAt - WARNING_MINUTES``, but never in the past (a late extend still warns)."""
    return max(expires_at - rules.warning, min(now + WARNING_FLOOR, expires_at))
