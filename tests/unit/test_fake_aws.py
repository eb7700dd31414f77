"""The bench's EC2/Scheduler stand-in answers real boto3 clients the way AWS does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tools.bench.fake_aws import FakeAws, instance_ids

pytestmark = pytest.mark.unit

SCOPE = {"ManagedBy": "bastion-orchestrator", "Project": "docustack", "Environment": "dev"}
FILTERS = [
    {"Name": "tag:ManagedBy", "Values": ["bastion-orchestrator"]},
    {"Name": "tag:Project", "Values": ["docustack"]},
    {"Name": "tag:Environment", "Values": ["dev"]},
    {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
]
CREATED = datetime(2025, 12, 18, 9, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeAws]:
    with FakeAws() as server:
        yield server


def client(fake: FakeAws, service: str):
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=fake.url,
        region_name="us-east-1",
        aws_access_key_id="fake",
        aws_secret_access_key="fake",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def test_describe_pages_filters_and_parses(fake: FakeAws) -> None:
    ids = list(instance_ids(23))
    for n, iid in enumerate(ids):
        tags = {**SCOPE, "RequestedByUserId": f"U{n}", "Note": "a <b> & c"}
        if n % 5 == 0:
            tags["Environment"] = "prod"  # another deployment: filtered out
        fake.add_instance(iid, tags, launch_time=CREATED, private_ip=f"10.0.0.{n}")
    fake.instances[ids[1]].state = "terminated"
    pages = list(
        client(fake, "ec2")
        .get_paginator("describe_instances")
        .paginate(Filters=FILTERS, PaginationConfig={"PageSize": 5})
    )
    found = [i for p in pages for r in p["Reservations"] for i in r["Instances"]]
    expected = [iid for n, iid in enumerate(ids) if n % 5 and n != 1]
    assert [i["InstanceId"] for i in found] == expected
    assert [len(p["Reservations"]) for p in pages] == [5, 5, 5, 2]
    first = found[0]
    assert first["State"] == {"Code": 16, "Name": "running"}
    assert first["LaunchTime"] == CREATED
    assert first["PrivateIpAddress"] == "10.0.0.2"
    assert {t["Key"]: t["Value"] for t in first["Tags"]}["Note"] == "a <b> & c"
    assert fake.requests["ec2.DescribeInstances"] == 4


def test_describe_by_id_and_refusals(fake: FakeAws) -> None:
    ec2 = client(fake, "ec2")
    fake.add_instance("i-0123456789abcdef0", SCOPE)
    answer = ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert answer["Reservations"][0]["Instances"][0]["InstanceId"] == "i-0123456789abcdef0"
    with pytest.raises(ClientError) as missing:
        ec2.describe_instances(InstanceIds=["i-00000000000000000"])
    assert missing.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as bad_filter:
        ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": ["vpc-1"]}])
    assert bad_filter.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as too_many:
        ec2.describe_instances(MaxResults=2000)
    assert too_many.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as unknown:
        ec2.describe_vpcs()
    assert unknown.value.response["Error"]["Code"] == "InvalidAction"


def test_terminate_reports_previous_and_current_state(fake: FakeAws) -> None:
    ec2 = client(fake, "ec2")
    a, b = instance_ids(2)
    fake.add_instance(a, SCOPE)
    fake.add_instance(b, SCOPE, state="terminated")
    answer = ec2.terminate_instances(InstanceIds=[a, b])["TerminatingInstances"]
    assert [
        (i["InstanceId"], i["PreviousState"]["Name"], i["CurrentState"]["Name"]) for i in answer
    ] == [
        (a, "running", "shutting-down"),
        (b, "terminated", "terminated"),
    ]
    with pytest.raises(ClientError) as missing:  # all or nothing
        ec2.terminate_instances(InstanceIds=[a, "i-0fffffffffffffff0"])
    assert missing.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_list_schedules_pages_while_deleting(fake: FakeAws) -> None:
    scheduler = client(fake, "scheduler")
    names = [f"docustack-dev-{iid}-{kind}" for iid in instance_ids(7) for kind in ("a", "b")]
    for name in names:
        fake.add_schedule(name, "bastions", created=CREATED)
    fake.add_schedule("docustack-dev-sweep", "bastions", created=CREATED)
    fake.add_schedule("docustack-prod-x", "bastions", created=CREATED)
    fake.add_schedule("docustack-dev-other-group", "default", created=CREATED)
    seen = []
    for page in scheduler.get_paginator("list_schedules").paginate(
        GroupName="bastions", NamePrefix="docustack-dev-", PaginationConfig={"PageSize": 4}
    ):
        for item in page["Schedules"]:
            seen.append(item["Name"])
            assert item["GroupName"] == "bastions"
            assert item["CreationDate"] == CREATED
            assert item["Arn"].endswith(f":schedule/bastions/{item['Name']}")
            scheduler.delete_schedule(Name=item["Name"], GroupName="bastions")
    assert seen == [*names, "docustack-dev-sweep"]
    assert fake.requests["scheduler.ListSchedules"] == 4
    assert sorted(fake.schedules) == [
        ("bastions", "docustack-prod-x"),
        ("default", "docustack-dev-other-group"),
    ]
    with pytest.raises(ClientError) as gone:
        scheduler.delete_schedule(Name=names[0], GroupName="bastions")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_other_services_are_refused(fake: FakeAws) -> None:
    with pytest.raises(ClientError):
        client(fake, "ssm").describe_sessions(State="Active")
    assert fake.requests["ssm.POST /"] == 1


def test_secrets_lambda_and_ssm_for_the_slack_door(fake: FakeAws) -> None:
    arn = fake.add_secret("docustack/dev/slack", '{"signing_secret": "s"}')
    secrets = client(fake, "secretsmanager")
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == '{"signing_secret": "s"}'
    assert secrets.get_secret_value(SecretId="docustack/dev/slack")["ARN"] == arn
    with pytest.raises(ClientError) as missing:
        secrets.get_secret_value(SecretId="nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    function = "arn:aws:lambda:us-east-1:123456789012:function:orchestrator"
    answer = client(fake, "lambda").invoke(
        FunctionName=function, InvocationType="Event", Payload=b'{"slack_job": {}}'
    )
    assert answer["StatusCode"] == 202
    assert fake.invocations == [(function, b'{"slack_job": {}}')]

    [iid] = instance_ids(1)
    fake.add_instance(iid, SCOPE)
    info = client(fake, "ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [iid]}]
    )["InstanceInformationList"]
    assert [(i["InstanceId"], i["PingStatus"]) for i in info] == [(iid, "Online")]
    assert fake.requests["secretsmanager.GetSecretValue"] == 3
    assert fake.requests["lambda.Invoke"] == 1
    assert fake.requests["ssm.DescribeInstanceInformation"] == 1
