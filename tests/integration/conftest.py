"""A deployment's worth of AWS in moto: VPC, two private subnets, security groups, an
instance profile, a schedule group, and the contract's environment pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import SCHEDULER_ROLE, TERMINATOR_ARN, FakeClock


@dataclass
class Deployment:
    vpc_id: str
    subnet_ids: list[str]
    bastion_sg: str
    rds_sg: str
    profile: str
    group: str
    env: dict[str, str]
    ec2: Any
    scheduler: Any

    def instance(self, instance_id: str) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]  # type: ignore[no-any-return]

    def tags(self, instance_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.instance(instance_id).get("Tags", [])}

    def state(self, instance_id: str) -> str:
        return self.instance(instance_id)["State"]["Name"]  # type: ignore[no-any-return]

    def schedules(self) -> dict[str, dict[str, Any]]:
        names = [
            s["Name"]
            for page in self.scheduler.get_paginator("list_schedules").paginate(
                GroupName=self.group
            )
            for s in page["Schedules"]
        ]
        return {n: self.scheduler.get_schedule(Name=n, GroupName=self.group) for n in names}

    def running(self) -> list[str]:
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )
        return [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[Deployment]:
    from tests.support import roots

    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=az)["Subnet"][
                "SubnetId"
            ]
            for n, az in ((1, "us-east-1a"), (2, "us-east-1b"))
        ]
        bastion_sg = ec2.create_security_group(
            GroupName="bastion", Description="bastion", VpcId=vpc
        )["GroupId"]
        rds_sg = ec2.create_security_group(GroupName="rds", Description="rds", VpcId=vpc)["GroupId"]
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_instance_profile(InstanceProfileName="docustack-dev-bastion")
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        scheduler.create_schedule_group(Name="docustack-dev-bastions")
        env = {
            "PROJECT_NAME": "docustack",
            "ENVIRONMENT": "dev",
            "IAM_INSTANCE_PROFILE": "docustack-dev-bastion",
            "AUTO_TERMINATE_LAMBDA_ARN": TERMINATOR_ARN,
            "SCHEDULER_ROLE_ARN": SCHEDULER_ROLE,
            "SCHEDULE_GROUP": "docustack-dev-bastions",
            "SUBNET_ID": subnets[0],
            "SUBNET_IDS": ",".join(subnets),
            "BASTION_SECURITY_GROUP_ID": bastion_sg,
            "RDS_ENDPOINT": "docustack-dev.cluster-abc123.us-east-1.rds.amazonaws.com",
            "ADMIN_USER_IDS": "UADMIN",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        roots.fresh()
        yield Deployment(
            vpc,
            subnets,
            bastion_sg,
            rds_sg,
            "docustack-dev-bastion",
            "docustack-dev-bastions",
            env,
            ec2,
            scheduler,
        )
        roots.fresh()


@pytest.fixture
def slack(aws: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Slack secret in Secrets Manager, pointing at a local Slack stand-in."""
    import json

    from bastion_orchestrator.adapters.slack import notifier
    from tests.support import roots
    from tests.support.slack_standin import SlackStandIn

    standin = SlackStandIn().start()
    post = notifier._post_webhook
    # Slack's hooks host is routed to the stand-in only at the socket's edge: every check on
    # the URL (https, hooks.slack.com) has run on the real address by then.
    monkeypatch.setattr(
        notifier, "_post_webhook", lambda url, what, **m: post(standin.local(url), what, **m)
    )
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(
        Name="docustack/dev/slack",
        SecretString=json.dumps(
            {
                "bot_token": "xoxb-test-token",
                "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5",
                "webhook_url": standin.webhook_url,
            }
        ),
    )["ARN"]
    monkeypatch.setenv("SLACK_SECRET_ARN", arn)
    monkeypatch.setenv("SLACK_CHANNEL", "C0PLATFORM")
    monkeypatch.setenv("SLACK_API_URL", standin.api_url)
    roots.fresh()
    yield standin
    standin.stop()


@pytest.fixture
def lambda_async(
    aws: Deployment, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, Any]]]:
    """Captures the door's async self-invocations. moto's Lambda cannot run this function, so
    the Invoke call is answered here (202, as Lambda queues it) and the test delivers the
    payload to the handler as Lambda would."""
    import json

    from botocore.awsrequest import AWSResponse

    from bastion_orchestrator.adapters.aws.clients import Clients

    queued: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        assert params["InvocationType"] == "Event"
        queued.append(json.loads(params["Payload"]))

    def accepted(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://lambda", 202, {}, None), {"StatusCode": 202}  # type: ignore[arg-type]

    original = Clients.client
    armed: set[int] = set()

    def client(self: Clients, service: str) -> Any:  # every root's Lambda client
        made = original(self, service)
        if service == "lambda" and id(made) not in armed:
            made.meta.events.register("provide-client-params.lambda.Invoke", capture)
            made.meta.events.register("before-call.lambda.Invoke", accepted)
            armed.add(id(made))
        return made

    monkeypatch.setattr(Clients, "client", client)
    yield queued


@pytest.fixture
def idempotency_table(aws: Deployment, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's idempotency table (hash key ``id``), configured as IDEMPOTENCY_TABLE."""
    from tests.support import roots

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="docustack-dev-idempotency",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "docustack-dev-idempotency")
    roots.fresh()
    return dynamodb


# A protected environment (APPROVAL_REQUIRED): its approvers and their channel.
CHANNEL = "C0APPROVALS"
APPROVERS = ("UAPPROVER1", "UAPPROVER2")


@pytest.fixture
def approvals(
    aws: Deployment, slack: Any, idempotency_table: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    from tests.support import roots

    monkeypatch.setenv("APPROVAL_REQUIRED", "true")
    monkeypatch.setenv("APPROVER_USER_IDS", ",".join(APPROVERS))
    monkeypatch.setenv("APPROVAL_CHANNEL", CHANNEL)
    monkeypatch.setenv("APPROVAL_TIMEOUT_MINUTES", "30")
    monkeypatch.setenv("BREAK_GLASS_HOURS", "1")
    roots.fresh()
    return slack
