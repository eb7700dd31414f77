"""The use cases wired on the in-memory fakes by the production composition root.

One ``World`` per test: settings from a few environment variables, an exact clock, and each
use case built on demand, so a test reads as "given this world, when this use case runs".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from bastion_orchestrator.clock import iso
from bastion_orchestrator.composition import Root
from bastion_orchestrator.config import Settings
from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.domain.bastion import Bastion, Lifetime, Tag
from bastion_orchestrator.usecases.approvals import Approvals
from bastion_orchestrator.usecases.create import CreateBastion
from bastion_orchestrator.usecases.destroy import DestroyBastion
from bastion_orchestrator.usecases.dispatcher import Dispatcher
from bastion_orchestrator.usecases.extend import ExtendBastion
from bastion_orchestrator.usecases.listing import ListBastions
from bastion_orchestrator.usecases.policy import Policy
from bastion_orchestrator.usecases.status import ShowStatus
from bastion_orchestrator.usecases.targets import Targets
from bastion_orchestrator.usecases.verdict import DecideApproval
from tests.unit.fakes import (
    T0,
    FakeApprovalStore,
    FakeBoard,
    FakeClock,
    FakeCompute,
    FakeNotifier,
    FakeSchedules,
    FakeSessions,
    FakeSlots,
)

REQUIRED: Final = {
    "PROJECT_NAME": "bastion",
    "ENVIRONMENT": "dev",
    "IAM_INSTANCE_PROFILE": "bastion-host",
    "AUTO_TERMINATE_LAMBDA_ARN": "arn:aws:lambda:us-east-1:123456789012:function:bastion-reaper",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/bastion-scheduler",
}
# A protected environment: nobody enters alone (CONTRACT.md, "Approvals").
PROTECTED: Final = {
    "APPROVAL_REQUIRED": "true",
    "APPROVER_USER_IDS": "UAPPROVER1,UAPPROVER2",
    "APPROVAL_CHANNEL": "#approvals",
    "IDEMPOTENCY_TABLE": "bastion-idempotency",
}


def settings(**env: str) -> Settings:
    return Settings.model_validate(REQUIRED | env)


def slack(user_id: str = "U1", username: str = "jane", email: str | None = None) -> Actor:
    """A Slack user, as the signed form (and users.info, for the e-mail) names them."""
    return Actor("slack", user_id, username=username, email=email)


def bastion(
    n: int = 1,
    *,
    user: str = "U1",
    state: str = "running",
    created: datetime = T0,
    expires: datetime | None = None,
    tags: Mapping[str, str] | None = None,
) -> Bastion:
    """A bastion of ``user`` launched at ``created``, expiring after 3 h unless told."""
    recorded = {
        Tag.USER_ID: user,
        Tag.USERNAME: f"user-{user.lower()}",
        Tag.CREATED_AT: iso(created),
        Tag.EXPIRES_AT: iso(expires or created + timedelta(hours=3)),
    }
    return Bastion(f"i-{n:017x}", state, "10.0.0.1", created, recorded | dict(tags or {}))


@dataclass
class World:
    settings: Settings = field(default_factory=settings)
    clock: FakeClock = field(default_factory=FakeClock)
    compute: FakeCompute = field(default_factory=FakeCompute)
    schedules: FakeSchedules = field(default_factory=FakeSchedules)
    slots: FakeSlots = field(default_factory=FakeSlots)
    sessions: FakeSessions = field(default_factory=FakeSessions)
    store: FakeApprovalStore = field(default_factory=FakeApprovalStore)
    board: FakeBoard = field(default_factory=FakeBoard)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    sleeps: list[float] = field(default_factory=list)
    _root: Root | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, **env: str) -> World:
        s = settings(**env)
        return cls(settings=s, slots=FakeSlots(per_user=s.max_bastions_per_user))

    @classmethod
    def protected(cls, **env: str) -> World:
        return cls.of(**PROTECTED, **env)

    def add(self, *bastions: Bastion) -> Bastion:
        for b in bastions:
            self.compute.add(b)
        return bastions[-1]

    def sleep(self, seconds: float) -> None:  # waiting moves the clock, not the wall clock
        self.sleeps.append(seconds)
        self.clock.advance(seconds=seconds)

    @property
    def root(self) -> Root:
        """The production composition root, its adapters replaced by this world's fakes:
        the use cases are built exactly as on AWS, from the same settings."""
        if self._root is None:
            root = Root(clock=self.clock, sleep=self.sleep)
            root.__dict__.update(  # each is a cached_property of the root: set, never built
                settings=self.settings,
                compute=self.compute,
                schedules=self.schedules,
                sessions=self.sessions,
                slots=self.slots,
                approval_store=self.store,
                approval_board=self.board,
                notifier=self.notifier,
            )
            self._root = root
        return self._root

    @property
    def rules(self) -> Lifetime:
        return self.root.rules

    def policy(self) -> Policy:
        return self.root.policy()

    def targets(self) -> Targets:
        return self.root.targets

    def create(self) -> CreateBastion:
        return self.root.create()

    def status(self) -> ShowStatus:
        return self.root.status()

    def extend(self) -> ExtendBastion:
        return self.root.extend()

    def destroy(self) -> DestroyBastion:
        return self.root.destroy()

    def listing(self) -> ListBastions:
        return self.root.listing()

    def approvals(self) -> Approvals:
        return self.root.approvals()

    def verdict(self) -> DecideApproval:
        return self.root.verdict()

    def dispatcher(self) -> Dispatcher:
        return self.root.dispatcher()
