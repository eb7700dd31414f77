"""Another deployment's bastions and schedules, in the same account and schedule group: no verb on
any door finds them, and the sweep leaves a look-alike's (``docustack``/``dev-eu`` beside
``docustack-dev``/``eu``) alone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import auto_terminate
from tests.support.doors import deliver, direct, reset_with, via_iam, via_slack
from tests.support.iam_requests import ACCOUNT, ADMIN_ARN, ADMIN_ID, ADMIN_ROLE
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


def test_another_deployments_bastion_is_not_found_on_every_verb_and_door(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    # Given a bastion of the same project's prod deployment, owned by the same Slack user
    tags = [
        {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
        {"Key": "Project", "Value": "docustack"},
        {"Key": "Environment", "Value": "prod"},
        {"Key": "RequestedByUserId", "Value": "U12345"},
        {"Key": "CreatedAt", "Value": clock().isoformat()},
        {"Key": "ExpiresAt", "Value": (clock() + timedelta(hours=1)).isoformat()},
    ]
    prod = aws.ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    reset_with(monkeypatch, ADMIN_PRINCIPAL_ARNS=ADMIN_ROLE)
    # When its owner, a Slack admin, an IAM admin and an operator try every verb on it
    from tests.support.slack_requests import button

    for verb in ("status", "extend", "destroy"):
        assert direct(lambda_context, {"action": verb, "instance_id": prod})["error"] == "NOT_FOUND"
        got = via_iam(
            lambda_context,
            {"action": verb, "instance_id": prod},
            user_arn=ADMIN_ARN,
            user_id=ADMIN_ID,
        )
        assert got[0] == 404
    for action_id in ("bastion_extend", "bastion_destroy"):
        for who in ("U12345", "UADMIN"):
            via_slack(lambda_context, clock, button(action_id, prod, user_id=who))
            [result] = deliver(lambda_context, lambda_async)
            assert result["error"] == "NOT_FOUND"
    # And the owner's own dev-side commands do not find it either
    _, status = via_slack(lambda_context, clock, slash_command("bastion status"))
    assert prod not in json.dumps(status)
    # Then it is untouched
    assert aws.state(prod) == "running"
    assert aws.tags(prod)["ExpiresAt"] == tags[-1]["Value"]


def test_the_sweep_leaves_a_look_alike_deployments_schedules_alone(
    aws, clock, lambda_context, monkeypatch
):
    # HOLE: "<project>-<env>-" is ambiguous: our sweep deletes a look-alike's schedules.
    # "docustack"/"dev-eu" and "docustack-dev"/"eu" share "docustack-dev-eu-"; aws/scheduler.py
    # promises isolation "even in a shared group".
    # Given this deployment is docustack/dev-eu
    reset_with(monkeypatch, ENVIRONMENT="dev-eu")
    # And deployment docustack-dev/eu has a live bastion with its termination schedule
    tags = [
        {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
        {"Key": "Project", "Value": "docustack-dev"},
        {"Key": "Environment", "Value": "eu"},
        {"Key": "ExpiresAt", "Value": (clock() + timedelta(hours=10)).isoformat()},
    ]
    theirs = aws.ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    name = f"docustack-dev-eu-{theirs}-termination"
    aws.scheduler.create_schedule(
        Name=name,
        GroupName=aws.group,
        ScheduleExpression="at(2030-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:theirs",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/theirs",
        },
    )
    # When our sweep runs (past the orphan grace period)
    clock.advance(minutes=30)
    result = auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
    # Then their schedule is still there
    assert name in aws.schedules(), result
    assert aws.state(theirs) == "running"
