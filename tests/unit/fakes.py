"""In-memory stand-ins for the ports, so the use cases run with an exact clock."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.approval import Approval, Status
from bastion_orchestrator.domain.bastion import ACTIVE_STATES, Bastion, Tag
from bastion_orchestrator.domain.compute import Launched, Order
from bastion_orchestrator.domain.ports import Agent, LaunchSpec, Notice, ScheduleRef
from bastion_orchestrator.errors import NotificationFailed

T0 = datetime(2025, 12, 18, 12, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A settable clock: it moves only when a test (or a fake ``sleep``) moves it."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class _Machines:
    """Bastions in a dict: what every compute stand-in reads, tags and terminates."""

    by_id: dict[str, Bastion] = field(default_factory=dict)
    terminate_calls: list[list[str]] = field(default_factory=list)
    stripped: set[str] = field(default_factory=set)  # ids whose tags were removed
    refuse: set[str] = field(default_factory=set)  # ids whose termination EC2 refuses
    # ids a describe by tag does not list yet (EC2's reads are eventually consistent)
    unlisted: set[str] = field(default_factory=set)
    tag_calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def add(self, bastion: Bastion) -> None:
        self.by_id[bastion.instance_id] = bastion

    def get(self, instance_id: str) -> Bastion | None:
        return self.by_id.get(instance_id)

    def active(self, user_id: str | None = None, *, states=ACTIVE_STATES) -> Iterator[Bastion]:
        for b in list(self.by_id.values()):
            if b.instance_id in self.stripped | self.unlisted:
                continue  # a tag filter no longer (or not yet) finds it
            if b.state in states and (user_id is None or b.user_id == user_id):
                yield b

    def by_profile(self) -> Iterator[Bastion]:
        """Every instance here carries the module's profile, ``stripped`` ones included."""
        yield from (b for b in list(self.by_id.values()) if b.state in ACTIVE_STATES)

    def terminate(self, instance_ids: Sequence[str]) -> dict[str, str]:
        self.terminate_calls.append(list(instance_ids))
        if self.refuse & set(instance_ids):
            raise RuntimeError(f"UnauthorizedOperation for {sorted(self.refuse)}")
        previous = {}
        for iid in instance_ids:
            previous[iid] = self.by_id[iid].state
            self.by_id[iid] = replace(self.by_id[iid], state="shutting-down")
        return previous

    def tag(self, instance_id: str, tags: Mapping[str, str]) -> None:
        self.tag_calls.append((instance_id, dict(tags)))
        b = self.by_id[instance_id]
        self.by_id[instance_id] = replace(b, tags={**b.tags, **tags})


@dataclass
class FakeInstances(_Machines):
    """EC2 as the reaper sees it (``domain.ports.Instances``)."""

    def launch(self, spec: LaunchSpec) -> Bastion:
        raise NotImplementedError

    def latest_image(self) -> str:
        return "ami-01234567"


@dataclass
class FakeCompute(_Machines):
    """The compute port (``domain.compute.Compute``): ``launch`` records each Order and
    starts a pending bastion tagged with it, as a backend does."""

    launches: list[Order] = field(default_factory=list)
    launch_error: BaseException | None = None  # raised by the next launch
    notes: tuple[str, ...] = ()

    def launch(self, order: Order) -> Launched:
        self.launches.append(order)
        if self.launch_error is not None:
            raise self.launch_error
        iid = f"i-{0xB000 + len(self.launches):017x}"
        bastion = Bastion(iid, "pending", "10.0.0.9", order.created_at, tags_of(order))
        self.add(bastion)
        return Launched(bastion, self.notes)


def tags_of(order: Order) -> dict[str, str]:
    """The facts the rules read, recorded with the bastion (as every backend keeps them)."""
    owner, grant = order.owner, order.grant
    tags = {
        Tag.USER_ID: owner.user_id,
        Tag.USERNAME: owner.username,
        Tag.CREATED_AT: iso(order.created_at),
        Tag.EXPIRES_AT: iso(order.expires_at),
    }
    optional = {
        Tag.DISPLAY_NAME: owner.display_name,
        Tag.ARN: owner.arn,
        Tag.EMAIL: owner.email,
        Tag.REASON: order.reason,
        Tag.RDS_ENDPOINT: order.forward.endpoint,
        Tag.RDS_PORT: str(order.forward.port) if order.forward.endpoint else None,
        Tag.APPROVED_BY: grant.approved_by,
        Tag.BREAK_GLASS: "true" if grant.break_glass else None,
        Tag.GRANTED_UNTIL: iso(grant.until) if grant.until else None,
    }
    return tags | {k: v for k, v in optional.items() if v is not None}


@dataclass(frozen=True)
class Put:
    """One ``Schedules.put``: the times a bastion's warning and termination were set for."""

    instance_id: str
    expires_at: datetime
    warn_at: datetime
    new: bool


@dataclass
class FakeSchedules:
    refs: dict[str, ScheduleRef] = field(default_factory=dict)
    puts: list[Put] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    broken: Exception | None = None  # raised by put (the scheduler refuses)

    def put(self, instance_id: str, expires_at: datetime, warn_at: datetime, *, new: bool) -> None:
        if self.broken is not None:
            raise self.broken
        self.puts.append(Put(instance_id, expires_at, warn_at, new))
        for kind in ("warning", "termination"):
            name = f"p-e-{instance_id}-{kind}"
            self.refs[name] = ScheduleRef(name, instance_id, None)

    def remove(self, instance_id: str) -> None:
        # By name, as SchedulerSchedules does: the sweep calls this from several threads.
        self.removed.append(instance_id)
        for kind in ("warning", "termination"):
            self.refs.pop(f"p-e-{instance_id}-{kind}", None)

    def ours(self) -> Iterator[ScheduleRef]:
        yield from list(self.refs.values())

    def delete(self, name: str) -> None:
        self.refs.pop(name, None)


@dataclass
class FakeNotifier:
    sent: list[Notice] = field(default_factory=list)
    broken: bool = False

    def send(self, notice: Notice) -> None:
        if self.broken:
            raise NotificationFailed("slack is down")
        self.sent.append(notice)


@dataclass
class Slot:
    token: str
    until: datetime
    instance_id: str | None = None


@dataclass
class FakeSlots:
    """Per-user launch slots, claimed as ``DynamoSlots`` claims them: free, lapsed, or
    already this request's."""

    per_user: int = 1
    held: dict[tuple[str, int], Slot] = field(default_factory=dict)

    def acquire(self, user_id: str, token: str, until: datetime, now: datetime) -> int | None:
        for n in range(self.per_user):
            slot = self.held.get((user_id, n))
            if slot is None or slot.until < now or slot.token == token:
                self.held[(user_id, n)] = Slot(token, until)
                return n
        return None

    def record(self, user_id: str, n: int, token: str, instance_id: str, until: datetime) -> None:
        slot = self.held[(user_id, n)]
        assert slot.token == token, "a slot is recorded only by the request that holds it"
        self.held[(user_id, n)] = Slot(token, until, instance_id)

    def holders(self, user_id: str) -> list[str]:
        return [s.instance_id for (u, _), s in self.held.items() if u == user_id and s.instance_id]

    def release(
        self, user_id: str, *, instance_id: str | None = None, token: str | None = None
    ) -> None:
        for key, slot in list(self.held.items()):
            mine = slot.instance_id == instance_id if instance_id else slot.token == token
            if key[0] == user_id and mine:
                del self.held[key]
                return


@dataclass
class FakeSessions:
    """SSM as the use cases see it: each instance's agent, and who asked about it."""

    agents: dict[str, Agent] = field(default_factory=dict)
    open_sessions: set[str] = field(default_factory=set)
    ended: dict[str, datetime] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def active_targets(self) -> set[str]:
        return set(self.open_sessions)

    def last_session_end(self, instance_id: str) -> datetime | None:
        return self.ended.get(instance_id)

    def agent(self, instance_id: str) -> Agent:
        self.asked.append(instance_id)
        return self.agents.get(instance_id, Agent("NotRegistered"))


@dataclass
class FakeApprovalStore:
    """Approval requests in a dict. One open request per pointer (a user's create, a
    bastion's extend); a status moves from pending once, as the conditional write does."""

    by_id: dict[str, Approval] = field(default_factory=dict)
    pointers: dict[str, str] = field(default_factory=dict)

    def add(self, approval: Approval) -> Approval:
        existing = self.by_id.get(self.pointers.get(approval.pointer, ""))
        if existing is not None and existing.is_open(approval.created_at):
            return existing
        self.pointers[approval.pointer] = approval.id
        self.by_id[approval.id] = approval
        return approval

    def get(self, approval_id: str) -> Approval | None:
        return self.by_id.get(approval_id)

    def decide(
        self,
        approval_id: str,
        status: Status,
        *,
        by: str,
        now: datetime,
        reason: str | None = None,
        before_expiry: bool = True,
    ) -> bool:
        found = self.by_id.get(approval_id)
        if found is None or found.status != "pending":
            return False
        if before_expiry and not found.expires_at > now:
            return False
        decided = replace(found, status=status, decided_by=by, decided_at=now, reason=reason)
        self.by_id[approval_id] = decided
        if self.pointers.get(found.pointer) == approval_id:
            del self.pointers[found.pointer]
        return True

    def annotate(self, approval_id: str, **fields: str) -> None:
        self.by_id[approval_id] = replace(self.by_id[approval_id], **fields)  # type: ignore[arg-type]

    def overdue(self, now: datetime) -> Iterator[Approval]:
        for a in list(self.by_id.values()):
            if a.status == "pending" and a.expires_at <= now:
                yield a


@dataclass(frozen=True)
class BreakGlassPost:
    owner: Owner
    instance_id: str
    hours: float
    reason: str
    extended: bool


@dataclass
class FakeBoard:
    """The approval channel: what was posted, updated in place, and announced."""

    posts: list[tuple[Approval, list[str]]] = field(default_factory=list)
    updates: list[Approval] = field(default_factory=list)
    announced: list[BreakGlassPost] = field(default_factory=list)
    broken: bool = False  # Slack refuses every call

    def post(self, approval: Approval, approvers: Sequence[str]) -> tuple[str, str] | None:
        self._reach()
        self.posts.append((approval, list(approvers)))
        return ("C0APPROVALS", f"1766059200.{len(self.posts):06d}")

    def update(self, approval: Approval) -> None:
        self._reach()
        self.updates.append(approval)

    def break_glass(
        self, owner: Owner, instance_id: str, hours: float, reason: str, *, extended: bool = False
    ) -> None:
        self._reach()
        self.announced.append(BreakGlassPost(owner, instance_id, hours, reason, extended))

    def _reach(self) -> None:
        if self.broken:
            raise NotificationFailed("slack is down")
