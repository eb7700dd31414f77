"""Who is asking, and which door vouched for them.

Every request becomes an ``Actor`` at its door before anything else happens. How far the
actor is trusted depends on the door that verified it (CONTRACT.md, "Who is asking"):

- ``direct``: the payload's ``user_id``; nothing verifies it, whoever may invoke the function
  is trusted to name it (operators and automation). A direct invoke naming nobody acts as the
  operator.
- ``slack``: the form's ``user_id``, verified by Slack's v0 signature (and, for the slow half
  of a Slack request, by this deployment's continuation signature).
- ``iam``: ``requestContext.authorizer.iam`` of a SigV4-signed Function URL request, verified
  by AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

Door = Literal["direct", "slack", "iam"]
OPERATOR: Final = "operator"


@dataclass(frozen=True)
class Trust:
    """What a door established about its caller. The policy reads this, never the door's
    name: a new door with the same trust as an existing one needs no new policy branch."""

    # Whoever may call is trusted to name any user (operators and automation).
    speaks_for_anyone: bool = False
    # The id is an IAM principal: IAM already decided who may call (ALLOWED_USER_IDS does not
    # apply), admins are ADMIN_PRINCIPAL_ARNS, and approvers (Slack ids) are never it.
    iam_principal: bool = False
    # The name comes with the verified identity: a body may not record another one.
    name_verified: bool = False


DIRECT: Final = Trust(speaks_for_anyone=True)
SLACK: Final = Trust()  # Slack's signature vouches for the form's user_id, nothing more
IAM: Final = Trust(iam_principal=True, name_verified=True)
TRUST_OF: Final[dict[str, Trust]] = {"direct": DIRECT, "slack": SLACK, "iam": IAM}
_FROM_DOOR: Final = Trust()  # the default: its identity says "the door's own" (not SLACK's)


@dataclass(frozen=True)
class Actor:
    door: Door  # where the request came in: audit lines and messages name it
    user_id: str | None  # None only on the direct door: the operator, naming nobody
    username: str | None = None
    display_name: str | None = None
    email: str | None = None  # Slack profile email (users.info), when the app may read it
    arn: str | None = None  # the IAM principal (IAM door)
    trust: Trust = field(default=_FROM_DOOR)

    def __post_init__(self) -> None:
        if self.trust is _FROM_DOOR:  # not given: its door's (never a wider one given)
            object.__setattr__(self, "trust", TRUST_OF[self.door])

    @property
    def label(self) -> str:
        """How audit lines name the actor."""
        return self.arn or self.user_id or OPERATOR


@dataclass(frozen=True)
class Principal:
    """The caller as the ownership rule sees it: an id (None: the operator) and admin-ness."""

    id: str | None
    admin: bool = False

    @property
    def unrestricted(self) -> bool:
        return self.id is None or self.admin


@dataclass(frozen=True)
class Owner:
    """Whom a new bastion belongs to: written to its tags, read by the user policy."""

    user_id: str
    username: str
    display_name: str | None = None
    email: str | None = None
    arn: str | None = None
