"""In a protected environment nobody approves their own request: not an admin or owner who is
also an approver, not an IAM requester approving in Slack; principals that compare alike
(a role's path, partition, case, account, a federated user) are matched as IAM matches them."""

from __future__ import annotations

import pytest

from tests.integration.test_approval_grants import (
    approved_bastion,
    break_glass_bastion,
    expiry,
    with_identities,
)
from tests.integration.test_approvals import press, run_queued, slack_post
from tests.support.doors import iam, reset_with
from tests.support.iam_requests import ACCOUNT, ADMIN_ARN, ADMIN_ID, ADMIN_ROLE, BOB_ARN, BOB_ID
from tests.support.slack_requests import button

pytestmark = pytest.mark.integration


def test_an_iam_admin_is_never_an_approver_so_its_extend_is_a_request(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    reset_with(
        monkeypatch, ADMIN_PRINCIPAL_ARNS=ADMIN_ROLE, APPROVER_USER_IDS="UAPPROVER1," + ADMIN_ID
    )
    before = expiry(aws, iid)

    answer = iam(lambda_context, {"action": "extend", "instance_id": iid}, ADMIN_ARN, ADMIN_ID)

    assert answer.get("pending_approval") is True and expiry(aws, iid) == before


def test_an_iam_admin_cannot_approve_the_extension_they_asked_for(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    # carol administers through IAM (PlatformAdmin) and approves in Slack as UAPPROVER2,
    # and the platform team mapped her correctly
    reset_with(monkeypatch, ADMIN_PRINCIPAL_ARNS=ADMIN_ROLE)
    with_identities(monkeypatch, {"UAPPROVER2": [ADMIN_ROLE], "UAPPROVER1": []})
    before = expiry(aws, iid)
    asked = iam(lambda_context, {"action": "extend", "instance_id": iid}, ADMIN_ARN, ADMIN_ID)
    assert asked["pending_approval"] is True

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert result.get("error") == "FORBIDDEN" and expiry(aws, iid) == before


def test_a_slack_admin_approver_cannot_approve_the_extension_they_asked_for(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    reset_with(monkeypatch, APPROVER_USER_IDS="UAPPROVER1,UADMIN")  # UADMIN: ADMIN_USER_IDS
    before = expiry(aws, iid)
    slack_post(lambda_context, clock, button("bastion_extend", iid, user_id="UADMIN"))
    [asked] = run_queued(lambda_context, lambda_async)
    assert asked["pending_approval"] is True

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UADMIN"
    )

    assert result.get("error") == "FORBIDDEN" and expiry(aws, iid) == before


def test_an_iam_owner_cannot_approve_the_extension_of_their_bastion_from_slack(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    # bob (IAM) owns a bastion another approver let him have; he signs as UAPPROVER1 too
    with_identities(monkeypatch, {"UAPPROVER1": [BOB_ARN], "UAPPROVER2": []})
    created = iam(lambda_context, {"action": "create", "reason": "INC-3"}, BOB_ARN, BOB_ID)
    iid = press(
        lambda_context, clock, lambda_async, "bastion_approve", created["approval_id"], "UAPPROVER2"
    )["instance_id"]
    before = expiry(aws, iid)
    asked = iam(lambda_context.next(), {"action": "extend", "instance_id": iid}, BOB_ARN, BOB_ID)
    assert asked["pending_approval"] is True

    as_bob = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER1"
    )
    with_identities(monkeypatch, {"UAPPROVER1": [BOB_ARN]})  # UAPPROVER2 now unmapped
    unmapped = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert as_bob["error"] == "FORBIDDEN" and unmapped["error"] == "FORBIDDEN"
    assert expiry(aws, iid) == before


@pytest.mark.parametrize(
    ("requester", "principals", "same"),
    [
        # a role with a path: its sessions leave the path out
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/bob",
            [f"arn:aws:iam::{ACCOUNT}:role/a/b/Dev"],
            True,
        ),
        # another partition
        (
            f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/Dev/bob",
            [f"arn:aws-cn:iam::{ACCOUNT}:role/Dev"],
            True,
        ),
        # case: IAM names are case-insensitive, a near miss refuses
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/DEV/Bob",
            [f"arn:aws:iam::{ACCOUNT}:role/dev"],
            True,
        ),
        (f"arn:aws:iam::{ACCOUNT}:user/Bob", [f"arn:aws:iam::{ACCOUNT}:user/bob"], True),
        # another account's role of the same name is another principal
        (
            "arn:aws:sts::210987654321:assumed-role/Dev/bob",
            [f"arn:aws:iam::{ACCOUNT}:role/Dev"],
            False,
        ),
        # another partition's role of the same name too
        (
            f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/Dev/bob",
            [f"arn:aws:iam::{ACCOUNT}:role/Dev"],
            False,
        ),
        # a role whose name ends like the mapped one is not it
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/XDev/bob",
            [f"arn:aws:iam::{ACCOUNT}:role/Dev"],
            False,
        ),
    ],
)
def test_signs_as(requester, principals, same):
    from bastion_orchestrator.usecases.self_approval import signs_as

    assert signs_as(requester, frozenset(principals)) is same


def test_a_cut_requester_arn_still_matches_its_principal():
    from bastion_orchestrator.usecases.self_approval import cut_match as _cut_match

    user = f"arn:aws:iam::{ACCOUNT}:user/" + "p/" * 120 + "bob"
    assert _cut_match("…" + user[-200:], frozenset({user}))
    assert not _cut_match(user[-200:], frozenset({user}))  # no marker: exact match only


def test_a_role_with_a_path_cannot_approve_its_own_session(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    # ADMIN_ROLE has a path (role/platform/PlatformAdmin); its sessions do not
    # and the mapping spells the role's name in another case
    with_identities(monkeypatch, {"UAPPROVER1": [ADMIN_ROLE.replace("Admin", "ADMIN")]})
    asked = iam(lambda_context, {"action": "create", "reason": "INC-3"}, ADMIN_ARN, ADMIN_ID)
    refused = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER1"
    )
    assert refused["error"] == "FORBIDDEN" and aws.running() == []


def test_an_approver_who_signs_as_a_federated_user_can_be_mapped(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    federated = f"arn:aws:sts::{ACCOUNT}:federated-user/bob"
    with_identities(monkeypatch, {"UAPPROVER1": [federated]})
    asked = iam(
        lambda_context, {"action": "create", "reason": "INC-3"}, federated, f"{ACCOUNT}:bob"
    )
    assert asked.get("pending_approval") is True, asked
    refused = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER1"
    )
    assert refused["error"] == "FORBIDDEN" and aws.running() == []
