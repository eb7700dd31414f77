"""extend: push a bastion's expiry out (4 calls: describe, tag, 2 schedules), never past its
cap. In a protected environment (``APPROVAL_REQUIRED``) what was granted binds: past it, an
extend raises ``BeyondGrant`` and the dispatcher asks the approvers; an approved extension
runs once (``approved``); a break-glass extends at once, for at most ``BREAK_GLASS_HOURS``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bastion_orchestrator.clock import Clock, iso
from bastion_orchestrator.domain.bastion import (
    Bastion,
    Extension,
    Lifetime,
    Tag,
    extended_expiry,
    granted_until,
    warning_time,
)
from bastion_orchestrator.domain.compute import Compute
from bastion_orchestrator.domain.ports import Schedules
from bastion_orchestrator.domain.results import AlreadyExtended, BreakGlass, Extended, Facts
from bastion_orchestrator.errors import InvalidRequest, NotFound
from bastion_orchestrator.observability import audit, count
from bastion_orchestrator.usecases.policy import Act
from bastion_orchestrator.usecases.targets import Targets

ExtendResult = Extended | AlreadyExtended


class BeyondGrant(Exception):
    """An extend past what was granted, in a protected environment: a request to approve."""

    def __init__(self, bastion: Bastion, until: datetime, by: timedelta) -> None:
        super().__init__(bastion.instance_id)
        self.bastion, self.until, self.by = bastion, until, by


@dataclass(frozen=True)
class ExtendRules:
    """The deployment's settings an extension reads."""

    protected: bool  # APPROVAL_REQUIRED: grants bind (elsewhere nobody could approve more)
    break_glass_hours: float
    max_lifetime_hours: float


@dataclass(frozen=True)
class ExtendBastion:
    targets: Targets
    compute: Compute
    schedules: Schedules
    rules: Lifetime
    settings: ExtendRules
    clock: Clock

    def __call__(self, act: Act, *, actor: str, request_id: str) -> ExtendResult:
        bastion = _extendable(self.targets.find(act))
        now = self.clock()
        if bastion.tags.get(Tag.EXTENDED_BY_REQUEST) == request_id:
            return self._again(bastion, now)
        extension = extended_expiry(bastion, self.rules, now)  # refused at the cap, or expired
        if act.break_glass_reason is not None:
            return self._break_glass(bastion, act.break_glass_reason, actor, request_id)
        if self._beyond_grant(bastion, extension.expires_at, approver=act.grants):
            raise BeyondGrant(bastion, extension.expires_at, self.rules.extension)
        grant: dict[str, str] = {}
        if self.settings.protected:  # within the grant, or an approver's: never less than it was
            granted = max(extension.expires_at, granted_until(bastion, self.rules))
            grant[Tag.GRANTED_UNTIL] = iso(granted)
        return self._extended(bastion, extension, grant, actor=actor, request_id=request_id)

    def approved(
        self, instance_id: str, until: datetime, *, approved_by: str, request_id: str
    ) -> ExtendResult:
        """An approver granted this extension: extend once, to ``until`` (within the cap)."""
        bastion = self.compute.get(instance_id)
        if bastion is None:
            raise NotFound(f"Bastion {instance_id} is gone; the approved extension lapsed.")
        bastion = _extendable(bastion)
        now = self.clock()
        if bastion.tags.get(Tag.EXTENDED_BY_REQUEST) == request_id:
            return self._again(bastion, now)
        # Refused if it expired meanwhile (terminating) or already sits at its cap.
        extended_expiry(bastion, replace(self.rules, extension=timedelta(0)), now)
        current = bastion.expires_at(self.rules)
        if until <= current:  # extended past it meanwhile (a break-glass): never shorten it
            return AlreadyExtended(
                Facts.of(bastion, self.rules, now),
                f"It already runs until {iso(current)}, past the {iso(until)} this "
                "request asked for; nothing was changed.",
            )
        cap = bastion.cap(self.rules).replace(microsecond=0)
        extension = Extension(min(until, cap), capped=until > cap)
        granted = {
            Tag.GRANTED_UNTIL: iso(extension.expires_at),
            Tag.EXTENSION_APPROVED_BY: approved_by,
        }
        return self._extended(bastion, extension, granted, actor=approved_by, request_id=request_id)

    def _break_glass(self, bastion: Bastion, reason: str, actor: str, request_id: str) -> Extended:
        """A new break-glass: at once, for at most BREAK_GLASS_HOURS from now (or its expiry)."""
        if not self.settings.protected:
            raise InvalidRequest(
                "break_glass on extend breaks an approval, and this deployment requires "
                "none (APPROVAL_REQUIRED is off): extend without break_glass.",
                errors=[{"field": "break_glass", "problem": "only where approvals apply"}],
            )
        hours = self.settings.break_glass_hours
        glass = replace(self.rules, extension=timedelta(hours=hours))
        extension = extended_expiry(bastion, glass, self.clock())
        tags = {Tag.GRANTED_UNTIL: iso(extension.expires_at), Tag.BREAK_GLASS: "true"}
        result = self._extended(bastion, extension, tags, actor=actor, request_id=request_id)
        return replace(result, break_glass=BreakGlass(hours, reason))

    def _beyond_grant(self, bastion: Bastion, expires: datetime, *, approver: bool) -> bool:
        """Past what was granted, in a protected environment. An approver's extend is its own
        grant (as their create is), except of a break-glass bastion."""
        if not self.settings.protected:
            return False
        if approver and bastion.tags.get(Tag.BREAK_GLASS) != "true":
            return False
        return expires > granted_until(bastion, self.rules)

    def _again(self, bastion: Bastion, now: datetime) -> AlreadyExtended:
        # The same request again (an async retry, a redelivered continuation): done once.
        return AlreadyExtended(
            Facts.of(bastion, self.rules, now),
            "This request already extended it; nothing more was done.",
        )

    def _extended(
        self,
        bastion: Bastion,
        extension: Extension,
        extra_tags: dict[str, str],
        *,
        actor: str,
        request_id: str,
    ) -> Extended:
        now = self.clock()
        previous, expires = bastion.expires_at(self.rules), extension.expires_at
        tags = {Tag.EXPIRES_AT: iso(expires), Tag.EXTENDED_BY_REQUEST: request_id, **extra_tags}
        self.compute.tag(bastion.instance_id, tags)
        warn_at = warning_time(expires, self.rules, now)
        self.schedules.put(bastion.instance_id, expires, warn_at, new=False)
        count("BastionsExtended")
        audit(
            "bastion extended",
            actor=actor,
            action="extend",
            instance_id=bastion.instance_id,
            previous_expires_at=iso(previous),
            expires_at=iso(expires),
            capped=extension.capped,
            **{k: v for k, v in extra_tags.items() if k != Tag.EXPIRES_AT},
        )
        extended = replace(bastion, tags={**bastion.tags, **tags})
        facts = Facts.of(extended, self.rules, now)
        if not extension.capped:
            return Extended(facts, previous)
        return Extended(facts, previous, capped=True, message=self._last(expires))

    def _last(self, expires: datetime) -> str:
        return (
            f"Extended only to {iso(expires)}: bastions live at most "
            f"{self.settings.max_lifetime_hours:g} h after creation, so this is the last "
            "extension. Create a new bastion after it expires."
        )


def _extendable(bastion: Bastion) -> Bastion:
    if not bastion.is_active:
        raise NotFound(
            f"Bastion {bastion.instance_id} is {bastion.state}; it cannot be extended. "
            "Create a new one.",
            instance_id=bastion.instance_id,
        )
    return bastion
