"""Approvals on fakes (CONTRACT.md, "Approvals"): a request is stored and posted, decided once
by an approver who is not the requester, or expires unanswered; an approved one launches (or
extends) exactly what was asked for, once.

The world: APPROVER_USER_IDS=UAPPROVER1,UAPPROVER2, APPROVAL_TIMEOUT_MINUTES=30, the clock at
12:00 (``T0``) when the request is made.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.actor import Actor, Owner
from bastion_orchestrator.domain.approval import Approval
from bastion_orchestrator.domain.bastion import Tag
from bastion_orchestrator.domain.compute import client_token
from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.domain.results import Created, Extended
from bastion_orchestrator.errors import CapacityUnavailable, Forbidden, NotFound
from bastion_orchestrator.usecases.policy import Verdict
from models import Create, IamCreate
from tests.unit.fakes import T0
from tests.unit.world import World, bastion, slack

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
JANE = Owner("U1", "jane")
APPROVER = slack("UAPPROVER1", "boss")
OTHER_APPROVER = slack("UAPPROVER2", "chief")
DEVELOPER_ROLE = "arn:aws:iam::123456789012:role/Developer"
DEVELOPER = "arn:aws:sts::123456789012:assumed-role/Developer/jane@example.com"
IID = "i-00000000000000001"


def ask(
    world: World,
    owner: Owner = JANE,
    actor: Actor | None = None,
    hours: float | None = None,
    request: Create | None = None,
) -> Approval:
    """A create request stored for the approvers, as the dispatcher makes one."""
    request = request or Create(
        action="create", user_id=owner.user_id, username=owner.username, hours=hours
    )
    pending = world.approvals().request(request, owner, actor or slack(), hours or 3)
    return pending.approval


def via_iam(world: World) -> Approval:
    """Jane's request through the IAM door: the body names nobody, the signature does."""
    caller = Actor("iam", "AROAEXAMPLE:jane@example.com", username="jane", arn=DEVELOPER)
    owner = Owner("AROAEXAMPLE:jane@example.com", "jane", arn=DEVELOPER)
    return ask(world, owner, caller, request=IamCreate(action="create"))


@pytest.fixture
def world() -> World:
    return World.protected()


# ----------------------------------------------------------------- asking
def test_a_request_is_stored_posted_and_the_requester_told_whom_it_waits_for(world):
    # When U1 asks for a bastion in the protected environment
    pending = world.approvals().request(
        Create(action="create", user_id="U1", username="jane", reason="INC-4711"), JANE, slack(), 3
    )
    approval = pending.approval
    # Then it is stored pending until 12:30, the payload without the requester's names
    assert world.store.get(approval.id) is not None
    assert (approval.status, approval.created_at, approval.expires_at) == (
        "pending",
        T0,
        T0 + 30 * MINUTE,
    )
    assert approval.request == {"action": "create", "break_glass": False, "reason": "INC-4711"}
    assert (approval.requester_id, approval.requester_label, approval.hours) == ("U1", "<@U1>", 3)
    # And posted to the approvers, its message remembered to update it later
    assert world.board.posts == [(approval, ["UAPPROVER1", "UAPPROVER2"])]
    stored = world.store.by_id[approval.id]
    assert (stored.channel, stored.ts) == ("C0APPROVALS", "1766059200.000001")
    # And U1 is told, in Slack and in the answer, that it waits until 12:30
    assert world.notifier.sent == [
        Notice(
            "approval",
            "U1",
            approval.id,
            T0 + 30 * MINUTE,
            "dev",
            cause="pending",
            detail="waits for <@UAPPROVER1>, <@UAPPROVER2>",
        )
    ]
    assert pending.message == (
        f"Approval needed in dev: your request ({approval.id}) was posted for <@UAPPROVER1>, "
        "<@UAPPROVER2> and waits until 2025-12-18T12:30:00+00:00. Nothing changes until an "
        "approver who is not you approves it."
    )


def test_asking_again_while_one_is_open_answers_the_open_one(world):
    first = ask(world)
    world.clock.advance(minutes=10)
    again = ask(world, hours=5)
    assert again.id == first.id and again.hours == 3
    assert len(world.board.posts) == 1 and len(world.notifier.sent) == 1


def test_after_the_open_one_expired_a_new_request_is_made(world):
    first = ask(world)
    world.clock.advance(minutes=31)
    assert ask(world).id != first.id
    assert len(world.board.posts) == 2


def test_an_iam_requester_is_answered_not_messaged_and_named_by_arn(world):
    approval = via_iam(world)
    assert approval.requester_label == DEVELOPER and approval.door == "iam"
    assert world.notifier.sent == []
    assert len(world.board.posts) == 1


def test_an_extension_past_the_grant_asks_for_exactly_that(world):
    # Given U1's bastion ending at 15:00, and U1 asking at 14:00 to extend it to 17:00
    b = world.add(bastion(1, expires=T0 + 3 * H))
    world.clock.now = T0 + 2 * H
    pending = world.approvals().request_extension(b, T0 + 5 * H, 2 * H, slack())
    # Then the approvers see "extend by 2 h", until 17:00, asked by U1
    approval = pending.approval
    assert (approval.kind, approval.instance_id, approval.hours) == ("extend", IID, 2)
    assert approval.request == {
        "instance_id": IID,
        "until": "2025-12-18T17:00:00+00:00",
        "asked_by": {"user_id": "U1"},
    }
    assert approval.expires_at == T0 + 2.5 * H
    assert f"extending {IID} by 2 h ({approval.id})" in pending.message


# ----------------------------------------------------------------- nobody approves their own
def test_an_approver_may_not_approve_their_own_request(world, caplog):
    caplog.set_level(logging.INFO)
    # Given a request for UAPPROVER1's own bastion, made for them by the operator
    approval = ask(world, Owner("UAPPROVER1", "boss"), Actor("direct", None))
    # When UAPPROVER1 approves it
    with pytest.raises(Forbidden) as refused:
        world.approvals().decide(approval.id, APPROVER, approve=True)
    # Then it is refused, still pending, and the refusal is an audit line
    assert refused.value.message == (
        "Nobody approves their own request (it is yours). Ask another approver "
        "(<@UAPPROVER1>, <@UAPPROVER2>)."
    )
    assert world.store.by_id[approval.id].status == "pending"
    assert [r.getMessage() for r in caplog.records].count("self-approval refused") == 1


def test_an_approver_with_the_requesters_email_is_the_requester(world):
    approval = ask(world, Owner("U1", "jane", email="jane@example.com"))
    approver = slack("UAPPROVER1", "boss", email="Jane@Example.com")
    with pytest.raises(Forbidden, match="it is yours"):
        world.approvals().decide(approval.id, approver, approve=True)


def test_an_approver_who_asked_for_someone_elses_extension_may_not_approve_it(world):
    b = world.add(bastion(1, tags={Tag.BREAK_GLASS: "true"}))
    approval = world.approvals().request_extension(b, T0 + 5 * H, 2 * H, APPROVER).approval
    with pytest.raises(Forbidden, match="you asked for it"):
        world.approvals().decide(approval.id, APPROVER, approve=True)


def test_an_iam_request_needs_the_approvers_iam_identities_to_tell_them_apart(world):
    # Given an IAM request and no APPROVER_IAM_PRINCIPALS entry for the approver
    approval = via_iam(world)
    # Then the approver cannot be told apart from the requester: refused (fail closed)
    with pytest.raises(Forbidden, match="APPROVER_IAM_PRINCIPALS has no entry for UAPPROVER1"):
        world.approvals().decide(approval.id, APPROVER, approve=True)
    assert world.store.by_id[approval.id].status == "pending"


@pytest.mark.parametrize(
    ("signs_as", "allowed"),
    [([], True), (["arn:aws:iam::123456789012:role/Admin"], True), ([DEVELOPER_ROLE], False)],
    ids=["signs-as-none", "another-role", "the-requesters-role"],
)
def test_an_approver_who_signs_as_the_iam_requester_may_not_approve(signs_as, allowed):
    world = World.protected(APPROVER_IAM_PRINCIPALS=json.dumps({"UAPPROVER1": signs_as}))
    approval = via_iam(world)
    if allowed:
        assert world.approvals().decide(approval.id, APPROVER, approve=True)[1]
    else:
        with pytest.raises(Forbidden, match="one of the principals you sign as"):
            world.approvals().decide(approval.id, APPROVER, approve=True)


def test_an_approver_whose_email_is_the_iam_session_name_is_the_requester():
    world = World.protected(APPROVER_IAM_PRINCIPALS=json.dumps({"UAPPROVER1": []}))
    approval = via_iam(world)
    approver = slack("UAPPROVER1", "jane", email="jane@example.com")
    with pytest.raises(Forbidden, match="it is yours"):
        world.approvals().decide(approval.id, approver, approve=True)


# ----------------------------------------------------------------- decided once
def test_a_request_is_decided_once_whoever_presses_next(world):
    approval = ask(world)
    world.clock.advance(minutes=5)
    # When UAPPROVER1 approves, then UAPPROVER2 approves, then denies
    first = world.approvals().decide(approval.id, APPROVER, approve=True)
    second = world.approvals().decide(approval.id, OTHER_APPROVER, approve=True)
    third = world.approvals().decide(approval.id, OTHER_APPROVER, approve=False, reason="no")
    # Then the first decided it at 12:05; the others find it decided
    assert first[1] and not second[1] and not third[1]
    assert (first[0].status, first[0].decided_by, first[0].decided_at) == (
        "approved",
        "UAPPROVER1",
        T0 + 5 * MINUTE,
    )
    assert world.store.by_id[approval.id].status == "approved"
    assert third[0].decided_by == "UAPPROVER1" and third[0].reason is None


def test_a_denial_tells_the_requester_why_and_updates_the_message(world):
    approval = ask(world)
    decided, fresh = world.approvals().decide(
        approval.id, APPROVER, approve=False, reason="use staging"
    )
    assert fresh and decided.status == "denied" and decided.reason == "use staging"
    assert [u.status for u in world.board.updates] == ["denied"]
    assert world.board.updates[0].ts == "1766059200.000001"  # the posted message, in place
    told = world.notifier.sent[-1]
    assert (told.cause, told.detail) == ("denied", "denied by <@UAPPROVER1>: use staging")


def test_an_unknown_request_is_not_found(world):
    with pytest.raises(NotFound, match="No approval request apr-0123456789abcdef in dev"):
        world.approvals().decide("apr-0123456789abcdef", APPROVER, approve=True)


# ----------------------------------------------------------------- expiry
@pytest.mark.parametrize("late", [timedelta(0), MINUTE], ids=["at-12:30", "at-12:31"])
def test_a_late_answer_finds_the_request_expired_and_launches_nothing(world, late):
    approval = ask(world)
    # When an approver presses Approve at or after 12:30
    world.clock.now = T0 + 30 * MINUTE + late
    decided, fresh = world.approvals().decide(approval.id, APPROVER, approve=True)
    # Then it expired (by the timeout), and the requester is told it went unanswered
    assert not fresh
    assert (decided.status, decided.decided_by) == ("expired", "timeout")
    assert world.notifier.sent[-1].detail == "expired unanswered after 30 min"
    assert [u.status for u in world.board.updates] == ["expired"]


def test_the_sweep_expires_overdue_requests_once(world):
    # Given U1's request from 12:00 and U2's from 12:20
    first = ask(world)
    world.clock.advance(minutes=20)
    second = ask(world, Owner("U2", "bob"), slack("U2", "bob"))
    approvals = world.approvals()
    # When the sweep runs at 12:35, 12:36 and 12:50
    world.clock.now = T0 + 35 * MINUTE
    at_35, at_36 = approvals.expire_overdue(), approvals.expire_overdue()
    world.clock.now = T0 + 50 * MINUTE
    at_50 = approvals.expire_overdue()
    # Then each expires once, when its 30 minutes are up
    assert (at_35, at_36, at_50) == (1, 0, 1)
    assert world.store.by_id[first.id].decided_at == T0 + 35 * MINUTE
    assert world.store.by_id[second.id].decided_at == T0 + 50 * MINUTE
    assert [n.detail for n in world.notifier.sent if n.cause == "expired"] == [
        "expired unanswered after 30 min"
    ] * 2


# ----------------------------------------------------------------- the verdict
def test_an_approved_create_launches_what_was_asked_for_once(world):
    # Given U1's request for 2 hours, approved at 12:10
    approval = ask(world, hours=2)
    world.clock.advance(minutes=10)
    verdict = Verdict(approval.id, approve=True, reason=None)
    decided = world.verdict()(verdict, APPROVER)
    # Then one bastion is launched for U1, from 12:10 to 14:10, tagged with its approver
    assert decided.fresh and isinstance(decided.outcome, Created)
    [order] = world.compute.launches
    assert order.owner == JANE
    assert (order.created_at, order.expires_at) == (T0 + 10 * MINUTE, T0 + 2 * H + 10 * MINUTE)
    assert order.grant.approved_by == "UAPPROVER1"
    assert order.grant.until == order.expires_at
    assert order.token == client_token("bastion", "dev", "U1", approval.id)
    # And the approval message shows the bastion
    assert world.store.by_id[approval.id].instance_id == decided.outcome.facts.instance_id
    assert world.board.updates[-1].instance_id == decided.outcome.facts.instance_id
    # When it is pressed again (by another approver, a minute later)
    world.clock.advance(minutes=1)
    again = world.verdict()(verdict, OTHER_APPROVER)
    # Then nothing more is launched, and the answer says who approved it, when
    assert not again.fresh and not again.stale
    assert again.message == (
        f"Request {approval.id} was already approved by UAPPROVER1 at "
        "2025-12-18T12:10:00+00:00. Nothing more to do."
    )
    assert len(world.compute.launches) == 1


def test_a_denied_request_launches_nothing_even_if_approved_later(world):
    approval = ask(world)
    denied = world.verdict()(Verdict(approval.id, approve=False, reason=None), APPROVER)
    late = world.verdict()(Verdict(approval.id, approve=True, reason=None), OTHER_APPROVER)
    assert denied.fresh and denied.message == f"Request {approval.id} denied."
    assert late.stale and late.message == (
        f"Request {approval.id} was already denied by UAPPROVER1 at "
        "2025-12-18T12:00:00+00:00. Nothing was launched."
    )
    assert world.compute.launches == []


def test_an_approved_extension_extends_to_what_was_asked_once(world):
    # Given U1's bastion granted until 15:00, and a request at 14:00 to extend it to 17:00
    b = world.add(bastion(1, tags={Tag.GRANTED_UNTIL: iso(T0 + 3 * H)}))
    world.clock.now = T0 + 2 * H
    approval = world.approvals().request_extension(b, T0 + 5 * H, 2 * H, slack()).approval
    # When an approver approves it at 14:15, twice
    world.clock.advance(minutes=15)
    verdict = Verdict(approval.id, approve=True, reason=None)
    decided = world.verdict()(verdict, APPROVER)
    again = world.verdict()(verdict, APPROVER)
    # Then it runs until 17:00, granted by the approver, extended once
    assert isinstance(decided.outcome, Extended)
    assert decided.outcome.facts.expires_at == T0 + 5 * H
    assert world.compute.by_id[IID].tags[Tag.EXTENSION_APPROVED_BY] == "UAPPROVER1"
    assert not again.fresh and len(world.compute.tag_calls) == 1


def test_an_approved_create_whose_launch_failed_is_not_launched_by_a_second_press(world):
    # Given U1's request, approved while EC2 had no capacity
    approval = ask(world)
    world.compute.launch_error = CapacityUnavailable("no t4g.nano capacity")
    verdict = Verdict(approval.id, approve=True, reason=None)
    with pytest.raises(CapacityUnavailable):
        world.verdict()(verdict, APPROVER)
    # When the approver presses Approve again once capacity is back
    world.compute.launch_error = None
    again = world.verdict()(verdict, APPROVER)
    # Then the request is spent: nothing launches, and the answer says nothing more is to do
    # (no bastion exists); the requester has to ask again, which they may at once
    assert not again.fresh and not again.stale
    assert again.message is not None and again.message.endswith("Nothing more to do.")
    assert len(world.compute.launches) == 1 and world.compute.by_id == {}
    assert ask(world).id != approval.id
