"""The one policy every door goes through (CONTRACT.md, "Who is asking").

A door hands in an authenticated ``Actor`` and a parsed action; the policy answers what may
happen (a ``Decision``) or raises ``Forbidden``. It does no I/O, so a door may also ask it
before acknowledging (the Slack door refuses a create at once instead of after a round trip).

- ``ALLOWED_USER_IDS`` limits ``create`` on the direct and Slack doors; on the IAM door, IAM
  decides who may call.
- status, extend and destroy need the bastion's requester or an admin (checked against the
  bastion itself by the orchestrator, with the ``Principal`` decided here).
- On the Slack and IAM doors, ``list`` shows a non-admin only their own bastions.
- A request may not speak for somebody else: on the IAM door a body ``user_id`` naming anyone
  but the caller needs an admin; a Slack continuation's action must be its actor's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from bastion_orchestrator.config import Settings
from bastion_orchestrator.domain.actor import Actor, Owner, Principal
from bastion_orchestrator.errors import Forbidden, InvalidRequest
from models import Approve, Create, Deny, Destroy, Extend, ListBastions, Status

_ASSUMED_ROLE: Final = re.compile(r"^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/.+$")


@dataclass(frozen=True)
class Launch:
    request: Create
    owner: Owner
    break_glass: bool = False


@dataclass(frozen=True)
class RequestApproval:
    """A create that must wait for an approver (APPROVAL_REQUIRED)."""

    request: Create
    owner: Owner
    hours: float


@dataclass(frozen=True)
class Verdict:
    """An approver's answer to a pending request (the approver is checked here; that they
    are not the requester, against the stored request)."""

    approval_id: str
    approve: bool
    reason: str | None


@dataclass(frozen=True)
class Act:
    verb: Literal["status", "extend", "destroy"]
    instance_id: str | None
    user_id: str | None  # whose bastion, when no instance_id is given
    caller: Principal
    # extend: an approver may extend past a grant (not a break-glass one) as they may launch.
    grants: bool = False
    break_glass_reason: str | None = None  # extend: a new break-glass, with its reason


@dataclass(frozen=True)
class Listing:
    user_id: str | None  # None: every bastion of the deployment


Decision = Launch | RequestApproval | Verdict | Act | Listing
Action = Create | Status | Extend | Destroy | ListBastions | Approve | Deny


@dataclass(frozen=True)
class Policy:
    allowed_user_ids: frozenset[str]
    admin_user_ids: frozenset[str]
    admin_principal_arns: frozenset[str]
    approval_required: bool = False
    approvers: frozenset[str] = frozenset()
    default_hours: float = 3
    break_glass_hours: float = 1

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            settings.allowed_user_ids,
            settings.admin_user_ids,
            settings.admin_principal_arns,
            approval_required=settings.approval_required,
            approvers=settings.approver_user_ids,
            default_hours=settings.bastion_lifetime_hours,
            break_glass_hours=settings.break_glass_hours,
        )

    def is_approver(self, actor: Actor) -> bool:
        """Approvers are Slack user ids; an IAM principal is none (approvals happen in Slack)."""
        return not actor.trust.iam_principal and actor.user_id in self.approvers

    def is_admin(self, actor: Actor) -> bool:
        if actor.trust.iam_principal:
            return actor.arn is not None and arn_is_listed(actor.arn, self.admin_principal_arns)
        return actor.user_id is not None and actor.user_id in self.admin_user_ids

    def principal(self, actor: Actor) -> Principal:
        return Principal(actor.user_id, admin=self.is_admin(actor))

    def decide(self, actor: Actor, action: Action) -> Decision:
        if actor.user_id is None and not actor.trust.speaks_for_anyone:
            # Only an operator's direct invoke names nobody; a verified door always names its
            # caller, so an anonymous actor from one is a door's bug: never the operator.
            raise Forbidden(f"{actor.door} request without a verified caller: refused.")
        match action:
            case Create():
                return self._create(actor, action)
            case Approve() | Deny():
                if not self.is_approver(actor):
                    raise Forbidden(
                        f"{actor.label} is not an approver here: only APPROVER_USER_IDS may "
                        "approve or deny requests.",
                        approval_id=action.approval_id,
                    )
                reason = action.reason if isinstance(action, Deny) else None
                return Verdict(action.approval_id, isinstance(action, Approve), reason)
            case ListBastions():
                scoped = not actor.trust.speaks_for_anyone
                return Listing(self._subject(actor, action.user_id, scoped=scoped))
            case Extend():
                return self._extend(actor, action)
            case Status() | Destroy():
                subject = self._subject(actor, action.user_id, scoped=False)
                return Act(action.action, action.instance_id, subject, self.principal(actor))
        raise InvalidRequest(f"Unknown action {action!r}.")  # pragma: no cover - exhaustive

    def _extend(self, actor: Actor, request: Extend) -> Act:
        subject = self._subject(actor, request.user_id, scoped=False)
        reason = _needs_reason(request.reason) if request.break_glass else None
        return Act(
            "extend",
            request.instance_id,
            subject,
            self.principal(actor),
            grants=self.is_approver(actor),
            break_glass_reason=reason,
        )

    def _create(self, actor: Actor, request: Create) -> Launch | RequestApproval:
        user_id = self._subject(actor, request.user_id, scoped=False)
        if user_id is None:  # only a direct create can get here, and its model requires one
            raise InvalidRequest("create needs user_id: the Slack user id to launch for.")
        listed = not self.allowed_user_ids or user_id in self.allowed_user_ids
        if not actor.trust.iam_principal and not listed:
            raise Forbidden(
                f"{user_id} may not create bastions here: ALLOWED_USER_IDS does not list them. "
                "Ask a platform admin to add the user id to ALLOWED_USER_IDS.",
                user_id=user_id,
            )
        for_self = user_id == actor.user_id
        if actor.trust.name_verified and for_self:
            self._no_other_name(actor, request)
        username = request.username or (actor.username if for_self else None)
        if not username:
            raise InvalidRequest(
                "create for another user needs username (1-80 letters, digits or ._-).",
                errors=[{"field": "username", "problem": "required when user_id names someone"}],
            )
        owner = Owner(
            user_id=user_id,
            username=username,
            display_name=request.display_name or (actor.display_name if for_self else None),
            email=actor.email if for_self else None,
            arn=actor.arn,
        )
        if request.break_glass:
            _needs_reason(request.reason)
            hours = min(request.hours or self.break_glass_hours, self.break_glass_hours)
            return Launch(request.model_copy(update={"hours": hours}), owner, break_glass=True)
        if self.approval_required and not self.is_approver(actor):
            return RequestApproval(request, owner, request.hours or self.default_hours)
        return Launch(request, owner)

    @staticmethod
    def _no_other_name(actor: Actor, request: Create) -> None:
        """An IAM caller is recorded under the name AWS verified, never one it chose."""
        for field, claimed, verified in (
            ("username", request.username, actor.username),
            ("display_name", request.display_name, actor.display_name),
        ):
            if claimed is not None and claimed != verified:
                raise Forbidden(
                    f"{field} {claimed!r} is not yours: on the IAM door your bastion is recorded "
                    f"under the name AWS verified ({verified or 'none'}). Leave {field} out.",
                    errors=[{"field": field, "problem": "set from your signed identity"}],
                )

    def _subject(self, actor: Actor, named: str | None, *, scoped: bool) -> str | None:
        """Whose bastion(s) a request is about. Direct invokes are trusted to name anyone;
        on the verified doors naming somebody else needs an admin."""
        if actor.trust.speaks_for_anyone:
            return named
        if named is not None and named != actor.user_id and not self.is_admin(actor):
            raise Forbidden(
                f"{actor.label} may not act for user {named}: only admins may name another "
                "user. Leave user_id out to act on your own bastion.",
                user_id=named,
            )
        if named is not None:
            return named
        if scoped and self.is_admin(actor):
            return None  # an admin's list: everyone's
        return actor.user_id


def _needs_reason(reason: str | None) -> str:
    if not (reason and reason.strip()):
        raise InvalidRequest(
            "break_glass needs a reason: say why nobody could approve this (e.g. "
            '"reason": "INC-4711 prod database down").',
            errors=[{"field": "reason", "problem": "required with break_glass"}],
        )
    return reason


def arn_is_listed(caller_arn: str, listed: frozenset[str]) -> bool:
    """An IAM user matches its ARN; an assumed-role session matches its role's ARN (whose path
    the session ARN leaves out)."""
    if caller_arn in listed:
        return True
    session = _ASSUMED_ROLE.match(caller_arn)
    if session is None:
        return False
    partition, account, role = session.groups()
    prefix = f"arn:{partition}:iam::{account}:role/"
    return any(arn.startswith(prefix) and arn.rsplit("/", 1)[1] == role for arn in listed)
