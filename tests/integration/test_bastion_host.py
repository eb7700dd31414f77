"""The host the orchestrator launches: its boot script (dead-man switch, MOTD, profile), as
EC2 received it."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest

import handler

pytestmark = pytest.mark.integration


def launched_user_data(aws: Any, instance_id: str) -> str:
    attribute = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(attribute["UserData"]["Value"]).decode()


def test_every_bastion_boots_with_its_dead_man_switch_at_the_hard_cap(aws, clock, lambda_context):
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "reason": "$(reboot)"},
        lambda_context,
    )
    script = launched_user_data(aws, created["instance_id"])
    cap = datetime.fromisoformat(created["created_at"]) + timedelta(hours=12)
    assert f"OnCalendar={cap.strftime('%Y-%m-%d %H:%M:%S UTC')}" in script
    assert "$(reboot)" not in script  # the reason travels base64-encoded only
    # And the instance terminates when it powers itself off
    shutdown = aws.ec2.describe_instance_attribute(
        InstanceId=created["instance_id"], Attribute="instanceInitiatedShutdownBehavior"
    )
    assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"


def test_create_may_name_a_profile_the_deployment_offers(aws, clock, lambda_context, monkeypatch):
    from tests.support import roots

    monkeypatch.setenv("BOOT_PROFILES", "minimal,db-clients")
    roots.fresh()
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "profile": "db-clients"},
        lambda_context,
    )
    assert "dnf -y install postgresql16" in launched_user_data(aws, created["instance_id"])
    default = handler.lambda_handler(
        {"action": "create", "user_id": "U2", "username": "v"}, lambda_context
    )
    assert "dnf" not in launched_user_data(aws, default["instance_id"])


@pytest.mark.parametrize(("setting", "rule"), [(None, "!ALL"), ("true", "NOPASSWD:ALL")])
def test_session_users_get_sudo_only_where_the_deployment_opted_in(
    aws, clock, lambda_context, monkeypatch, setting, rule
):
    from tests.support import roots

    # Given a deployment with SESSION_SUDO unset (the default) or set to true
    if setting is None:
        monkeypatch.delenv("SESSION_SUDO", raising=False)
    else:
        monkeypatch.setenv("SESSION_SUDO", setting)
    roots.fresh()
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u"}, lambda_context
    )
    # Then the bastion it launches refuses or grants the session user sudo accordingly
    script = launched_user_data(aws, created["instance_id"])
    assert f"ALL=(ALL) {rule}\n" in script
    assert 'useradd -m -U -s /bin/bash "$u"' in script and "usermod" not in script


def test_a_profile_the_deployment_does_not_offer_launches_nothing(aws, clock, lambda_context):
    refused = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "profile": "db-clients"},
        lambda_context,
    )
    assert refused["error"] == "VALIDATION_ERROR" and "BOOT_PROFILES" in refused["message"]
    assert aws.running() == []


# ------------------------------------------------------------------ forensic snapshots
def our_snapshots(aws: Any) -> list[dict[str, Any]]:
    snapshots = aws.ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:ManagedBy", "Values": ["bastion-orchestrator"]}]
    )["Snapshots"]
    return [{**s, "Tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}} for s in snapshots]


@pytest.fixture
def snapshots_on(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import roots

    monkeypatch.setenv("SNAPSHOT_ON_TERMINATE", "true")
    monkeypatch.setenv("SNAPSHOT_RETENTION_DAYS", "30")
    roots.fresh()


def test_destroy_snapshots_the_root_volume_first(aws, clock, lambda_context, snapshots_on):
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u", "reason": "INC-7 data fix"},
        lambda_context,
    )
    iid = created["instance_id"]
    volume = aws.instance(iid)["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)
    [snapshot] = our_snapshots(aws)
    assert snapshot["VolumeId"] == volume
    assert (
        snapshot["Tags"]
        | {
            "RequestedByUserId": "U1",
            "RequestedBy": "u",
            "Reason": "INC-7 data fix",
            "Cause": "destroy",
            "SourceInstanceId": iid,
            "Project": "docustack",
            "Environment": "dev",
        }
        == snapshot["Tags"]
    )
    assert aws.state(iid) in {"shutting-down", "terminated"}


def test_a_failed_snapshot_never_stops_the_termination(aws, clock, lambda_context, snapshots_on):
    from tests.support.roots import clients

    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u"}, lambda_context
    )

    def refuse(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "SnapshotLimitExceeded"}}, "CreateSnapshot")

    clients.ec2().meta.events.register("before-call.ec2.CreateSnapshot", refuse)
    destroyed = handler.lambda_handler(
        {"action": "destroy", "instance_id": created["instance_id"]}, lambda_context
    )
    assert destroyed["success"] is True
    assert aws.state(created["instance_id"]) in {"shutting-down", "terminated"}
    assert our_snapshots(aws) == []


def test_without_the_option_nothing_is_snapshotted(aws, clock, lambda_context):
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u"}, lambda_context
    )
    handler.lambda_handler(
        {"action": "destroy", "instance_id": created["instance_id"]}, lambda_context
    )
    assert our_snapshots(aws) == []


# ------------------------------------------------------------------ stripped tags
def test_a_bastion_stripped_of_every_tag_is_found_by_its_profile_and_dies_at_its_cap(
    aws, clock, lambda_context
):
    import auto_terminate

    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "u"}, lambda_context
    )
    iid = created["instance_id"]
    # Given someone deletes every tag (moto ignores a DeleteTags naming no keys; name them)
    aws.ec2.delete_tags(Resources=[iid], Tags=[{"Key": k} for k in aws.tags(iid)])
    assert aws.tags(iid) == {}
    # When the sweep runs before the cap, nothing happens; after it, the bastion is gone
    clock.advance(hours=6)
    assert auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)["terminated"] == 0
    assert aws.state(iid) == "running"
    clock.advance(hours=7)
    swept = auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
    assert swept["terminated"] == 1 and aws.state(iid) in {"shutting-down", "terminated"}


def test_an_instance_of_another_profile_is_never_touched(aws, clock, lambda_context):
    import boto3

    import auto_terminate

    boto3.client("iam").create_instance_profile(InstanceProfileName="someone-elses-profile")
    other = aws.ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": "someone-elses-profile"},
    )["Instances"][0]["InstanceId"]
    clock.advance(hours=13)
    auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
    assert aws.state(other) == "running"
