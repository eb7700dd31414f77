"""Trust: what each door verified about its caller (``Actor.trust``), which the policy reads
instead of the door's name. No door may hand the policy a wider trust than it verified: a
Slack or IAM caller never speaks for anyone, a direct invoker is never an IAM principal, and
an actor whose door or trust is unknown gets none.

The first tests watch every actor the doors hand the dispatcher; the rest attack ``Actor``
itself, as a new door would build it (latent: no door builds these today)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bastion_orchestrator.domain.actor import DIRECT, IAM, SLACK, TRUST_OF, Actor, Trust
from bastion_orchestrator.errors import Forbidden
from bastion_orchestrator.usecases.policy import Act, Listing, Policy
from models import Create, Destroy, ListBastions
from tests.support.doors import create_as, deliver, direct, via_iam, via_slack
from tests.support.slack_requests import button, slash_command

IID = "i-0123456789abcdef0"


@pytest.fixture
def actors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Actor]]:
    """Every actor a door hands the dispatcher (to decide, or to dispatch)."""
    from bastion_orchestrator.usecases.dispatcher import Dispatcher

    seen: list[Actor] = []
    dispatch, decide = Dispatcher.dispatch, Dispatcher.decide

    def dispatching(self: Dispatcher, actor: Actor, action: Any, *, request_id: str) -> Any:
        seen.append(actor)
        return dispatch(self, actor, action, request_id=request_id)

    def deciding(self: Dispatcher, actor: Actor, action: Any) -> Any:
        seen.append(actor)
        return decide(self, actor, action)

    monkeypatch.setattr(Dispatcher, "dispatch", dispatching)
    monkeypatch.setattr(Dispatcher, "decide", deciding)
    yield seen


@pytest.mark.integration
@pytest.mark.usefixtures("outbound")
def test_every_door_hands_the_policy_exactly_the_trust_it_verified(
    aws, slack, clock, lambda_context, lambda_async, actors
):
    # When each door is used: direct, IAM, Slack inline, Slack queued, a Slack button
    direct(lambda_context, {"action": "create", "user_id": "UOTHER", "username": "other"})
    direct(lambda_context, {"action": "list"})
    via_iam(lambda_context, {"action": "create", "reason": "INC-1"})
    via_iam(lambda_context, {"action": "status", "user_id": "UOTHER"})
    via_slack(lambda_context, clock, slash_command("bastion list"))
    iid = create_as(lambda_context, clock, lambda_async, "U12345")
    via_slack(lambda_context, clock, button("bastion_destroy", iid, user_id="UMALLORY"))
    deliver(lambda_context, lambda_async)
    # Then every actor carries its own door's trust, the very object, and nothing wider
    assert {a.door for a in actors} == {"direct", "iam", "slack"}
    for actor in actors:
        assert actor.trust is TRUST_OF[actor.door], actor
        if actor.door != "direct":
            assert not actor.trust.speaks_for_anyone and actor.user_id, actor
        if actor.door != "iam":
            assert not actor.trust.iam_principal and actor.arn is None, actor


@pytest.mark.integration
@pytest.mark.usefixtures("outbound")
def test_a_slack_caller_never_becomes_an_iam_principal_or_an_operator(
    aws, slack, clock, lambda_context, lambda_async, actors, monkeypatch
):
    from tests.support.doors import reset_with

    # Given an allow-list that does not name U12345
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    # When U12345 creates through Slack
    via_slack(lambda_context, clock, slash_command("bastion create"))
    [result] = deliver(lambda_context, lambda_async)
    # Then the allow-list applies to them (no IAM principal's exemption), nothing launched
    assert result["error"] == "FORBIDDEN" and aws.running() == []
    assert actors and all(a.trust is SLACK for a in actors)


def test_an_actor_of_an_unknown_door_gets_no_trust():
    # A door name no trust is known for (a new door wired by mistake) fails at once
    with pytest.raises(KeyError):
        Actor("webhook", "U1")  # type: ignore[arg-type]
    # unless the door says what it verified: then exactly that, never more
    assert Actor("webhook", "U1", trust=SLACK).trust is SLACK  # type: ignore[arg-type]


def test_a_narrower_trust_given_explicitly_is_kept():
    # A door that verified less than its name suggests keeps what it says it verified
    narrow = Trust()
    for door in ("direct", "iam", "slack"):
        assert Actor(door, "U1", trust=narrow).trust is narrow
    assert Actor("direct", None).trust is DIRECT and Actor("iam", "AROA:x").trust is IAM


# Was a latent hole: Actor.__post_init__ takes `trust is SLACK` to mean 'not given', so an
# explicit trust=SLACK on door 'direct' or 'iam' is silently widened to DIRECT (speaks for anyone)
# or IAM (exempt from ALLOWED_USER_IDS). Fix: a None default (or a private sentinel) for 'not
# given'. (closed)
@pytest.mark.parametrize("door", ["direct", "iam"])
def test_an_explicit_slack_trust_is_never_widened(door):
    # Given a door that vouches for a user id as Slack does, and says so
    actor = Actor(door, "UMALLORY", username="m", trust=SLACK)
    # Then it is trusted as Slack: no wider
    assert actor.trust is SLACK
    # And so the allow-list applies, and it speaks for nobody else
    policy = Policy(frozenset({"UALICE"}), frozenset(), frozenset())
    create = Create(action="create", user_id="UMALLORY", username="m")
    with pytest.raises(Forbidden):
        policy.decide(actor, create)
    with pytest.raises(Forbidden):
        policy.decide(actor, Destroy(action="destroy", user_id="UALICE"))


# Was a latent hole: an actor of a verified door (slack, iam) with user_id None is decided as the
# operator: Principal(None) is unrestricted (any bastion's status, extend, destroy) and a list is
# everyone's. The doors never build one today (each validates its user id); nothing in Actor or
# the policy refuses it. Fix: Actor refuses user_id None unless its trust speaks_for_anyone.
# (closed)
@pytest.mark.parametrize("door", ["slack", "iam"])
def test_a_verified_door_naming_nobody_is_never_the_operator(door):
    policy = Policy(frozenset(), frozenset({"UADMIN"}), frozenset())
    try:
        actor = Actor(door, None)
    except (TypeError, ValueError):
        return  # refused where it is built: fine
    # Then it may neither act on any bastion nor list everyone's (refused, or scoped)
    for action in (Destroy(action="destroy", instance_id=IID), ListBastions(action="list")):
        try:
            decision = policy.decide(actor, action)
        except Forbidden:
            continue
        if isinstance(decision, Act):
            assert not decision.caller.unrestricted, decision
        else:
            assert isinstance(decision, Listing) and decision.user_id is not None, decision
