"""Attacker's review of the issue-17 fixes: grants and extension approvals, break-glass
extends, readiness events, the IAM principal mapping, escaping, continuation scopes and Slack
pins, tried through every door.

A test of an attack the system resists passes. A hole found is written as the secure
behaviour; the five holes it found (an asker approving their own extension, an approval
shortening a bastion, break-glass extends outside protected deployments, federated approvers
that could not be mapped) are closed, and their tests pass.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

import auto_terminate
import handler
from tests.integration.conftest import CHANNEL
from tests.integration.test_approval_grants import (
    approved_bastion,
    break_glass_bastion,
    expiry,
    extend,
    schedules,
    with_identities,
)
from tests.integration.test_approvals import SECRET, press, run_queued, slack_post
from tests.support.iam_requests import (
    ACCOUNT,
    ADMIN_ARN,
    ADMIN_ID,
    ADMIN_ROLE,
    BOB_ARN,
    BOB_ID,
    iam_event,
)
from tests.support.slack_requests import button, function_url_event, slash_command

pytestmark = pytest.mark.integration

OWNER = "U12345"


def iam(ctx: Any, body: dict[str, Any], arn: str, user_id: str) -> dict[str, Any]:
    response = handler.lambda_handler(iam_event(body, user_arn=arn, user_id=user_id), ctx)
    answer: dict[str, Any] = json.loads(response["body"])
    return answer


def reset_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    from tests.support import roots

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    roots.fresh()


def approval_posts(slack: Any) -> list[Any]:
    return [m for m in slack.to(CHANNEL) if "Approval needed" in m.text]


# ======================================================================= extensions
def test_extend_twice_is_one_open_request_and_changes_nothing(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before, posted = expiry(aws, iid), len(approval_posts(approvals))

    first = extend(lambda_context, iid)
    second = extend(lambda_context.next(), iid)

    assert first["approval_id"] == second["approval_id"]
    assert len(approval_posts(approvals)) == posted + 1
    assert expiry(aws, iid) == before


def test_a_non_owner_cannot_ask_to_extend_someone_elses_bastion(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    posted = len(approval_posts(approvals))

    direct = handler.lambda_handler(
        {"action": "extend", "instance_id": iid, "user_id": "U99999"}, lambda_context
    )
    through_iam = iam(lambda_context, {"action": "extend", "instance_id": iid}, BOB_ARN, BOB_ID)
    slack_post(lambda_context, clock, button("bastion_extend", iid, user_id="U99999"))
    [by_button] = run_queued(lambda_context, lambda_async)

    for refused in (direct, through_iam, by_button):
        assert refused["error"] == "FORBIDDEN", refused
    assert len(approval_posts(approvals)) == posted


def test_an_approver_who_is_not_the_owner_gets_no_grant_on_someone_elses_bastion(
    aws, approvals, clock, lambda_context, lambda_async
):
    # grants=True is only worth something on a bastion the approver may act on
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    refused = handler.lambda_handler(
        {"action": "extend", "instance_id": iid, "user_id": "UAPPROVER2"}, lambda_context
    )
    assert refused["error"] == "FORBIDDEN" and expiry(aws, iid) == before


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


def test_an_extension_approved_after_the_bastion_was_destroyed_revives_nothing(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    asked = extend(lambda_context, iid)
    handler.lambda_handler(
        {"action": "destroy", "instance_id": iid, "user_id": OWNER}, lambda_context
    )
    tags, left = aws.tags(iid), schedules(aws)

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert result["success"] is False
    assert aws.state(iid) in ("shutting-down", "terminated") and aws.tags(iid) == tags
    assert schedules(aws) == left


def test_an_extension_approved_after_the_bastion_expired_does_not_revive_it(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async, hours="1h")
    # Asked 10 min before the expiry; approved (the request still open, for 30 min) 15 min
    # later, after the expiry passed and before the termination ran
    clock.advance(minutes=50)
    asked = extend(lambda_context, iid)
    before = aws.tags(iid)
    clock.advance(minutes=15)
    assert clock() > datetime.fromisoformat(before["ExpiresAt"])

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    # the request was still open: it is the expired bastion that refuses
    assert result["success"] is False and "expired at" in result["message"]
    assert aws.tags(iid) == before


def test_a_second_press_after_the_owner_asked_again_does_not_extend_twice(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    first = extend(lambda_context, iid)
    press(
        lambda_context, clock, lambda_async, "bastion_approve", first["approval_id"], "UAPPROVER2"
    )
    second = extend(lambda_context.next(), iid)  # past the new grant: a new request
    assert second["approval_id"] != first["approval_id"]

    again = press(
        lambda_context, clock, lambda_async, "bastion_approve", first["approval_id"], "UAPPROVER1"
    )

    assert "already approved" in again["message"]
    assert expiry(aws, iid) == before + timedelta(hours=2)


def test_an_extension_request_without_its_kind_launches_nothing(
    aws, approvals, clock, lambda_context, lambda_async, idempotency_table
):
    # A stored item that lost "kind" reads as a create: its payload is no create, so it fails
    iid = approved_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    asked = extend(lambda_context, iid)
    items = idempotency_table.scan(TableName="docustack-dev-idempotency")["Items"]
    [item] = [i for i in items if i.get("kind", {}).get("S") == "extend"]
    del item["kind"]
    idempotency_table.put_item(TableName="docustack-dev-idempotency", Item=item)

    result = press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert result.get("success") is not True
    assert aws.running() == [iid] and expiry(aws, iid) == before


def test_an_approved_extension_never_shortens_a_bastion(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    asked = extend(lambda_context, iid)  # until: expiry + 2 h
    for n in range(3):  # three new break-glasses of 1 h each: expiry + 3 h
        extend(lambda_context.next(), iid, break_glass=True, reason=f"INC-911 still down {n}")
    longer = expiry(aws, iid)

    press(
        lambda_context, clock, lambda_async, "bastion_approve", asked["approval_id"], "UAPPROVER2"
    )

    assert expiry(aws, iid) >= longer


# ======================================================================= break-glass extend
@pytest.mark.parametrize(
    "text",
    [
        "bastion extend dev --break-glass",
        "bastion extend --break-glass dev",
        "bastion extend dev --break-glass    ",
        "bastion extend dev --BREAK-GLASS --break-glass",
    ],
)
def test_a_slack_break_glass_extend_needs_a_reason(
    aws, approvals, clock, lambda_context, lambda_async, text
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before, announced = expiry(aws, iid), len(approvals.to(CHANNEL))

    slack_post(lambda_context, clock, slash_command(text, user_id=OWNER))
    results = run_queued(lambda_context, lambda_async)

    assert all(r.get("success") is not True for r in results)
    assert expiry(aws, iid) == before and len(approvals.to(CHANNEL)) == announced


@pytest.mark.parametrize("reason", ["   ", "\t", "INC\n1", "\u200b"])
def test_a_direct_break_glass_extend_with_a_blank_or_unprintable_reason_is_refused(
    aws, approvals, clock, lambda_context, lambda_async, reason
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before = expiry(aws, iid)
    refused = extend(lambda_context, iid, break_glass=True, reason=reason)
    assert refused["error"] == "VALIDATION_ERROR" and expiry(aws, iid) == before


def test_a_break_glass_extend_of_someone_elses_bastion_is_forbidden_and_not_announced(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before, announced = expiry(aws, iid), len(approvals.to(CHANNEL))
    refused = handler.lambda_handler(
        {
            "action": "extend",
            "instance_id": iid,
            "user_id": "U99999",
            "break_glass": True,
            "reason": "INC-1",
        },
        lambda_context,
    )
    assert refused["error"] == "FORBIDDEN" and expiry(aws, iid) == before
    assert len(approvals.to(CHANNEL)) == announced


def test_a_redelivered_break_glass_extend_extends_and_announces_once(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    before, announced = expiry(aws, iid), len(approvals.to(CHANNEL))
    slack_post(
        lambda_context,
        clock,
        slash_command("bastion extend dev --break-glass INC-2", user_id=OWNER),
    )
    [job] = lambda_async
    run_queued(lambda_context, lambda_async)
    handler.lambda_handler(job, lambda_context)  # Lambda's async retry

    assert expiry(aws, iid) == before + timedelta(hours=1)
    assert len(approvals.to(CHANNEL)) == announced + 1


def test_a_break_glass_extend_reason_is_shown_as_text(
    aws, approvals, clock, lambda_context, lambda_async
):
    iid = break_glass_bastion(lambda_context, clock, lambda_async)
    announced = len(approvals.to(CHANNEL))
    hostile = "<!here> <!channel> <#C0SECRET> <!subteam^S0ADMINS> <https://evil.example|INC>"
    extend(lambda_context, iid, break_glass=True, reason=hostile)

    [loud] = approvals.to(CHANNEL)[announced:]
    shown = json.dumps(loud.body)
    for live in ("<!here>", "<!channel>", "<#C0SECRET>", "<!subteam", "<https://evil"):
        assert live not in shown
    assert "&lt;!here&gt;" in loud.text


def test_a_break_glass_extend_in_an_unprotected_deployment_does_not_lock_the_owner_out(
    aws, slack, idempotency_table, clock, lambda_context
):
    created = handler.lambda_handler(
        {"action": "create", "user_id": OWNER, "username": "john", "hours": 1}, lambda_context
    )
    iid = created["instance_id"]
    extend(lambda_context, iid, break_glass=True, reason="INC-5")

    later = extend(lambda_context.next(), iid)

    assert later.get("success") is True and "pending_approval" not in later


# ======================================================================= readiness events
def foreign_instance(environment: str | None) -> str:
    ec2: Any = boto3.client("ec2", region_name="us-east-1")
    tags: list[dict[str, str]] = [{"Key": "Name", "Value": "not-ours"}]
    if environment is not None:
        tags += [
            {"Key": "Project", "Value": "docustack"},
            {"Key": "Environment", "Value": environment},
            {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
            {"Key": "RequestedByUserId", "Value": OWNER},
            {"Key": "CreatedAt", "Value": "2026-01-01T00:00:00+00:00"},
        ]
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    run = ec2.run_instances(
        ImageId=images[0]["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(run["Instances"][0]["InstanceId"])


@pytest.mark.parametrize("environment", [None, "prod"])
def test_a_ready_event_for_a_foreign_instance_tags_and_tells_nothing(
    aws, slack, clock, lambda_context, environment
):
    iid = foreign_instance(environment)
    before, told = aws.tags(iid), len(slack.messages)
    for attempt in (1, 3, 10):
        result = auto_terminate.lambda_handler(
            {"action": "ready", "instance_id": iid, "attempt": attempt}, lambda_context
        )
        assert result["outcome"] == "not_ours_or_gone"
    assert aws.tags(iid) == before and len(slack.messages) == told


@pytest.mark.parametrize(
    "event",
    [
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 0},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 11},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": "1"},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": True},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 1.0},
        {"action": "ready", "instance_id": "i-0123456789abcdef0"},
        {"action": "ready", "instance_id": "i-0123", "attempt": 1},
        {"action": "ready", "instance_id": "i-0123456789abcdef0", "attempt": 1, "user_id": "U1"},
        {"action": "READY", "instance_id": "i-0123456789abcdef0", "attempt": 1},
    ],
)
def test_a_malformed_ready_event_is_a_validation_error(aws, lambda_context, event):
    result = auto_terminate.lambda_handler(event, lambda_context)
    assert result["error"] == "VALIDATION_ERROR"


def test_a_ready_event_sent_to_the_orchestrator_does_nothing(aws, slack, clock, lambda_context):
    created = handler.lambda_handler(
        {"action": "create", "user_id": OWNER, "username": "john"}, lambda_context
    )
    iid = created["instance_id"]
    result = handler.lambda_handler(
        {"action": "ready", "instance_id": iid, "attempt": 1}, lambda_context
    )
    assert result["error"] == "VALIDATION_ERROR" and "ReadyNotified" not in aws.tags(iid)


def test_a_ready_event_for_a_destroyed_bastion_tells_nothing(aws, slack, clock, lambda_context):
    created = handler.lambda_handler(
        {"action": "create", "user_id": OWNER, "username": "john"}, lambda_context
    )
    iid = created["instance_id"]
    handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)
    told = len(slack.messages)
    result = auto_terminate.lambda_handler(
        {"action": "ready", "instance_id": iid, "attempt": 3}, lambda_context
    )
    assert result["outcome"] == "not_ours_or_gone" and len(slack.messages) == told


# ======================================================================= escaping
def test_a_hostile_reason_is_text_in_the_extension_request(
    aws, approvals, clock, lambda_context, lambda_async, monkeypatch
):
    hostile = "<!channel> <@UEVIL0001> <https://evil.example|INC-7>"
    # pending: an IAM create in a protected environment; UAPPROVER2 signs as nobody
    created = iam(lambda_context, {"action": "create", "reason": hostile}, BOB_ARN, BOB_ID)
    with_identities(monkeypatch, {"UAPPROVER2": []})
    launched = press(
        lambda_context, clock, lambda_async, "bastion_approve", created["approval_id"], "UAPPROVER2"
    )
    iid = launched["instance_id"]
    iam(lambda_context, {"action": "extend", "instance_id": iid}, BOB_ARN, BOB_ID)

    posted = approval_posts(approvals)[-1]
    shown = json.dumps(posted.body)
    assert "extend bastion" in posted.all_text()
    for live in ("<!channel>", "<@UEVIL0001>", "<https://evil"):
        assert live not in shown


# ======================================================================= IAM principals
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


# ======================================================================= continuation scope
def test_a_continuation_sealed_by_the_slack_function_does_not_run_on_the_orchestrator(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    from bastion_orchestrator.doors.slack.request import SlackRequest, form_of
    from bastion_orchestrator.doors.slack.sealing import Scope, seal

    form = form_of(slash_command("bastion create"))
    job = SlackRequest.read(form, "a" * 32, "dev").queued()
    envelope = seal(job, SECRET, clock(), scope=Scope("docustack", "dev", "docustack-dev-slack"))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "docustack-dev-orchestrator")

    refused = handler.lambda_handler(envelope, lambda_context)

    assert refused["error"] == "FORBIDDEN" and aws.running() == []
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "docustack-dev-slack")
    ran = handler.lambda_handler(envelope, lambda_context)  # its own function runs it
    assert ran["success"] is True and aws.running() == [ran["instance_id"]]


def test_the_slack_function_queues_its_continuation_to_itself(
    aws, slack, clock, lambda_context, monkeypatch
):
    from tests.support import roots

    sent: list[str] = []
    monkeypatch.setattr(roots.current(), "enqueue", lambda arn, payload: sent.append(arn))
    body = slash_command("bastion create")
    event = function_url_event(body, secret=SECRET, timestamp=int(clock().timestamp()))
    response = handler.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert sent == [lambda_context.invoked_function_arn]


# ======================================================================= Slack pins
PINNED = {"SLACK_APP_ID": "A123456", "SLACK_TEAM_ID": "T0001"}


def signed(clock: Any, body: str) -> dict[str, Any]:
    return function_url_event(body, secret=SECRET, timestamp=int(clock().timestamp()))


def interaction(**fields: Any) -> str:
    """A button press; a field given as ``...`` is left out."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": OWNER, "username": "john", "team_id": "T0001"},
        "api_app_id": "A123456",
        "team": {"id": "T0001"},
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [{"action_id": "bastion_extend", "value": "i-0123456789abcdef0"}],
    }
    payload.update(fields)
    return urlencode({"payload": json.dumps({k: v for k, v in payload.items() if v is not ...})})


@pytest.mark.parametrize(
    "body",
    [
        interaction(team=None),  # an org-wide install: only user.team_id names the workspace
        interaction(team=...),
        interaction(api_app_id=...),
        interaction(team={"id": ["T0001"]}),
        interaction(team={"id": {"id": "T0001"}}),
        interaction(api_app_id=["A123456"]),
        interaction(team="T0001"),
        urlencode({"payload": "[1]"}),
        urlencode({"payload": "{"}),
        urlencode({"payload": "[" * 5000 + "]" * 5000}),
        slash_command("bastion create", team_id="T0002"),
        slash_command("bastion create", api_app_id="A999999"),
        # the first of duplicated keys is the one read everywhere
        slash_command("bastion create", team_id="T0002") + "&team_id=T0001",
        "command=%2Finfra&text=bastion+create&user_id=U12345&user_name=john",
    ],
)
def test_a_signed_request_outside_the_pins_is_401_and_does_nothing(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, body
):
    reset_with(monkeypatch, **PINNED)
    response = handler.lambda_handler(signed(clock, body), lambda_context)
    assert response["statusCode"] == 401
    assert lambda_async == [] and aws.running() == []


def test_a_pinned_request_is_answered(aws, slack, clock, lambda_context, lambda_async, monkeypatch):
    reset_with(monkeypatch, **PINNED)
    response = handler.lambda_handler(
        signed(clock, slash_command("bastion create")), lambda_context
    )
    assert response["statusCode"] == 200 and len(lambda_async) == 1
