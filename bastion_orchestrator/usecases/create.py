"""create: a bastion for this owner (4 calls warm: describe, launch, 2 schedules).

The requester's live bastion is answered instead of a second one (``MAX_BASTIONS_PER_USER``);
a per-user launch slot (``Slots``) makes two concurrent creates launch one; a bastion whose
schedules cannot be written is terminated again: none lives without its termination.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bastion_orchestrator.clock import Clock, iso
from bastion_orchestrator.config import Settings
from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.bastion import (
    Bastion,
    Lifetime,
    initial_expiry,
    warning_time,
)
from bastion_orchestrator.domain.compute import (
    Compute,
    Forward,
    Grant,
    Order,
    Placement,
    client_token,
)
from bastion_orchestrator.domain.ports import NoSlots, Schedules, Slots
from bastion_orchestrator.domain.results import Created, Facts
from bastion_orchestrator.errors import (
    BastionError,
    ConfigurationError,
    InternalError,
    InvalidRequest,
    LimitExceeded,
)
from bastion_orchestrator.observability import audit, count, logger
from models import Create

# A claimed slot without a launched instance frees itself after this (a crashed launch).
PENDING_LEASE = timedelta(minutes=5)
# A concurrent create polls this long for the other request's instance before giving up.
IN_FLIGHT_POLL = (0.5, 1.0, 1.5)


@dataclass(frozen=True)
class CreateBastion:
    settings: Settings
    rules: Lifetime
    compute: Compute
    schedules: Schedules
    clock: Clock
    slots: Slots = field(default_factory=NoSlots)
    sleep: Callable[[float], None] = time.sleep

    def __call__(
        self,
        req: Create,
        owner: Owner,
        *,
        request_id: str,
        approved_by: str | None = None,
        break_glass: bool = False,
    ) -> Created:
        grant = Grant(approved_by=approved_by, break_glass=break_glass)
        order = self._order(req, owner, request_id, grant)
        reused = self._live(owner.user_id, order.created_at)
        if reused is not None:
            return reused
        slot, concurrent = self._claim(owner.user_id, order.token, order.created_at)
        if concurrent is not None:
            why = "bastion reused (concurrent create)"
            return self._reused(concurrent, owner.user_id, order.created_at, why)
        if slot is None:
            raise LimitExceeded(
                f"A bastion is already being launched for {owner.user_id}; it appears in a few "
                "seconds. Check with the status action instead of creating again.",
            )
        return self._launch(req, order, slot)

    def _order(self, req: Create, owner: Owner, request_id: str, grant: Grant) -> Order:
        s = self.settings
        lifetime = self._lifetime(req.hours)
        profile = self._profile(req.profile)
        now = self.clock()
        expires = initial_expiry(now, lifetime)
        if s.approval_required:  # what was granted binds its extends (see extend)
            grant = replace(grant, until=expires)
        return Order(
            owner=owner,
            created_at=now,
            expires_at=expires,
            cap=now.replace(microsecond=0) + self.rules.maximum,
            profile=profile,
            token=client_token(s.project_name, s.environment, owner.user_id, request_id),
            placement=Placement(req.subnet_id),
            forward=Forward(req.rds_endpoint or s.rds_endpoint, req.rds_port or s.rds_port),
            reason=req.reason,
            grant=grant,
        )

    def _lifetime(self, hours: float | None) -> Lifetime:
        """The rules for this bastion: ``hours`` replaces the initial lifetime, within the cap."""
        if hours is None:
            return self.rules
        cap = self.settings.max_lifetime_hours
        if hours > cap:
            raise InvalidRequest(
                f"hours {hours:g} is more than this deployment's maximum lifetime ({cap:g} h). "
                f"Ask for at most {cap:g} hours; extend later if you need more.",
                errors=[{"field": "hours", "problem": f"at most MAX_LIFETIME_HOURS ({cap:g})"}],
            )
        return replace(self.rules, initial=timedelta(hours=hours))

    def _profile(self, wanted: str | None) -> str:
        allowed = self.settings.boot_profiles
        if wanted is None:
            return allowed[0]
        if wanted not in allowed:
            raise InvalidRequest(
                f"profile {wanted!r} is not offered here; use one of {', '.join(allowed)} "
                "(BOOT_PROFILES), or leave it out.",
                errors=[{"field": "profile", "problem": f"one of {', '.join(allowed)}"}],
            )
        return wanted

    def _live(self, user_id: str, now: datetime) -> Created | None:
        """The requester's newest live bastion, when they have as many as they may."""
        mine = [b for b in self.compute.active(user_id) if not b.is_expired(self.rules, now)]
        if len(mine) < self.settings.max_bastions_per_user:
            return None
        newest = max(mine, key=lambda b: b.created_at)
        return self._reused(newest, user_id, now, "bastion reused")

    def _reused(self, bastion: Bastion, user_id: str, now: datetime, why: str) -> Created:
        audit(why, actor=user_id, action="create", instance_id=bastion.instance_id)
        return Created(Facts.of(bastion, self.rules, now), existing=True)

    def _claim(self, user_id: str, token: str, now: datetime) -> tuple[int | None, Bastion | None]:
        """A launch slot for this request, or the bastion a concurrent create launched.

        A slot whose bastion is gone (terminated by hand, say) is freed and claimed; one still
        being launched is polled briefly for its instance.
        """
        for delay in (0.0, *IN_FLIGHT_POLL):
            if delay:
                self.sleep(delay)
            slot = self.slots.acquire(user_id, token, until=now + PENDING_LEASE, now=now)
            if slot is not None:
                return slot, None
            for instance_id in self.slots.holders(user_id):
                bastion = self.compute.get(instance_id)
                # An expired bastion (its termination is under way) is never handed back.
                if bastion and bastion.is_active and not bastion.is_expired(self.rules, now):
                    return None, bastion
                self.slots.release(user_id, instance_id=instance_id)
        return None, None

    def _launch(self, req: Create, order: Order, slot: int) -> Created:
        user_id, now = order.owner.user_id, order.created_at
        try:
            launched = self.compute.launch(order)
        except BaseException:
            self.slots.release(user_id, token=order.token)
            raise
        bastion = launched.bastion
        self.slots.record(user_id, slot, order.token, bastion.instance_id, now + self.rules.maximum)
        try:
            warn_at = warning_time(order.expires_at, self.rules, now)
            self.schedules.put(bastion.instance_id, order.expires_at, warn_at, new=True)
        except Exception as e:
            self._abandon(bastion, user_id, e)
        count("BastionsCreated")
        self._audit(req, order, bastion)
        facts = Facts.of(bastion, self.rules, now)
        return Created(facts, existing=False, subnet_id=bastion.subnet_id, notes=launched.notes)

    def _audit(self, req: Create, order: Order, bastion: Bastion) -> None:
        owner = order.owner
        audit(
            "bastion created",
            actor=owner.arn or owner.user_id,
            action="create",
            instance_id=bastion.instance_id,
            owner=owner.user_id,
            username=owner.username,
            expires_at=iso(order.expires_at),
            reason=req.reason,
            vpc_id=req.vpc_id,
            rds_security_group_id=req.rds_security_group_id,
        )

    def _abandon(self, bastion: Bastion, actor: str, cause: Exception) -> None:
        """Scheduling failed after launch: no bastion may live without its termination."""
        count("ScheduleFailures")
        logger.error(
            "scheduling failed after launch; terminating the new bastion",
            extra={"instance_id": bastion.instance_id, "actor": actor, "error": repr(cause)},
        )
        self._undo(bastion, actor)
        audit("bastion abandoned", actor=actor, action="create", instance_id=bastion.instance_id)
        message = (
            f"The bastion's termination could not be scheduled, so the new instance "
            f"{bastion.instance_id} was terminated again. "
        )
        if isinstance(cause, BastionError) and cause.code == ConfigurationError.code:
            raise ConfigurationError(message + cause.message, **cause.details) from cause
        raise InternalError(
            message + "Retry in a minute; if it persists, check the scheduler role "
            "(SCHEDULER_ROLE_ARN) and the schedule group (SCHEDULE_GROUP).",
            instance_id=bastion.instance_id,
        ) from cause

    def _undo(self, bastion: Bastion, actor: str) -> None:
        try:
            self.compute.terminate([bastion.instance_id])
        except Exception:
            count("OrphanedBastions")
            logger.exception(
                "ORPHAN: could not terminate a bastion without schedules; the "
                "sweep will terminate it at its ExpiresAt",
                extra={"instance_id": bastion.instance_id},
            )
        try:
            self.schedules.remove(bastion.instance_id)
            self.slots.release(actor, instance_id=bastion.instance_id)
        except Exception:
            logger.exception("could not delete the half-created schedules; the sweep will")
