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

from dataclasses import dataclass
from typing import Final, Literal

Door = Literal["direct", "slack", "iam"]
OPERATOR: Final = "operator"


@dataclass(frozen=True)
class Actor:
    door: Door
    user_id: str | None  # None only on the direct door: the operator, naming nobody
    username: str | None = None
    display_name: str | None = None
    email: str | None = None  # Slack profile email (users.info), when the app may read it
    arn: str | None = None  # the IAM principal (IAM door)

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
