"""The pydantic models of the public contract: orchestrator actions and scheduler events.

Every payload is parsed once, strictly: unknown actions, unknown fields, wrong types and
malformed values are refused before anything is launched or changed.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from bastion_orchestrator.domain.ids import (
    APPROVAL_ID,
    INSTANCE_ID,
    SECURITY_GROUP_ID,
    SLACK_RESPONSE_URL,
    SUBNET_ID,
    USER_ID,
    USER_ID_MAX,
    USERNAME,
    VPC_ID,
    dns_name,
)

DnsName = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(dns_name)]

# What each field must look like, in words: used to tell the caller how to fix a payload.
FIELD_HINTS: Final[dict[str, str]] = {
    "action": "one of create, status, extend, destroy, list",
    "instance_id": "'i-' followed by 8 or 17 lowercase hex digits, e.g. i-0123456789abcdef0",
    "subnet_id": "'subnet-' followed by 8 or 17 lowercase hex digits",
    "rds_security_group_id": "'sg-' followed by 8 or 17 lowercase hex digits",
    "vpc_id": "'vpc-' followed by 8 or 17 lowercase hex digits",
    "user_id": "1-64 letters, digits or _.@- (a Slack user id such as U12345)",
    "username": "1-80 letters, digits or ._- (e.g. john.doe)",
    "display_name": "at most 128 printable characters",
    "reason": "at most 256 printable characters",
    "rds_endpoint": "a DNS name of at most 253 characters",
    "rds_port": "an integer from 1 to 65535",
    "hours": "a number of hours, more than 0 and at most MAX_LIFETIME_HOURS, e.g. 1.5",
    "profile": "a boot profile of this deployment (BOOT_PROFILES), e.g. minimal or db-clients",
    "break_glass": "true or false; true needs a reason",
    "approval_id": "the id of an approval request, e.g. apr-0123456789abcdef",
    "response_url": "an https://hooks.slack.com/ address",
}

_DEFERRED: Final = ConfigDict(defer_build=True)

InstanceId = Annotated[str, Field(pattern=INSTANCE_ID)]
UserId = Annotated[str, Field(min_length=1, max_length=USER_ID_MAX, pattern=USER_ID)]
Username = Annotated[str, Field(min_length=1, max_length=80, pattern=USERNAME)]
Hours = Annotated[float, Field(gt=0, le=720, allow_inf_nan=False)]


class _Strict(BaseModel):
    # defer_build: each validator is built when first used, not at import. A cold start then
    # pays only for the models its request needs (a Slack ack needs none of the IAM door's).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


def _printable(value: str | None) -> str | None:
    if value is not None and not value.isprintable():
        raise ValueError("must contain printable characters only (no control characters)")
    return value


class Create(_Strict):
    action: Literal["create"]
    user_id: UserId
    username: Username
    display_name: Annotated[str, Field(max_length=128)] | None = None
    vpc_id: Annotated[str, Field(pattern=VPC_ID)] | None = None
    subnet_id: Annotated[str, Field(pattern=SUBNET_ID)] | None = None
    rds_security_group_id: Annotated[str, Field(pattern=SECURITY_GROUP_ID)] | None = None
    rds_endpoint: DnsName | None = None
    rds_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    reason: Annotated[str, Field(max_length=256)] | None = None
    # The deployment's MAX_LIFETIME_HOURS bounds it further (checked by the use case).
    hours: Hours | None = None
    # One of the deployment's BOOT_PROFILES (checked by the use case); default: the first.
    profile: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9-]+$")] | None = (
        None
    )
    # Launch at once without approval, for at most BREAK_GLASS_HOURS; needs a reason.
    break_glass: bool = False

    _printable_text = field_validator("display_name", "reason")(_printable)


class _Targeted(_Strict):
    """status / extend / destroy: an instance, a user's bastion, or both (caller check)."""

    instance_id: InstanceId | None = None
    user_id: UserId | None = None

    @model_validator(mode="after")
    def _needs_target(self) -> _Targeted:
        if self.instance_id is None and self.user_id is None:
            raise ValueError("give instance_id, or user_id to act on that user's bastion")
        return self


class Status(_Targeted):
    action: Literal["status"]


class Extend(_Targeted):
    action: Literal["extend"]
    # Past what an approval granted, in a protected environment: at once, by at most
    # BREAK_GLASS_HOURS, announced loudly; needs a reason (else it asks the approvers).
    break_glass: bool = False
    reason: Annotated[str, Field(max_length=256)] | None = None

    _printable_text = field_validator("reason")(_printable)


class Destroy(_Targeted):
    action: Literal["destroy"]


class ListBastions(_Strict):
    action: Literal["list"]
    user_id: UserId | None = None


Action = Annotated[Create | Status | Extend | Destroy | ListBastions, Field(discriminator="action")]
ACTION_ADAPTER: Final[TypeAdapter[Action]] = TypeAdapter(Action, config=_DEFERRED)


class Warn(_Strict):
    action: Literal["warn"]
    instance_id: InstanceId


class Terminate(_Strict):
    action: Literal["terminate"]
    instance_id: InstanceId


class Sweep(_Strict):
    action: Literal["sweep"]


class Ready(_Strict):
    """One readiness check of a bastion launched from Slack (``app.readiness``): ``attempt``
    of the few one-shot schedules put after its launch."""

    action: Literal["ready"]
    instance_id: InstanceId
    attempt: int = Field(ge=1, le=10)


ScheduledEvent = Annotated[Warn | Terminate | Sweep | Ready, Field(discriminator="action")]
EVENT_ADAPTER: Final[TypeAdapter[ScheduledEvent]] = TypeAdapter(ScheduledEvent, config=_DEFERRED)


# ------------------------------------------------------------------ the IAM door
# The signed caller takes the place of user_id/username: a body may leave them out, and one
# that names anyone else is refused by the policy unless the caller is an admin.
class IamCreate(Create):
    user_id: UserId | None = None  # type: ignore[assignment]
    username: Username | None = None  # type: ignore[assignment]


def _any_target(self: _Targeted) -> _Targeted:
    return self  # neither instance_id nor user_id: the caller's own bastion


class IamStatus(Status):
    _needs_target = model_validator(mode="after")(_any_target)


class IamExtend(Extend):
    _needs_target = model_validator(mode="after")(_any_target)


class IamDestroy(Destroy):
    _needs_target = model_validator(mode="after")(_any_target)


IamAction = Annotated[
    IamCreate | IamStatus | IamExtend | IamDestroy | ListBastions, Field(discriminator="action")
]
IAM_ACTION_ADAPTER: Final[TypeAdapter[IamAction]] = TypeAdapter(IamAction, config=_DEFERRED)

# ------------------------------------------------------------------ approvals (Slack)


class Approve(_Strict):
    """An approver's yes to a pending create (the Approve button, or ``approve <id>``)."""

    action: Literal["approve"]
    approval_id: Annotated[str, Field(pattern=APPROVAL_ID)]


class Deny(_Strict):
    """An approver's no, with an optional reason (the Deny button, or ``deny <id> why…``)."""

    action: Literal["deny"]
    approval_id: Annotated[str, Field(pattern=APPROVAL_ID)]
    reason: Annotated[str, Field(max_length=256)] | None = None

    _printable_text = field_validator("reason")(_printable)


# ------------------------------------------------------------------ continuations
SlowAction = Annotated[Create | Extend | Destroy | Approve | Deny, Field(discriminator="action")]


class SlackJob(_Strict):
    """The slow half of a Slack request (create, extend, destroy, approve, deny), once the
    policy allowed it (``doors.slack_forms``), run by ``app.continuations.SlackJobs``. The
    actor is the one Slack's signature verified; ``request_id`` is derived from the signed
    request, so a retried invocation launches nothing twice; the answer goes only to Slack
    (``response_url``)."""

    user_id: UserId
    username: Username
    action: SlowAction
    request_id: Annotated[str, Field(pattern=r"^[0-9a-f]+$", min_length=16, max_length=64)]
    response_url: Annotated[str, Field(max_length=2048, pattern=SLACK_RESPONSE_URL)] | None = None
    replace_original: bool = False
