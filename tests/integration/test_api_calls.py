"""AWS API calls per action stay at the floor: create 4, status 2, extend 4, destroy 4."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

import handler
from tests.support import roots
from tests.support.api_calls import counting
from tests.support.roots import clients

pytestmark = pytest.mark.integration


@pytest.fixture
def warm(aws, clock, monkeypatch):
    monkeypatch.setenv("AMI_ID", "ami-0123456789abcdef0")  # the default AMI is cached per container
    roots.fresh()


def test_calls_per_action(warm, aws, clock, lambda_context):
    with counting() as calls:
        created = handler.lambda_handler(
            {"action": "create", "user_id": "U1", "username": "a"}, lambda_context
        )
    iid = created["instance_id"]
    assert calls == {
        "ec2.DescribeInstances": 1,
        "ec2.RunInstances": 1,
        "scheduler.CreateSchedule": 2,
    }

    # moto has no ssm:DescribeInstanceInformation: a Stubber answers on the SSM client only.
    with counting() as calls, Stubber(clients.ssm()) as stub:
        stub.add_response("describe_instance_information", {"InstanceInformationList": []})
        handler.lambda_handler({"action": "status", "instance_id": iid}, lambda_context)
        stub.assert_no_pending_responses()  # exactly one SSM ping was made
    # The Stubber answers before our counter sees the call: 1 EC2 call + the 1 SSM ping.
    assert calls == {"ec2.DescribeInstances": 1}

    with counting() as calls:
        handler.lambda_handler({"action": "extend", "instance_id": iid}, lambda_context)
    assert calls == {"ec2.DescribeInstances": 1, "ec2.CreateTags": 1, "scheduler.UpdateSchedule": 2}

    with counting() as calls:
        handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)
    assert calls == {
        "ec2.DescribeInstances": 1,
        "ec2.TerminateInstances": 1,
        "scheduler.DeleteSchedule": 2,
    }


def test_existing_bastion_costs_one_call(warm, aws, clock, lambda_context):
    payload = {"action": "create", "user_id": "U1", "username": "a"}
    handler.lambda_handler(payload, lambda_context)
    with counting() as calls:
        assert handler.lambda_handler(payload, lambda_context)["existing"] is True
    assert calls == {"ec2.DescribeInstances": 1}


def test_calls_with_the_per_user_slot_table(warm, aws, clock, lambda_context, idempotency_table):
    with counting() as calls:
        iid = handler.lambda_handler(
            {"action": "create", "user_id": "U1", "username": "a"}, lambda_context
        )["instance_id"]
    assert calls == {
        "ec2.DescribeInstances": 1,
        "dynamodb.PutItem": 1,
        "ec2.RunInstances": 1,
        "dynamodb.UpdateItem": 1,
        "scheduler.CreateSchedule": 2,
    }
    with counting() as calls:
        handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)
    assert calls == {
        "ec2.DescribeInstances": 1,
        "ec2.TerminateInstances": 1,
        "scheduler.DeleteSchedule": 2,
        "dynamodb.DeleteItem": 1,
    }
