"""The one policy (CONTRACT.md, "Who is asking"): who may do what, read from the actor's
trust, never from the door's name. No I/O: each test is an actor, an action and a decision."""

from __future__ import annotations

from typing import Any

import pytest

from bastion_orchestrator.domain.actor import Actor, Owner, Principal
from bastion_orchestrator.errors import Forbidden, InvalidRequest
from bastion_orchestrator.usecases.policy import (
    Act,
    Launch,
    Listing,
    Policy,
    RequestApproval,
    Verdict,
    arn_is_listed,
)
from models import (
    Approve,
    Create,
    Deny,
    Destroy,
    Extend,
    IamCreate,
    IamExtend,
    ListBastions,
    Status,
)
from tests.unit.world import slack

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform/Admin"  # a role with a path
ADMIN_USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
DEVELOPER = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/jane@example.com"
ADMIN_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/ops@example.com"
APPROVAL_ID = "apr-0123456789abcdef"

POLICY = Policy(
    allowed_user_ids=frozenset({"U1", "U2", "UADMIN", "UAPPROVER1"}),
    admin_user_ids=frozenset({"UADMIN"}),
    admin_principal_arns=frozenset({ADMIN_ROLE, ADMIN_USER}),
    approvers=frozenset({"UAPPROVER1"}),
)
PROTECTED = Policy(
    allowed_user_ids=frozenset(),
    admin_user_ids=frozenset(),
    admin_principal_arns=frozenset(),
    approval_required=True,
    approvers=frozenset({"UAPPROVER1"}),
    default_hours=3,
    break_glass_hours=1,
)


def direct(user_id: str | None = None, username: str | None = None) -> Actor:
    return Actor("direct", user_id, username=username)


def iam(
    arn: str = DEVELOPER, user_id: str = "AROAEXAMPLE:jane@example.com", username: str = "jane"
) -> Actor:
    """An IAM caller, as the door builds it from the SigV4 authorizer context."""
    return Actor("iam", user_id, username=username, arn=arn)


def create(user_id: str = "U1", username: str = "jane", **fields: Any) -> Create:
    return Create(action="create", user_id=user_id, username=username, **fields)


def targeted(verb: str, **fields: Any) -> Status | Extend | Destroy:
    models: dict[str, type[Status | Extend | Destroy]] = {
        "status": Status,
        "extend": Extend,
        "destroy": Destroy,
    }
    return models[verb].model_validate({"action": verb, **fields})


# ----------------------------------------------------------------- ALLOWED_USER_IDS
@pytest.mark.parametrize(
    "actor",
    [slack("U9", "mallory"), direct("U9", "mallory")],
    ids=["slack", "direct"],
)
def test_a_user_missing_from_the_allow_list_may_not_create(actor):
    # Given ALLOWED_USER_IDS that does not list U9
    # When U9 asks for a bastion through a door the allow-list applies to
    with pytest.raises(Forbidden) as refused:
        POLICY.decide(actor, create("U9", "mallory"))
    # Then it is refused, and the refusal says which setting to change
    assert "ALLOWED_USER_IDS" in refused.value.message
    assert refused.value.details == {"user_id": "U9"}


def test_a_listed_user_launches_for_themselves_with_their_slack_email():
    # Given U1 on the allow-list, whose Slack profile has an e-mail
    actor = Actor("slack", "U1", username="jane", display_name="Jane", email="jane@example.com")
    # When they create
    decision = POLICY.decide(actor, create(display_name="Jane D"))
    # Then it launches for them; the form's display name wins, the e-mail comes from Slack
    assert decision == Launch(
        create(display_name="Jane D"),
        Owner("U1", "jane", display_name="Jane D", email="jane@example.com"),
    )


def test_iam_decides_who_calls_the_iam_door_not_the_allow_list():
    # Given an IAM caller whose user id is on no allow-list
    # When it creates without naming anyone
    decision = POLICY.decide(iam(), IamCreate(action="create"))
    # Then it launches for the signed identity, recorded under its ARN
    assert isinstance(decision, Launch)
    assert decision.owner == Owner(
        "AROAEXAMPLE:jane@example.com", "jane", display_name=None, email=None, arn=DEVELOPER
    )


def test_an_empty_allow_list_lets_everyone_create():
    open_policy = Policy(frozenset(), frozenset(), frozenset())
    assert isinstance(open_policy.decide(slack("U9"), create("U9")), Launch)


# ----------------------------------------------------------------- speaking for others
@pytest.mark.parametrize("verb", ["status", "extend", "destroy"])
@pytest.mark.parametrize("actor", [slack("U1"), iam()], ids=["slack", "iam"])
def test_a_non_admin_may_not_name_another_users_bastion(verb, actor):
    # Given a verified caller who is not an admin
    # When they ask about U2's bastion by user id
    with pytest.raises(Forbidden) as refused:
        POLICY.decide(actor, targeted(verb, user_id="U2"))
    # Then the policy refuses before any bastion is looked at
    assert "may not act for user U2" in refused.value.message
    assert refused.value.details == {"user_id": "U2"}


@pytest.mark.parametrize("verb", ["status", "extend", "destroy"])
def test_an_admin_may_name_another_users_bastion(verb):
    decision = POLICY.decide(slack("UADMIN", "root"), targeted(verb, user_id="U2"))
    assert decision == Act(verb, None, "U2", Principal("UADMIN", admin=True))


@pytest.mark.parametrize("verb", ["status", "extend", "destroy"])
def test_by_instance_id_the_caller_goes_to_the_ownership_check(verb):
    # Given a non-admin naming an instance, not a user
    decision = POLICY.decide(slack("U1"), targeted(verb, instance_id="i-0123456789abcdef0"))
    # Then the policy decides whose request it is; the bastion's owner is checked later
    assert decision == Act(verb, "i-0123456789abcdef0", "U1", Principal("U1", admin=False))


def test_a_direct_invoke_naming_nobody_acts_as_the_unrestricted_operator():
    decision = POLICY.decide(direct(), targeted("destroy", instance_id="i-0123456789abcdef0"))
    assert isinstance(decision, Act)
    assert decision.user_id is None and decision.caller.unrestricted


def test_a_non_admin_slack_user_may_not_create_for_someone_else():
    with pytest.raises(Forbidden, match="only admins may name another user"):
        POLICY.decide(slack("U1"), create("U2", "bob"))


# ----------------------------------------------------------------- list scope per trust
@pytest.mark.parametrize(
    ("actor", "named", "scope"),
    [
        (direct(), None, None),
        (direct(), "U2", "U2"),
        (slack("U1"), None, "U1"),
        (slack("U1"), "U1", "U1"),
        (slack("UADMIN"), None, None),
        (slack("UADMIN"), "U2", "U2"),
        (iam(), None, "AROAEXAMPLE:jane@example.com"),
        (iam(ADMIN_SESSION, "AROAADMIN:ops@example.com", "ops"), None, None),
    ],
    ids=[
        "direct-everyone",
        "direct-one-user",
        "slack-own",
        "slack-own-named",
        "slack-admin-everyone",
        "slack-admin-one-user",
        "iam-own",
        "iam-admin-everyone",
    ],
)
def test_list_shows_a_non_admin_only_their_own(actor, named, scope):
    # When a caller lists, naming a user or not
    decision = POLICY.decide(actor, ListBastions(action="list", user_id=named))
    # Then direct invokes see what they name; verified non-admins only their own
    assert decision == Listing(scope)


@pytest.mark.parametrize("actor", [slack("U1"), iam()], ids=["slack", "iam"])
def test_a_non_admin_may_not_list_someone_elses(actor):
    with pytest.raises(Forbidden):
        POLICY.decide(actor, ListBastions(action="list", user_id="U2"))


# ----------------------------------------------------------------- IAM: the verified name
@pytest.mark.parametrize(
    ("field", "claimed"),
    [("username", "root"), ("display_name", "The CEO")],
)
def test_an_iam_caller_may_not_record_another_name(field, claimed):
    # Given an IAM caller verified as "jane"
    # When the body claims another name for their own bastion
    with pytest.raises(Forbidden) as refused:
        POLICY.decide(iam(), IamCreate(action="create", **{field: claimed}))
    # Then it is refused, naming the field to leave out
    assert f"{field} {claimed!r} is not yours" in refused.value.message
    assert refused.value.details["errors"] == [
        {"field": field, "problem": "set from your signed identity"}
    ]


def test_an_iam_caller_may_repeat_the_name_aws_verified():
    decision = POLICY.decide(iam(), IamCreate(action="create", username="jane"))
    assert isinstance(decision, Launch) and decision.owner.username == "jane"


def test_the_slack_door_records_the_username_its_form_gives():
    # Slack's signature vouches for the user id only (name_verified is False there)
    decision = POLICY.decide(slack("U1", "jane"), create("U1", "jane-admin"))
    assert isinstance(decision, Launch) and decision.owner.username == "jane-admin"


def test_an_iam_admin_creating_for_someone_else_must_name_them():
    admin = iam(ADMIN_SESSION, "AROAADMIN:ops@example.com", "ops")
    # When an admin names a user but no username
    with pytest.raises(InvalidRequest) as refused:
        POLICY.decide(admin, IamCreate(action="create", user_id="U2"))
    assert refused.value.details["errors"][0]["field"] == "username"
    # And with one, the bastion is U2's, with none of the admin's own profile
    decision = POLICY.decide(admin, IamCreate(action="create", user_id="U2", username="bob"))
    assert isinstance(decision, Launch)
    assert decision.owner == Owner("U2", "bob", display_name=None, email=None, arn=ADMIN_SESSION)


def test_a_non_admin_iam_caller_may_not_create_for_someone_else():
    with pytest.raises(Forbidden):
        POLICY.decide(iam(), IamCreate(action="create", user_id="U2", username="bob"))


# ----------------------------------------------------------------- admins by ARN
@pytest.mark.parametrize(
    ("caller_arn", "admin"),
    [
        (ADMIN_USER, True),
        (ADMIN_ROLE, True),
        # an assumed-role session matches its role, whose path the session ARN leaves out
        (ADMIN_SESSION, True),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/anyone", True),
        ("arn:aws:sts::999999999999:assumed-role/Admin/ops", False),  # another account
        (f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/Admin/ops", False),  # another partition
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/AdminX/ops", False),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admi/ops", False),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/dmin/ops", False),  # a suffix of the role
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/platform/ops", False),  # its path
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin", False),  # no session name
        (f"arn:aws:iam::{ACCOUNT}:user/alice-2", False),
        (f"arn:aws:iam::{ACCOUNT}:user/platform/alice", False),
        (f"arn:aws:iam::{ACCOUNT}:role/Admin", False),  # the role itself, without its path
    ],
)
def test_admins_are_matched_by_arn(caller_arn, admin):
    assert arn_is_listed(caller_arn, POLICY.admin_principal_arns) is admin
    assert POLICY.is_admin(iam(caller_arn)) is admin


def test_admin_user_ids_never_make_an_iam_principal_an_admin():
    # Given an IAM caller whose user id happens to be a listed Slack admin id
    caller = iam(DEVELOPER, user_id="UADMIN")
    # Then it is not an admin: on the IAM door only ADMIN_PRINCIPAL_ARNS count
    assert not POLICY.is_admin(caller)
    with pytest.raises(Forbidden):
        POLICY.decide(caller, ListBastions(action="list", user_id="U2"))


# ----------------------------------------------------------------- approvers
def test_an_approver_approves_and_denies_with_a_reason():
    approver = slack("UAPPROVER1", "boss")
    approve = Approve(action="approve", approval_id=APPROVAL_ID)
    deny = Deny(action="deny", approval_id=APPROVAL_ID, reason="not today")
    assert POLICY.decide(approver, approve) == Verdict(APPROVAL_ID, True, None)
    assert POLICY.decide(approver, deny) == Verdict(APPROVAL_ID, False, "not today")


@pytest.mark.parametrize(
    "actor",
    [slack("U1"), slack("UADMIN"), iam(DEVELOPER, user_id="UAPPROVER1")],
    ids=["user", "admin", "iam-with-an-approvers-id"],
)
@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_only_approvers_slack_ids_may_decide(actor, verb):
    action = (Approve if verb == "approve" else Deny)(action=verb, approval_id=APPROVAL_ID)
    with pytest.raises(Forbidden, match="only APPROVER_USER_IDS") as refused:
        POLICY.decide(actor, action)
    assert refused.value.details == {"approval_id": APPROVAL_ID}


@pytest.mark.parametrize(
    ("actor", "grants"),
    [(slack("UAPPROVER1"), True), (slack("U1"), False), (iam(user_id="UAPPROVER1"), False)],
    ids=["approver", "user", "iam"],
)
def test_an_approvers_extend_is_its_own_grant(actor, grants):
    decision = POLICY.decide(actor, IamExtend(action="extend"))
    assert isinstance(decision, Act) and decision.grants is grants


# ----------------------------------------------------------------- break-glass
@pytest.mark.parametrize("reason", [None, "", "   "], ids=["none", "empty", "blank"])
def test_a_break_glass_create_needs_a_reason(reason):
    with pytest.raises(InvalidRequest) as refused:
        PROTECTED.decide(slack("U1"), create(break_glass=True, reason=reason))
    assert refused.value.details["errors"] == [
        {"field": "reason", "problem": "required with break_glass"}
    ]


@pytest.mark.parametrize("reason", [None, "", "   "], ids=["none", "empty", "blank"])
def test_a_break_glass_extend_needs_a_reason(reason):
    action = Extend(
        action="extend", instance_id="i-0123456789abcdef0", break_glass=True, reason=reason
    )
    with pytest.raises(InvalidRequest, match="break_glass needs a reason"):
        PROTECTED.decide(slack("U1"), action)


@pytest.mark.parametrize(("hours", "granted"), [(None, 1), (0.5, 0.5), (1, 1), (5, 1)])
def test_a_break_glass_launches_at_once_for_at_most_break_glass_hours(hours, granted):
    # Given a protected environment, BREAK_GLASS_HOURS=1
    # When a user breaks the glass, with a reason
    decision = PROTECTED.decide(
        slack("U1"), create(break_glass=True, reason="INC-4711 db down", hours=hours)
    )
    # Then it launches without an approver, for at most an hour
    assert isinstance(decision, Launch) and decision.break_glass
    assert decision.request.hours == granted


def test_a_break_glass_extend_carries_its_reason():
    action = Extend(
        action="extend", instance_id="i-0123456789abcdef0", break_glass=True, reason="INC-1"
    )
    decision = PROTECTED.decide(slack("U1"), action)
    assert isinstance(decision, Act) and decision.break_glass_reason == "INC-1"


# ----------------------------------------------------------------- APPROVAL_REQUIRED
@pytest.mark.parametrize(("hours", "waits_for"), [(None, 3), (2, 2)])
def test_a_create_in_a_protected_environment_waits_for_an_approver(hours, waits_for):
    decision = PROTECTED.decide(slack("U1"), create(hours=hours))
    assert decision == RequestApproval(create(hours=hours), Owner("U1", "jane"), waits_for)


@pytest.mark.parametrize("actor", [iam(), direct("U1", "jane")], ids=["iam", "direct"])
def test_every_door_waits_for_an_approver(actor):
    action = IamCreate(action="create") if actor.door == "iam" else create()
    assert isinstance(PROTECTED.decide(actor, action), RequestApproval)


def test_an_approvers_own_create_is_its_own_approval():
    decision = PROTECTED.decide(slack("UAPPROVER1", "boss"), create("UAPPROVER1", "boss"))
    assert decision == Launch(create("UAPPROVER1", "boss"), Owner("UAPPROVER1", "boss"))


def test_a_direct_create_naming_an_approver_is_that_approvers_own():
    # The direct door is trusted to name anyone (DIRECT.speaks_for_anyone): a payload naming an
    # approver is taken as the approver's own create, and launches without a request
    decision = PROTECTED.decide(direct("UAPPROVER1", "boss"), create("UAPPROVER1", "boss"))
    assert isinstance(decision, Launch) and not decision.break_glass


def test_without_approval_required_nobody_waits():
    assert isinstance(POLICY.decide(slack("U1"), create()), Launch)
