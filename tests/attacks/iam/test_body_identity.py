"""The IAM door's caller is who AWS verified (``requestContext.authorizer.iam``), never what the
body claims: not another user id, not another username; and every tag it writes fits EC2's
limit, however long the verified ARN."""

from __future__ import annotations

import pytest

from tests.support.doors import via_iam
from tests.support.iam_requests import ACCOUNT, ALICE_ARN, ALICE_ID

pytestmark = pytest.mark.integration


def test_the_iam_door_tags_the_signed_caller_not_what_the_body_claims(aws, clock, lambda_context):
    # When Alice creates through the IAM door, naming nobody
    status, body = via_iam(lambda_context, {"action": "create", "reason": "INC-4711"})
    # Then the bastion is hers, as AWS verified her: the user policy's ${aws:userid} matches
    assert status == 200 and body["success"] is True
    tags = aws.tags(body["instance_id"])
    assert tags["RequestedByUserId"] == ALICE_ID
    assert tags["RequestedByArn"] == ALICE_ARN
    assert tags["RequestedBy"] == "alice"
    assert tags["Reason"] == "INC-4711"


def test_an_iam_caller_cannot_speak_for_someone_else(aws, clock, lambda_context):
    # When Alice names another user in the body
    status, body = via_iam(
        lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"}
    )
    # Then it is refused with 403 and nothing is launched
    assert (status, body["error"]) == (403, "FORBIDDEN")
    assert aws.running() == []


def test_an_iam_caller_cannot_choose_the_username_it_is_recorded_under(aws, clock, lambda_context):
    # HOLE: a body `username` overrides the AWS-verified one (`request.username or actor...`).
    # Alice tags her bastion RequestedBy=carol, Name=...-bastion-carol; CONTRACT (IAM door) says
    # RequestedBy is taken from the session or user name.
    # When Alice creates, claiming to be carol in the body
    status, body = via_iam(lambda_context, {"action": "create", "username": "carol"})
    # Then either it is refused, or the bastion is recorded under the name AWS verified
    if status == 200:
        tags = aws.tags(body["instance_id"])
        assert tags["RequestedBy"] == "alice", tags
        assert tags["Name"].endswith("-bastion-alice"), tags
    else:
        assert aws.running() == []


EC2_TAG_VALUE_MAX = 256


def test_every_tag_the_iam_door_writes_fits_ec2s_limit(aws, clock, lambda_context):
    # HOLE: userArn (<= 2048 chars) goes unclamped into RequestedByArn; EC2 caps tags at 256.
    # An IAM user with a long path (paths may be 512 characters) can never create and gets a 500
    # CONFIGURATION_ERROR blaming the deployment (moto does not enforce the limit; EC2 does).
    path = "/".join(["team"] * 60)
    arn = f"arn:aws:iam::{ACCOUNT}:user/{path}/dave"
    status, body = via_iam(
        lambda_context, {"action": "create"}, user_arn=arn, user_id="AIDAEXAMPLEUSER00009"
    )
    assert status == 200
    too_long = {k: len(v) for k, v in aws.tags(body["instance_id"]).items() if len(v) > 256}
    assert too_long == {}, too_long
