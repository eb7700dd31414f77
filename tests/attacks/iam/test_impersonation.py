"""Passing for another IAM caller or for an admin: an unreadable identity, odd but genuine
principals (root, a federated user, a path, another account), look-alikes of the admin role, a
Slack admin's id. Each owns and sees only its own bastion; only the listed admin role is admin."""

from __future__ import annotations

import pytest

import handler
from tests.support.doors import direct, reset_with, via_iam
from tests.support.iam_requests import (
    ACCOUNT,
    ADMIN_ARN,
    ADMIN_ID,
    ADMIN_ROLE,
    ALICE_ARN,
    ALICE_ID,
    BOB_ARN,
    BOB_ID,
    iam_event,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "iam",
    [
        {"userArn": ALICE_ARN, "userId": "*"},  # an EC2 filter wildcard as the caller's id
        {"userArn": ALICE_ARN, "userId": "AROA?:alice"},
        {"userArn": ALICE_ARN, "userId": ""},
        {"userArn": "alice", "userId": ALICE_ID},
        {"userArn": ALICE_ARN + "\n", "userId": ALICE_ID},
        {"userArn": f"arn:aws:s3:::{ACCOUNT}", "userId": ALICE_ID},
        {"userArn": None, "userId": ALICE_ID},
        {"userArn": ALICE_ARN, "userId": 42},
        {},
    ],
    ids=lambda v: repr(v)[:40],
)
def test_an_unreadable_iam_identity_is_401_and_never_a_wildcard(aws, clock, lambda_context, iam):
    # Given a bastion of someone
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    event = iam_event({"action": "list"})
    event["requestContext"]["authorizer"]["iam"] = iam
    # When the authorizer context is malformed (only a direct invoker could forge one)
    response = handler.lambda_handler(event, lambda_context)
    # Then it is 401 and lists nothing
    assert response["statusCode"] == 401
    assert "U12345" not in response["body"]


@pytest.mark.parametrize(
    ("arn", "user_id", "username"),
    [
        (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "root"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", f"{ACCOUNT}:bob", "bob"),
        (f"arn:aws:iam::{ACCOUNT}:user/ops/dave", "AIDAEXAMPLEUSER00001", "dave"),
        (
            "arn:aws:sts::999999999999:assumed-role/Dev/erin@example.org",
            "AROAFOREIGNACCOUNT01:erin@example.org",
            "erin",
        ),
    ],
    ids=["root", "federated-user", "iam-user-with-path", "cross-account-session"],
)
def test_odd_but_genuine_iam_identities_own_only_their_bastion(
    aws, clock, lambda_context, arn, user_id, username
):
    # Given Alice's bastion
    _, alices = via_iam(lambda_context, {"action": "create"})
    # When a root, federated, path-ful or foreign-account caller creates and looks around
    status, own = via_iam(lambda_context, {"action": "create"}, user_arn=arn, user_id=user_id)
    # Then they get their own bastion, tagged with what AWS verified
    assert status == 200 and own["instance_id"] != alices["instance_id"]
    tags = aws.tags(own["instance_id"])
    assert (tags["RequestedByUserId"], tags["RequestedByArn"], tags["RequestedBy"]) == (
        user_id,
        arn,
        username,
    )
    # And they see and touch only their own
    _, listed = via_iam(lambda_context, {"action": "list"}, user_arn=arn, user_id=user_id)
    assert [b["instance_id"] for b in listed["bastions"]] == [own["instance_id"]]
    for verb in ("status", "extend", "destroy"):
        got, body = via_iam(
            lambda_context,
            {"action": verb, "instance_id": alices["instance_id"]},
            user_arn=arn,
            user_id=user_id,
        )
        assert (got, body["error"]) == (403, "FORBIDDEN"), verb
    assert aws.state(alices["instance_id"]) == "running"


def test_an_iam_caller_cannot_touch_another_callers_bastion(aws, clock, lambda_context):
    _, alices = via_iam(lambda_context, {"action": "create"})
    iid = alices["instance_id"]
    # When Bob extends or destroys Alice's bastion by its id
    for verb in ("status", "extend", "destroy"):
        status, body = via_iam(
            lambda_context, {"action": verb, "instance_id": iid}, user_arn=BOB_ARN, user_id=BOB_ID
        )
        # Then each is 403 and the bastion is untouched
        assert (status, body["error"]) == (403, "FORBIDDEN"), verb
    assert aws.state(iid) == "running"
    assert aws.tags(iid)["ExpiresAt"] == alices["expires_at"]


@pytest.mark.parametrize(
    ("arn", "user_id"),
    [
        # the admin role's name and path, but in another account
        (
            "arn:aws:sts::999999999999:assumed-role/PlatformAdmin/carol",
            "AROAFOREIGN000000001:carol",
        ),
        # the admin role's name in another partition (same account number)
        (
            f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/PlatformAdmin/carol",
            "AROAGOVCLOUD00000001:c",
        ),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/PlatformAdmin/carol", "AROACHINA00000000001:c"),
        # an IAM user, a federated user and a session named like the role
        (f"arn:aws:iam::{ACCOUNT}:user/PlatformAdmin", "AIDAEXAMPLEUSER00002"),
        (f"arn:aws:iam::{ACCOUNT}:user/platform/PlatformAdmin", "AIDAEXAMPLEUSER00003"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/PlatformAdmin", f"{ACCOUNT}:PlatformAdmin"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/PlatformAdmin", "AROADEV:PlatformAdmin"),
        # roles whose names merely contain the admin role's name, or differ in case
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdminX/carol", "AROAX:carol"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/XPlatformAdmin/carol", "AROAY:carol"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/platformadmin/carol", "AROAZ:carol"),
        # the role ARN itself, without its path (not what AWS sends, but never a match by prefix)
        (f"arn:aws:iam::{ACCOUNT}:role/PlatformAdmin", "AROAROLE:carol"),
    ],
    ids=[
        "other-account",
        "govcloud",
        "china",
        "iam-user-same-name",
        "iam-user-same-path-and-name",
        "federated-user-same-name",
        "session-named-like-role",
        "name-prefix",
        "name-suffix",
        "other-case",
        "role-arn-without-path",
    ],
)
def test_only_the_listed_admin_role_is_admin(aws, clock, lambda_context, monkeypatch, arn, user_id):
    # Given the admin role (with its path) in ADMIN_PRINCIPAL_ARNS and Alice's bastion
    reset_with(monkeypatch, ADMIN_PRINCIPAL_ARNS=ADMIN_ROLE)
    _, alices = via_iam(lambda_context, {"action": "create"})
    # When a look-alike principal destroys it, names Alice, or lists everyone
    destroy = via_iam(
        lambda_context,
        {"action": "destroy", "instance_id": alices["instance_id"]},
        user_arn=arn,
        user_id=user_id,
    )
    speak = via_iam(
        lambda_context, {"action": "list", "user_id": "U12345"}, user_arn=arn, user_id=user_id
    )
    _, listed = via_iam(lambda_context, {"action": "list"}, user_arn=arn, user_id=user_id)
    # Then it is not an admin: 403, 403, and a list of its own (none)
    assert (destroy[0], destroy[1]["error"]) == (403, "FORBIDDEN")
    assert (speak[0], speak[1]["error"]) == (403, "FORBIDDEN")
    assert listed["bastions"] == []
    assert aws.state(alices["instance_id"]) == "running"
    # And the genuine admin session still is one
    _, everyone = via_iam(lambda_context, {"action": "list"}, user_arn=ADMIN_ARN, user_id=ADMIN_ID)
    assert [b["user_id"] for b in everyone["bastions"]] == [ALICE_ID]


def test_a_slack_admin_id_is_no_admin_on_the_iam_door(aws, clock, lambda_context, monkeypatch):
    # Given UADMIN in ADMIN_USER_IDS (a Slack admin) and someone's bastion
    victim = direct(lambda_context, {"action": "create", "user_id": "UVICTIM", "username": "v"})
    # When an IAM caller whose userId happens to be UADMIN acts (the door's pattern allows it)
    status, body = via_iam(
        lambda_context,
        {"action": "destroy", "instance_id": victim["instance_id"]},
        user_arn=f"arn:aws:iam::{ACCOUNT}:user/UADMIN",
        user_id="UADMIN",
    )
    # Then ADMIN_USER_IDS does not apply on the IAM door
    assert (status, body["error"]) == (403, "FORBIDDEN")
    assert aws.state(victim["instance_id"]) == "running"


def test_an_iam_admin_may_act_on_any_bastion(aws, clock, lambda_context, monkeypatch):
    from tests.support import roots

    # Given the admin's role (with a path, as IAM has it) in ADMIN_PRINCIPAL_ARNS
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", ADMIN_ROLE)
    roots.fresh()
    _, alices = via_iam(lambda_context, {"action": "create"})
    # When a session of that role destroys Alice's bastion
    status, body = via_iam(
        lambda_context,
        {"action": "destroy", "instance_id": alices["instance_id"]},
        user_arn=ADMIN_ARN,
        user_id=ADMIN_ID,
    )
    # Then it is allowed
    assert status == 200 and body["state"] == "shutting-down"
