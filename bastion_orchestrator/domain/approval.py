"""An approval request: a create, or an extend past its grant, waiting for an approver
(CONTRACT.md, "Approvals").

The request is stored whole when it is made (who asked, through which door, the create
payload), and only its id travels in Slack buttons: nothing a button carries can change the
user, the duration or the environment between asking and approving. Its status moves once,
by a conditional write, from ``pending`` to ``approved``, ``denied`` or ``expired``: a second
click, a redelivered event or a deny-then-approve finds it decided and launches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Status = Literal["pending", "approved", "denied", "expired"]
Kind = Literal["create", "extend"]


@dataclass(frozen=True)
class Approval:
    id: str
    status: Status
    environment: str
    requester_id: str  # the owner-to-be: RequestedByUserId
    requester_label: str  # how messages name them: a Slack mention or an IAM ARN
    requester_email: str | None
    door: str
    request: dict[str, Any]  # the Create payload, as validated when it was asked for
    owner: dict[str, Any]  # the Owner fields the policy decided
    hours: float
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None  # a denial's reason
    instance_id: str | None = None
    channel: str | None = None  # the approval message, to update it in place
    ts: str | None = None
    # "create": a bastion asked for; "extend": ``instance_id`` past its grant, to ``until``.
    kind: Kind = "create"

    @property
    def pointer(self) -> str:
        """What "one open request at a time" counts: a user's create, a bastion's extend."""
        if self.kind == "extend":
            return f"{self.requester_id}#extend#{self.instance_id}"
        return self.requester_id

    def is_open(self, now: datetime) -> bool:
        return self.status == "pending" and now < self.expires_at
