"""Powertools' parameter and secret providers use our clients: one boto3 session and one client
per service in a container, our retries and timeouts, and every call counted."""

from __future__ import annotations

import pytest

import handler
from tests.support import roots
from tests.support.api_calls import counting
from tests.support.roots import clients

pytestmark = pytest.mark.integration


def test_a_create_without_ami_id_reads_the_image_parameter_through_our_ssm_client(
    aws, clock, lambda_context, monkeypatch
):
    # Given a deployment without AMI_ID: the image comes from the public SSM parameter
    monkeypatch.delenv("AMI_ID", raising=False)
    roots.fresh()
    # When a bastion is created
    with counting() as calls:
        created = handler.lambda_handler(
            {"action": "create", "user_id": "U1", "username": "a"}, lambda_context
        )
    # Then the parameter read is one of our calls, on our SSM client
    assert created["success"] is True
    assert calls == {
        "ssm.GetParameter": 1,
        "ec2.DescribeInstances": 1,
        "ec2.RunInstances": 1,
        "scheduler.CreateSchedule": 2,
    }
    # (counted on our clients' events: the provider was handed our SSM client)
    # And a second create in the same container reads it from the provider's cache
    with counting() as calls:
        handler.lambda_handler(
            {"action": "create", "user_id": "U2", "username": "b"}, lambda_context
        )
    assert "ssm.GetParameter" not in calls


def test_the_slack_secret_is_read_through_our_secrets_manager_client(aws, slack):
    with counting() as calls:
        secret = roots.current().slack_secret()
    assert secret.bot_token == "xoxb-test-token"
    assert calls == {"secretsmanager.GetSecretValue": 1}
    # (counted on our clients' events: the provider was handed our Secrets Manager client)


def test_one_client_per_service(aws, slack, clock, lambda_context, monkeypatch):
    monkeypatch.delenv("AMI_ID", raising=False)
    roots.fresh()
    handler.lambda_handler({"action": "create", "user_id": "U1", "username": "a"}, lambda_context)
    roots.current().slack_secret()
    made = [c.meta.service_model.service_name for c in clients.created()]
    assert sorted(made) == sorted(set(made))
    assert {"ec2", "scheduler", "ssm", "secretsmanager"} <= set(made)
