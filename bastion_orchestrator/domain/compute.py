"""The compute port: where bastions come from, in the use cases' terms.

A use case asks for "a bastion for this owner, this long, with this profile, placed here,
forwarding there" (an ``Order``) and gets a ``Bastion`` back. Which machine that is (an EC2
instance from an AMI in a subnet, tagged, with user data; later a Fargate task) is the
backend's business alone: ``adapters/aws/ec2/compute.py`` is the EC2 one.

A bastion's recorded facts (owner, expiry, grants) are its ``Tag`` attributes: every backend
keeps them with the bastion (EC2 and ECS both have tags), so the rules read them the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.bastion import Bastion
from bastion_orchestrator.domain.ports import Instances


@dataclass(frozen=True)
class Placement:
    """Where it runs: a requested subnet first (None: the deployment's own)."""

    subnet_id: str | None = None


@dataclass(frozen=True)
class Forward:
    """The database the bastion forwards to (none: a shell only)."""

    endpoint: str | None = None
    port: int = 5432


@dataclass(frozen=True)
class Grant:
    """What an approval or a break-glass granted, recorded with the bastion."""

    approved_by: str | None = None
    break_glass: bool = False
    until: datetime | None = None  # GrantedUntil, in a protected environment


@dataclass(frozen=True)
class Order:
    """A bastion for this owner, this long, with this profile, placed here."""

    owner: Owner
    created_at: datetime
    expires_at: datetime
    cap: datetime  # the hard end, whatever is extended later (the dead-man switch)
    profile: str
    token: str  # idempotency: the same order twice launches one bastion
    placement: Placement = field(default_factory=Placement)
    forward: Forward = field(default_factory=Forward)
    reason: str | None = None
    grant: Grant = field(default_factory=Grant)


@dataclass(frozen=True)
class Launched:
    bastion: Bastion
    notes: tuple[str, ...] = ()  # what the backend did differently from the order, and why


class Compute(Instances, Protocol):
    """Our bastions (read, ended, tagged: ``Instances``), and where new ones come from."""

    def launch(self, order: Order) -> Launched:
        """Start the bastion; raises ``CapacityUnavailable``, ``InvalidRequest`` (a placement
        the backend refuses) or ``ConfigurationError``. Nothing is left running on failure."""


def client_token(*parts: str) -> str:
    """A deterministic token for an order: a retried request launches nothing twice."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:64]
