"""The orchestrator's use cases: create, status, extend, destroy, list.

Rules come from ``domain``; AWS arrives through the ports. Calls per action (warm): create 4
(describe, run, 2 schedules), status 1 (+1 SSM ping when running), extend 4 (describe, tag,
2 schedules), destroy 4 (describe, terminate, 2 schedule deletes).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bastion_orchestrator.app.forensics import Forensics, evidence_of
from bastion_orchestrator.app.policy import Act
from bastion_orchestrator.clock import Clock, iso
from bastion_orchestrator.config import Settings
from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.bastion import (
    GONE_STATES,
    MANAGED_BY,
    Bastion,
    Extension,
    Lifetime,
    Tag,
    ensure_may_act,
    extended_expiry,
    granted_until,
    initial_expiry,
)
from bastion_orchestrator.domain.boot import BootSpec, user_data
from bastion_orchestrator.domain.ports import (
    Instances,
    LaunchSpec,
    NoSlots,
    Schedules,
    SessionActivity,
    Slots,
)
from bastion_orchestrator.errors import (
    BastionError,
    CapacityUnavailable,
    ConfigurationError,
    InternalError,
    InvalidRequest,
    LaunchRejected,
    LimitExceeded,
    NoCapacity,
    NotFound,
)
from bastion_orchestrator.observability import audit, count, logger
from models import Create

WARNING_FLOOR = timedelta(minutes=1)
# A claimed slot without a launched instance frees itself after this (a crashed launch).
PENDING_LEASE = timedelta(minutes=5)
# A concurrent create polls this long for the other request's instance before giving up.
IN_FLIGHT_POLL = (0.5, 1.0, 1.5)


class BeyondGrant(Exception):
    """An extend past what was granted, in a protected environment: a request to approve."""

    def __init__(self, bastion: Bastion, until: datetime, by: timedelta) -> None:
        super().__init__(bastion.instance_id)
        self.bastion, self.until, self.by = bastion, until, by


def warning_time(expires_at: datetime, rules: Lifetime, now: datetime) -> datetime:
    """``ExpiresAt - WARNING_MINUTES``, but never in the past (a late extend still warns)."""
    return max(expires_at - rules.warning, min(now + WARNING_FLOOR, expires_at))


def client_token(*parts: str) -> str:
    """Deterministic RunInstances token: a retried request launches nothing twice."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:64]


@dataclass(frozen=True)
class Orchestrator:
    settings: Settings
    rules: Lifetime
    instances: Instances
    schedules: Schedules
    sessions: SessionActivity
    clock: Clock
    region: str | None
    slots: Slots = field(default_factory=NoSlots)
    sleep: Callable[[float], None] = time.sleep
    forensics: Forensics = field(default_factory=lambda: Forensics(None, timedelta(days=30)))

    # ----------------------------------------------------------------- create
    def create(
        self,
        req: Create,
        owner: Owner,
        *,
        request_id: str,
        approved_by: str | None = None,
        break_glass: bool = False,
    ) -> dict[str, Any]:
        s = self.settings
        lifetime = self._lifetime(req.hours)
        profile = self._profile(req.profile)
        # A requested subnet is tried first; the deployment's own subnets (the only ones its
        # IAM policy allows anyway) are the fallback when EC2 refuses it or has no capacity.
        subnets = tuple(dict.fromkeys([*([req.subnet_id] if req.subnet_id else []), *s.subnets]))
        if not subnets:
            raise ConfigurationError(
                "No subnet to launch into: set SUBNET_ID or SUBNET_IDS on the function, "
                "or pass subnet_id.",
                variables=["SUBNET_ID", "SUBNET_IDS"],
            )
        if not s.bastion_security_group_id:
            raise ConfigurationError(
                "BASTION_SECURITY_GROUP_ID is not set: the bastion needs its security group.",
                variables=["BASTION_SECURITY_GROUP_ID"],
            )
        now = self.clock()
        user_id = owner.user_id
        mine = [b for b in self.instances.active(user_id) if not b.is_expired(self.rules, now)]
        if len(mine) >= s.max_bastions_per_user:
            newest = max(mine, key=lambda b: b.created_at)
            audit("bastion reused", actor=user_id, action="create", instance_id=newest.instance_id)
            return {**self._view(newest, now), "existing": True}

        image = s.ami_id or self.instances.latest_image()
        expires = initial_expiry(now, lifetime)
        tags = self._tags(req, owner, now, expires)
        if approved_by:
            tags[Tag.APPROVED_BY] = approved_by
        if break_glass:
            tags[Tag.BREAK_GLASS] = "true"
        if s.approval_required:  # what was granted binds its extends (see extend)
            tags[Tag.GRANTED_UNTIL] = iso(expires)
        script = self._boot(req, owner, profile, now, expires)
        token = client_token(s.project_name, s.environment, user_id, request_id)
        slot, concurrent = self._claim(user_id, token, now)
        if concurrent is not None:
            audit(
                "bastion reused (concurrent create)",
                actor=user_id,
                action="create",
                instance_id=concurrent.instance_id,
            )
            return {**self._view(concurrent, now), "existing": True}
        if slot is None:
            raise LimitExceeded(
                f"A bastion is already being launched for {user_id}; it appears in a few "
                "seconds. Check with the status action instead of creating again.",
            )
        try:
            bastion, notes = self._launch(req, image, subnets, tags, token, script=script)
        except BaseException:
            self.slots.release(user_id, token=token)
            raise
        bastion = replace(bastion, tags=tags)
        self.slots.record(user_id, slot, token, bastion.instance_id, now + self.rules.maximum)
        try:
            self.schedules.put(
                bastion.instance_id, expires, warning_time(expires, self.rules, now), new=True
            )
        except Exception as e:
            self._abandon(bastion, user_id, e)
        count("BastionsCreated")
        audit(
            "bastion created",
            actor=owner.arn or user_id,
            action="create",
            instance_id=bastion.instance_id,
            owner=user_id,
            username=owner.username,
            expires_at=iso(expires),
            reason=req.reason,
            vpc_id=req.vpc_id,
            rds_security_group_id=req.rds_security_group_id,
        )
        response = {**self._view(bastion, now), "existing": False, "subnet_id": bastion.subnet_id}
        if notes:
            response["notes"] = notes
        return response

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

    def _boot(
        self, req: Create, owner: Owner, profile: str, now: datetime, expires: datetime
    ) -> str:
        s = self.settings
        return user_data(
            BootSpec(
                profile=profile,
                username=owner.username,
                display_name=owner.display_name,
                reason=req.reason,
                environment=s.environment,
                created_at=now,
                expires_at=expires,
                cap=now.replace(microsecond=0) + self.rules.maximum,
                rds_endpoint=req.rds_endpoint or s.rds_endpoint,
                rds_port=req.rds_port or s.rds_port,
                region=self.region,
                port_forward_document=s.port_forward_document,
                operator_script=s.boot_script,
                session_sudo=s.session_sudo,
            )
        )

    def _tags(self, req: Create, owner: Owner, now: datetime, expires: datetime) -> dict[str, str]:
        s = self.settings
        tags = {
            Tag.MANAGED_BY: MANAGED_BY,
            Tag.NAME: f"{s.project_name}-{s.environment}-bastion-{owner.username}"[:256],
            Tag.PROJECT: s.project_name,
            Tag.ENVIRONMENT: s.environment,
            Tag.USER_ID: owner.user_id,
            Tag.USERNAME: owner.username,
            Tag.CREATED_AT: iso(now),
            Tag.EXPIRES_AT: iso(expires),
        }
        if owner.display_name:
            tags[Tag.DISPLAY_NAME] = owner.display_name
        if owner.arn:
            # EC2 tag values hold 256 characters; an IAM path can make an ARN longer. Keep its
            # end (the user or session name), marked as cut.
            tags[Tag.ARN] = owner.arn if len(owner.arn) <= 256 else "…" + owner.arn[-255:]
        if owner.email:
            tags[Tag.EMAIL] = owner.email
        endpoint = req.rds_endpoint or s.rds_endpoint
        if endpoint:
            tags[Tag.RDS_ENDPOINT] = endpoint
            tags[Tag.RDS_PORT] = str(req.rds_port or s.rds_port)
        if req.reason:
            tags[Tag.REASON] = req.reason
        return tags

    def _launch(
        self,
        req: Create,
        image: str,
        subnets: tuple[str, ...],
        tags: dict[str, str],
        token: str,
        *,
        script: str,
    ) -> tuple[Bastion, list[str]]:
        s = self.settings
        tried: list[str] = []
        notes: list[str] = []
        for subnet in subnets:
            tried.append(subnet)
            spec = LaunchSpec(
                image_id=image,
                instance_type=s.instance_type,
                subnet_id=subnet,
                security_group_id=s.bastion_security_group_id or "",
                instance_profile=s.iam_instance_profile,
                tags=tags,
                client_token=client_token(token, subnet),
                user_data=script,
            )
            try:
                bastion = self.instances.launch(spec)
            except NoCapacity:
                logger.warning(
                    "no capacity, trying the next subnet",
                    extra={"subnet": subnet, "instance_type": s.instance_type},
                )
                count("CapacityFallbacks")
            except LaunchRejected as e:
                if subnet == req.subnet_id and _subnet_refusal(e) and len(subnets) > 1:
                    notes.append(
                        f"subnet_id {subnet} was refused by EC2 ({e.aws_code}); launched in "
                        "this deployment's configured subnet instead."
                    )
                    logger.warning(
                        "requested subnet refused, using the deployment's",
                        extra={"subnet": subnet, "error": e.aws_code},
                    )
                    continue
                if subnet == req.subnet_id and _subnet_refusal(e):
                    raise InvalidRequest(
                        f"subnet_id {req.subnet_id} was refused by EC2 ({e.message}). Pass a "
                        "private subnet of this deployment's VPC, or omit subnet_id.",
                    ) from e
                raise ConfigurationError(
                    f"EC2 refused the launch ({e.aws_code}: {e.message}). Check SUBNET_ID/"
                    "SUBNET_IDS, BASTION_SECURITY_GROUP_ID, IAM_INSTANCE_PROFILE and AMI_ID.",
                    variables=[
                        "SUBNET_IDS",
                        "BASTION_SECURITY_GROUP_ID",
                        "IAM_INSTANCE_PROFILE",
                        "AMI_ID",
                    ],
                ) from e
            else:
                logger.info(
                    "launched",
                    extra={"instance_id": bastion.instance_id, "subnet": subnet, "image": image},
                )
                return bastion, notes
        raise CapacityUnavailable(
            f"No {s.instance_type} capacity in subnet(s) {', '.join(tried)}. Nothing was "
            "launched; retry in a few minutes, or add subnets in other availability zones to "
            "SUBNET_IDS.",
            subnets_tried=tried,
        )

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
                bastion = self.instances.get(instance_id)
                # An expired bastion (its termination is under way) is never handed back.
                if (
                    bastion is not None
                    and bastion.is_active
                    and not bastion.is_expired(self.rules, now)
                ):
                    return None, bastion
                self.slots.release(user_id, instance_id=instance_id)
        return None, None

    def _abandon(self, bastion: Bastion, actor: str, cause: Exception) -> None:
        """Scheduling failed after launch: no bastion may live without its termination."""
        count("ScheduleFailures")
        logger.error(
            "scheduling failed after launch; terminating the new bastion",
            extra={"instance_id": bastion.instance_id, "actor": actor, "error": repr(cause)},
        )
        try:
            self.instances.terminate([bastion.instance_id])
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

    # ------------------------------------------------------- status / extend / destroy
    def status(self, act: Act) -> dict[str, Any]:
        bastion = self._target(act)
        now = self.clock()
        view = self._view(bastion, now, detailed=True)
        agent = self.sessions.agent(bastion.instance_id) if bastion.state == "running" else None
        view["ssm_status"] = agent.status if agent else "NotRegistered"
        view["ready"] = bool(agent and agent.ready)
        if agent and agent.ready and agent.registered_at:
            # From launch to the agent's registration: how long "ready" took.
            took = (agent.registered_at - bastion.launch_time).total_seconds()
            view["seconds_to_ready"] = max(0, int(took))
        return view

    def extend(self, act: Act, *, actor: str, request_id: str) -> dict[str, Any]:
        """Push the expiry out by EXTEND_HOURS. In a protected environment, past what was
        granted it raises ``BeyondGrant`` instead: the dispatcher asks the approvers."""
        bastion = self._extendable(self._target(act))
        now = self.clock()
        if bastion.tags.get(Tag.EXTENDED_BY_REQUEST) == request_id:
            return self._already_extended(bastion, now)
        extension = extended_expiry(bastion, self.rules, now)
        if act.break_glass_reason is not None:
            if not self._protected():
                raise InvalidRequest(
                    "break_glass on extend breaks an approval, and this deployment requires "
                    "none (APPROVAL_REQUIRED is off): extend without break_glass.",
                    errors=[{"field": "break_glass", "problem": "only where approvals apply"}],
                )
            return self._break_glass_extend(bastion, act.break_glass_reason, actor, request_id)
        if self._beyond_grant(bastion, extension.expires_at, approver=act.grants):
            raise BeyondGrant(bastion, extension.expires_at, self.rules.extension)
        grant: dict[str, str] = {}
        if self._protected():  # within the grant, or an approver's own: never less than it was
            grant[Tag.GRANTED_UNTIL] = iso(
                max(extension.expires_at, granted_until(bastion, self.rules))
            )
        return self._extended(bastion, extension, grant, actor=actor, request_id=request_id)

    def extend_approved(
        self, instance_id: str, until: datetime, *, approved_by: str, request_id: str
    ) -> dict[str, Any]:
        """An approver granted this extension: extend once, to ``until`` (within the cap)."""
        bastion = self.instances.get(instance_id)
        if bastion is None:
            raise NotFound(f"Bastion {instance_id} is gone; the approved extension lapsed.")
        bastion = self._extendable(bastion)
        now = self.clock()
        if bastion.tags.get(Tag.EXTENDED_BY_REQUEST) == request_id:
            return self._already_extended(bastion, now)
        # Refused if it expired meanwhile (terminating) or already sits at its cap.
        extended_expiry(bastion, replace(self.rules, extension=timedelta(0)), now)
        current = bastion.expires_at(self.rules)
        if until <= current:  # extended past it meanwhile (a break-glass): never shorten it
            return {
                **self._view(bastion, now),
                "already_extended": True,
                "message": f"It already runs until {iso(current)}, past the {iso(until)} this "
                "request asked for; nothing was changed.",
            }
        cap = bastion.cap(self.rules).replace(microsecond=0)
        extension = Extension(min(until, cap), capped=until > cap)
        granted = {Tag.GRANTED_UNTIL: iso(extension.expires_at)}
        granted[Tag.EXTENSION_APPROVED_BY] = approved_by
        return self._extended(bastion, extension, granted, actor=approved_by, request_id=request_id)

    def _break_glass_extend(
        self, bastion: Bastion, reason: str, actor: str, request_id: str
    ) -> dict[str, Any]:
        """A new break-glass: at once, for at most BREAK_GLASS_HOURS from now (or its expiry)."""
        now = self.clock()
        glass = replace(self.rules, extension=timedelta(hours=self.settings.break_glass_hours))
        extension = extended_expiry(bastion, glass, now)
        tags = {Tag.GRANTED_UNTIL: iso(extension.expires_at), Tag.BREAK_GLASS: "true"}
        result = self._extended(bastion, extension, tags, actor=actor, request_id=request_id)
        hours = self.settings.break_glass_hours
        return {**result, "break_glass": True, "extended_hours": hours, "reason": reason}

    def _protected(self) -> bool:
        """Grants bind where approvals exist (APPROVAL_REQUIRED): elsewhere nobody could
        approve an extension, so every bastion, break-glass or not, extends as before."""
        return self.settings.approval_required

    def _beyond_grant(self, bastion: Bastion, expires: datetime, *, approver: bool) -> bool:
        """Past what was granted, in a protected environment. An approver's extend is its own
        grant (as their create is), except of a break-glass bastion."""
        if not self._protected():
            return False
        if approver and bastion.tags.get(Tag.BREAK_GLASS) != "true":
            return False
        return expires > granted_until(bastion, self.rules)

    def _extendable(self, bastion: Bastion) -> Bastion:
        if not bastion.is_active:
            raise NotFound(
                f"Bastion {bastion.instance_id} is {bastion.state}; it cannot be extended. "
                "Create a new one.",
                instance_id=bastion.instance_id,
            )
        return bastion

    def _already_extended(self, bastion: Bastion, now: datetime) -> dict[str, Any]:
        # The same request again (an async retry, a redelivered continuation): done once.
        return {
            **self._view(bastion, now),
            "already_extended": True,
            "message": "This request already extended it; nothing more was done.",
        }

    def _extended(
        self,
        bastion: Bastion,
        extension: Extension,
        extra_tags: dict[str, str],
        *,
        actor: str,
        request_id: str,
    ) -> dict[str, Any]:
        now = self.clock()
        previous = bastion.expires_at(self.rules)
        expires = extension.expires_at
        tags = {Tag.EXPIRES_AT: iso(expires), Tag.EXTENDED_BY_REQUEST: request_id, **extra_tags}
        self.instances.tag(bastion.instance_id, tags)
        self.schedules.put(
            bastion.instance_id, expires, warning_time(expires, self.rules, now), new=False
        )
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
        response = {**self._view(extended, now), "previous_expires_at": iso(previous)}
        if extension.capped:
            response["capped"] = True
            response["message"] = (
                f"Extended only to {iso(expires)}: bastions live at most "
                f"{self.settings.max_lifetime_hours:g} h after creation, so this is the last "
                "extension. Create a new bastion after it expires."
            )
        return response

    def destroy(self, act: Act, *, actor: str) -> dict[str, Any]:
        bastion = self._target(act, recently_gone=True)
        now = self.clock()
        if bastion.state in GONE_STATES:
            self.schedules.remove(bastion.instance_id)
            return {**self._view(bastion, now), "state": bastion.state, "already_terminated": True}
        self.forensics.preserve([evidence_of(bastion)], "destroy", now)
        previous = self.instances.terminate([bastion.instance_id]).get(bastion.instance_id)
        self.schedules.remove(bastion.instance_id)
        if bastion.user_id:
            self.slots.release(bastion.user_id, instance_id=bastion.instance_id)
        if previous not in GONE_STATES:
            count("BastionsTerminated", cause="destroy")
        audit(
            "bastion destroyed",
            actor=actor,
            action="destroy",
            instance_id=bastion.instance_id,
            lived_seconds=int((now - bastion.created_at).total_seconds()),
        )
        ending = replace(bastion, state="shutting-down")
        return {**self._view(ending, now), "state": ending.state, "already_terminated": False}

    def list(self, user_id: str | None) -> dict[str, Any]:
        now = self.clock()
        found = sorted(self.instances.active(user_id), key=lambda b: b.created_at)
        return {
            "success": True,
            "bastions": [self._view(b, now, detailed=True) for b in found],
        }

    # ----------------------------------------------------------------- helpers
    def _target(self, act: Act, *, recently_gone: bool = False) -> Bastion:
        s = self.settings
        instance_id, caller = act.instance_id, act.user_id
        if instance_id is None and caller is None:
            raise InvalidRequest(
                "Name the bastion: give instance_id, or user_id to act on that user's bastion.",
            )
        if instance_id is not None:
            bastion = self.instances.get(instance_id)
            if bastion is None:
                raise NotFound(
                    f"No bastion {instance_id} in {s.project_name}/{s.environment}. Check the "
                    "id; the list action shows the active ones.",
                    instance_id=instance_id,
                )
            ensure_may_act(bastion, act.caller)
            return bastion
        mine = sorted(self.instances.active(caller), key=lambda b: b.created_at)
        if not mine and recently_gone:
            # A repeated destroy by user: the bastion it ended is still visible for a while.
            gone = sorted(
                self.instances.active(caller, states=GONE_STATES), key=lambda b: b.created_at
            )
            mine = gone[-1:]
        if not mine:
            raise NotFound(
                f"User {caller} has no active bastion in {s.project_name}/{s.environment}. "
                "Create one with the create action.",
            )
        if len(mine) > 1:
            ids = ", ".join(b.instance_id for b in mine)
            raise InvalidRequest(
                f"User {caller} has {len(mine)} active bastions ({ids}); name one with "
                "instance_id.",
                instance_ids=[b.instance_id for b in mine],
            )
        return mine[0]

    def _view(self, bastion: Bastion, now: datetime, *, detailed: bool = False) -> dict[str, Any]:
        from bastion_orchestrator.app.views import bastion_view

        return bastion_view(
            bastion,
            self.rules,
            now,
            region=self.region,
            settings=self.settings,
            detailed=detailed,
        )


def _subnet_refusal(error: LaunchRejected) -> bool:
    return error.aws_code.startswith("InvalidSubnet") or error.aws_code == "UnauthorizedOperation"
