"""The orchestrator's direct payloads against moto: the real handler, the real boto3 calls."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from botocore.stub import Stubber

import handler
from bastion_orchestrator.clock import iso
from tests.conftest import SCHEDULER_ROLE, TERMINATOR_ARN, event
from tests.support.roots import clients

pytestmark = pytest.mark.integration

USER = {"user_id": "U12345"}


def create(ctx, **overrides):
    return handler.lambda_handler(event("create", **overrides), ctx)


def test_seed_create_launches_a_hardened_tagged_bastion(aws, clock, lambda_context):
    # Given the seed payload, naming the second subnet
    # When it is sent unchanged (apart from a subnet that exists in this emulator)
    response = create(lambda_context, subnet_id=aws.subnet_ids[1])

    # Then the answer has the contract's fields and times
    assert response["success"] is True and response["existing"] is False
    iid = response["instance_id"]
    assert response["created_at"] == iso(clock())
    assert response["expires_at"] == iso(clock() + timedelta(hours=3))
    assert response["private_ip"].startswith("10.0.2.")
    assert f"aws ssm start-session --target {iid}" in response["connection_instructions"]
    assert "AWS-StartPortForwardingSessionToRemoteHost" in response["connection_instructions"]
    assert '"host":["docustack-dev.cluster-abc123' in response["connection_instructions"]
    json.dumps(response)  # JSON-serialisable

    # And the instance is launched hardened, in that subnet, with every tag
    instance = aws.instance(iid)
    assert instance["InstanceType"] == "t4g.nano"
    assert instance["SubnetId"] == aws.subnet_ids[1]
    assert "PublicIpAddress" not in instance
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    eni = instance["NetworkInterfaces"][0]
    assert [g["GroupId"] for g in eni["Groups"]] == [aws.bastion_sg]
    assert not eni.get("Association", {}).get("PublicIp")
    assert instance["IamInstanceProfile"]["Arn"].endswith("/docustack-dev-bastion")
    tags = aws.tags(iid)
    assert tags == tags | {
        "ManagedBy": "bastion-orchestrator",
        "Name": "docustack-dev-bastion-john.doe",
        "Project": "docustack",
        "Environment": "dev",
        "RequestedByUserId": "U12345",
        "RequestedBy": "john.doe",
        "RequestedByName": "John Doe",
        "CreatedAt": response["created_at"],
        "ExpiresAt": response["expires_at"],
        "RdsEndpoint": "docustack-dev.cluster-abc123.us-east-1.rds.amazonaws.com",
    }
    volumes = aws.ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [iid]}]
    )["Volumes"]
    assert volumes and all(v["Encrypted"] and v["VolumeType"] == "gp3" for v in volumes)
    assert all({"Key": "ManagedBy", "Value": "bastion-orchestrator"} in v["Tags"] for v in volumes)


def test_seed_payload_unchanged_falls_back_to_the_deployments_subnet(aws, clock, lambda_context):
    # Given the seed payload as published: its subnet does not exist in this account
    response = handler.lambda_handler(event("create"), lambda_context)
    # Then EC2's refusal of that subnet falls back to the deployment's own subnets
    assert response["success"] is True
    assert response["subnet_id"] == aws.subnet_ids[0]
    assert "subnet-0123456789abcdef0" in response["notes"][0]
    assert aws.running() == [response["instance_id"]]


def test_create_sends_the_hardened_launch_request(aws, clock, lambda_context):
    # moto does not echo CreditSpecification or the root volume settings back, so check the
    # request itself as boto3 sends it.
    seen = {}
    clients.ec2().meta.events.register(
        "provide-client-params.ec2.RunInstances", lambda params, **_: seen.update(params)
    )
    create(lambda_context, subnet_id=aws.subnet_ids[0])
    assert seen["CreditSpecification"] == {"CpuCredits": "standard"}
    ebs = seen["BlockDeviceMappings"][0]["Ebs"]
    assert ebs["Encrypted"] is True and ebs["VolumeType"] == "gp3"
    nic = seen["NetworkInterfaces"][0]
    assert nic["AssociatePublicIpAddress"] is False and nic["Groups"] == [aws.bastion_sg]
    assert seen["MetadataOptions"]["HttpTokens"] == "required"
    assert [t["ResourceType"] for t in seen["TagSpecifications"]] == ["instance", "volume"]
    assert len(seen["ClientToken"]) <= 64


def test_create_schedules_warning_and_termination(aws, clock, lambda_context):
    response = create(lambda_context, subnet_id=aws.subnet_ids[0])
    iid = response["instance_id"]
    expires = clock() + timedelta(hours=3)
    schedules = aws.schedules()
    assert set(schedules) == {f"docustack-dev-{iid}-warning", f"docustack-dev-{iid}-termination"}
    term = schedules[f"docustack-dev-{iid}-termination"]
    warn = schedules[f"docustack-dev-{iid}-warning"]
    assert term["ScheduleExpression"] == f"at({expires:%Y-%m-%dT%H:%M:%S})"
    assert warn["ScheduleExpression"] == f"at({expires - timedelta(minutes=30):%Y-%m-%dT%H:%M:%S})"
    for schedule, action in ((term, "terminate"), (warn, "warn")):
        assert schedule["ScheduleExpressionTimezone"] == "UTC"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert schedule["ActionAfterCompletion"] == "DELETE"
        assert schedule["Target"]["Arn"] == TERMINATOR_ARN
        assert schedule["Target"]["RoleArn"] == SCHEDULER_ROLE
        assert json.loads(schedule["Target"]["Input"]) == {"action": action, "instance_id": iid}


def test_warning_target_can_differ(aws, clock, lambda_context, monkeypatch):
    other = TERMINATOR_ARN.replace("auto-terminate", "warner")
    monkeypatch.setenv("WARNING_LAMBDA_ARN", other)
    from tests.support import roots

    roots.fresh()
    iid = create(lambda_context)["instance_id"]
    assert aws.schedules()[f"docustack-dev-{iid}-warning"]["Target"]["Arn"] == other


def test_second_create_returns_the_first(aws, clock, lambda_context):
    first = create(lambda_context)
    clock.advance(minutes=5)
    second = create(lambda_context)
    assert second["success"] is True and second["existing"] is True
    assert second["instance_id"] == first["instance_id"]
    assert aws.running() == [first["instance_id"]]


def test_a_user_may_have_more_when_configured(aws, clock, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_BASTIONS_PER_USER", "2")
    from tests.support import roots

    roots.fresh()
    ids = {create(lambda_context)["instance_id"] for _ in range(3)}
    assert len(ids) == 2


def test_status_by_id_and_by_user(aws, clock, lambda_context):
    iid = create(lambda_context)["instance_id"]
    clock.advance(minutes=10)
    # moto has no ssm:DescribeInstanceInformation: a Stubber answers on the SSM client only.
    ssm = clients.ssm()
    with Stubber(ssm) as stub:
        stub.add_response(
            "describe_instance_information",
            {"InstanceInformationList": [{"InstanceId": iid, "PingStatus": "Online"}]},
            {"Filters": [{"Key": "InstanceIds", "Values": [iid]}]},
        )
        by_id = handler.lambda_handler({"action": "status", "instance_id": iid}, lambda_context)
        stub.assert_no_pending_responses()
    assert by_id["state"] == "running"
    assert by_id["ssm_status"] == "Online"
    assert by_id["requested_by"] == "john.doe" and by_id["user_id"] == "U12345"
    assert by_id["time_remaining_seconds"] == 3 * 3600 - 600
    by_user = handler.lambda_handler({"action": "status", **USER}, lambda_context)
    assert by_user["instance_id"] == iid


def test_status_survives_ssm_being_unavailable(aws, clock, lambda_context):
    iid = create(lambda_context)["instance_id"]
    with Stubber(clients.ssm()) as stub:
        stub.add_client_error("describe_instance_information", "AccessDeniedException")
        response = handler.lambda_handler({"action": "status", "instance_id": iid}, lambda_context)
    assert response["success"] is True and response["ssm_status"] == "Unknown"


def test_extend_moves_expiry_and_both_schedules(aws, clock, lambda_context):
    iid = create(lambda_context)["instance_id"]
    created = clock()
    clock.advance(hours=2)
    response = handler.lambda_handler(event("extend", instance_id=iid, **USER), lambda_context)
    new_expiry = created + timedelta(hours=5)
    assert response["success"] is True
    assert response["expires_at"] == iso(new_expiry)
    assert aws.tags(iid)["ExpiresAt"] == iso(new_expiry)
    schedules = aws.schedules()
    assert schedules[f"docustack-dev-{iid}-termination"]["ScheduleExpression"] == (
        f"at({new_expiry:%Y-%m-%dT%H:%M:%S})"
    )
    assert schedules[f"docustack-dev-{iid}-warning"]["ScheduleExpression"] == (
        f"at({new_expiry - timedelta(minutes=30):%Y-%m-%dT%H:%M:%S})"
    )


def test_extend_recreates_a_warning_that_already_fired(aws, clock, lambda_context):
    iid = create(lambda_context)["instance_id"]
    aws.scheduler.delete_schedule(Name=f"docustack-dev-{iid}-warning", GroupName=aws.group)
    response = handler.lambda_handler(event("extend", instance_id=iid), lambda_context)
    assert response["success"] is True
    assert f"docustack-dev-{iid}-warning" in aws.schedules()


def test_extend_is_capped_then_refused(aws, clock, lambda_context):
    iid = create(lambda_context)["instance_id"]
    created = clock()
    expiries = []
    for _ in range(6):
        response = handler.lambda_handler(event("extend", instance_id=iid), lambda_context.next())
        if not response["success"]:
            break
        expiries.append(response["expires_at"])
    # 3 h + 2 + 2 + 2 + 2 = 11 h, then clamped to the 12 h cap, then refused.
    assert expiries[-1] == iso(created + timedelta(hours=12))
    assert len(expiries) == 5
    assert response["error"] == "LIMIT_EXCEEDED"
    assert "maximum lifetime" in response["message"]
    assert aws.tags(iid)["ExpiresAt"] == iso(created + timedelta(hours=12))


def test_an_extend_retried_by_lambda_extends_once(aws, clock, lambda_context):
    iid = create(lambda_context)["instance_id"]
    invocation = lambda_context.next()
    first = handler.lambda_handler(event("extend", instance_id=iid), invocation)
    # When Lambda runs the same invocation again (an async retry keeps its request id)
    again = handler.lambda_handler(event("extend", instance_id=iid), invocation)
    # Then it extended once, and says so
    assert again["success"] is True and again["already_extended"] is True
    assert again["expires_at"] == first["expires_at"] == aws.tags(iid)["ExpiresAt"]
    assert aws.tags(iid)["ExtendedByRequest"] == invocation.aws_request_id
    # But another invocation extends again
    later = handler.lambda_handler(event("extend", instance_id=iid), lambda_context.next())
    assert later["expires_at"] > first["expires_at"] and "already_extended" not in later


def test_destroy_terminates_and_deletes_schedules_idempotently(aws, clock, lambda_context):
    iid = create(lambda_context)["instance_id"]
    first = handler.lambda_handler(event("destroy", instance_id=iid, **USER), lambda_context)
    assert first["success"] is True
    assert aws.state(iid) in {"shutting-down", "terminated"}
    assert aws.schedules() == {}
    again = handler.lambda_handler(event("destroy", instance_id=iid), lambda_context)
    assert again["success"] is True and again["already_terminated"] is True


def test_list_shows_active_bastions(aws, clock, lambda_context):
    a = create(lambda_context)["instance_id"]
    b = create(lambda_context, user_id="U99999", username="jane")["instance_id"]
    listed = handler.lambda_handler({"action": "list"}, lambda_context)
    assert [x["instance_id"] for x in listed["bastions"]] == [a, b]
    mine = handler.lambda_handler({"action": "list", "user_id": "U99999"}, lambda_context)
    assert [x["instance_id"] for x in mine["bastions"]] == [b]
    handler.lambda_handler(event("destroy", instance_id=a), lambda_context)
    after = handler.lambda_handler({"action": "list"}, lambda_context)
    assert [x["instance_id"] for x in after["bastions"]] == [b]


@pytest.mark.parametrize("action", ["status", "extend", "destroy"])
def test_only_owner_or_admin_may_act(aws, clock, lambda_context, action):
    iid = create(lambda_context)["instance_id"]
    refused = handler.lambda_handler(
        {"action": action, "instance_id": iid, "user_id": "UINTRUDER"}, lambda_context
    )
    assert refused["error"] == "FORBIDDEN"
    assert aws.state(iid) == "running"
    assert aws.tags(iid)["ExpiresAt"] == iso(clock() + timedelta(hours=3))
    allowed = handler.lambda_handler(
        {"action": action, "instance_id": iid, "user_id": "UADMIN"}, lambda_context
    )
    assert allowed["success"] is True


@pytest.mark.parametrize("action", ["status", "extend", "destroy"])
def test_foreign_instances_are_never_touched(aws, clock, lambda_context, action):
    # Given an instance without our tags, and one of another environment
    plain = aws.ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
    foreign = plain["Instances"][0]["InstanceId"]
    prod = aws.ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
                    {"Key": "Project", "Value": "docustack"},
                    {"Key": "Environment", "Value": "prod"},
                    {"Key": "ExpiresAt", "Value": "2000-01-01T00:00:00+00:00"},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]
    for iid in (foreign, prod):
        response = handler.lambda_handler({"action": action, "instance_id": iid}, lambda_context)
        assert response["error"] == "NOT_FOUND"
        assert aws.state(iid) == "running"
        assert "ExpiresAt" not in aws.tags(iid) or iid == prod
    assert aws.tags(prod)["ExpiresAt"] == "2000-01-01T00:00:00+00:00"


def test_unknown_instance_and_user_without_bastion(aws, clock, lambda_context):
    missing = handler.lambda_handler(event("status"), lambda_context)
    assert missing["error"] == "NOT_FOUND" and "i-0123456789abcdef0" in missing["message"]
    nobody = handler.lambda_handler({"action": "extend", "user_id": "UNOBODY"}, lambda_context)
    assert nobody["error"] == "NOT_FOUND" and "create" in nobody["message"]


BAD_PAYLOADS = [
    ({}, "action"),
    ({"action": "nuke"}, "action"),
    ("create", "(payload)"),
    ({"action": "create", "username": "a"}, "user_id"),
    ({"action": "create", "user_id": "U1", "username": "bad name"}, "username"),
    ({"action": "create", "user_id": "U1", "username": "a", "rds_port": "5432"}, "rds_port"),
    ({"action": "create", "user_id": "U1", "username": "a", "rds_port": 70000}, "rds_port"),
    (
        {"action": "create", "user_id": "U1", "username": "a", "subnet_id": "subnet-xyz"},
        "subnet_id",
    ),
    (
        {"action": "create", "user_id": "U1", "username": "a", "display_name": "x" * 129},
        "display_name",
    ),
    (
        {"action": "create", "user_id": "U1", "username": "a", "display_name": "a\nb"},
        "display_name",
    ),
    ({"action": "create", "user_id": "U1", "username": "a", "reason": "r" * 257}, "reason"),
    (
        {"action": "create", "user_id": "U1", "username": "a", "rds_endpoint": "-bad-.example"},
        "rds_endpoint",
    ),
    (
        {"action": "create", "user_id": "U1", "username": "a", "instance_type": "m7g.16xlarge"},
        "instance_type",
    ),
    ({"action": "create", "user_id": "U" * 65, "username": "a"}, "user_id"),
    ({"action": "create", "user_id": 12345, "username": "a"}, "user_id"),
    ({"action": "status"}, "(payload)"),
    ({"action": "status", "instance_id": "i-123"}, "instance_id"),
    ({"action": "status", "instance_id": "I-0123456789ABCDEF0"}, "instance_id"),
    ({"action": "destroy", "instance_id": "i-0123456789abcdef0", "force": True}, "force"),
    ({"action": "list", "user_id": ""}, "user_id"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_PAYLOADS)
def test_bad_input_is_refused_and_changes_nothing(aws, clock, lambda_context, payload, field):
    response = handler.lambda_handler(payload, lambda_context)
    assert response["success"] is False
    assert response["error"] == "VALIDATION_ERROR"
    assert field in {e["field"] for e in response["errors"]}
    assert "retry" in response["message"]
    json.dumps(response)
    assert aws.running() == [] and aws.schedules() == {}


def test_missing_configuration_names_the_variable(aws, clock, lambda_context, monkeypatch):
    from tests.support import roots

    monkeypatch.delenv("SCHEDULER_ROLE_ARN")
    roots.fresh()
    response = create(lambda_context)
    assert response["error"] == "CONFIGURATION_ERROR"
    assert "SCHEDULER_ROLE_ARN" in response["message"]
    assert aws.running() == []


def test_scheduling_failure_terminates_the_new_instance(aws, clock, lambda_context, monkeypatch):
    # Given a schedule group that does not exist
    monkeypatch.setenv("SCHEDULE_GROUP", "missing-group")
    from tests.support import roots

    roots.fresh()
    response = create(lambda_context)
    assert response["success"] is False
    assert response["error"] in {"CONFIGURATION_ERROR", "INTERNAL_ERROR"}
    assert "terminated" in response["message"]
    assert aws.running() == []


def test_capacity_falls_back_to_the_next_subnet(aws, clock, lambda_context):
    attempts = []

    def no_capacity_in_first(params, **_):
        attempts.append(params["NetworkInterfaces"][0]["SubnetId"])
        if params["NetworkInterfaces"][0]["SubnetId"] == aws.subnet_ids[0]:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "InsufficientInstanceCapacity", "Message": "none"}},
                "RunInstances",
            )

    clients.ec2().meta.events.register(
        "provide-client-params.ec2.RunInstances", no_capacity_in_first
    )
    payload = {"action": "create", "user_id": "U1", "username": "a"}
    response = handler.lambda_handler(payload, lambda_context)
    assert response["success"] is True
    assert aws.instance(response["instance_id"])["SubnetId"] == aws.subnet_ids[1]
    assert attempts == aws.subnet_ids


def test_direct_invoke_never_raises_on_unexpected_failures(aws, clock, lambda_context):
    def boom(**_):
        raise RuntimeError("disk on fire")

    clients.ec2().meta.events.register("provide-client-params.ec2.DescribeInstances", boom)
    response = handler.lambda_handler({"action": "list"}, lambda_context)
    assert response["error"] == "INTERNAL_ERROR"
    json.dumps(response)


def test_default_image_comes_from_the_public_parameter(aws, clock, lambda_context):
    ssm = boto3.client("ssm", region_name="us-east-1")
    expected = ssm.get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    )["Parameter"]["Value"]
    iid = create(lambda_context)["instance_id"]
    assert aws.instance(iid)["ImageId"] == expected
