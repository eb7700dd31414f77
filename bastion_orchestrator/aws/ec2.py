"""EC2: our bastions, found by tags, launched hardened, terminated only when ours."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from bastion_orchestrator.aws.clients import error_code, error_message
from bastion_orchestrator.clock import iso, to_utc
from bastion_orchestrator.domain.bastion import ACTIVE_STATES, MANAGED_BY, Bastion, Tag
from bastion_orchestrator.domain.ports import Evidence, LaunchSpec
from bastion_orchestrator.errors import LaunchRejected, NoCapacity

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        FilterTypeDef,
        InstanceTypeDef,
        TagSpecificationTypeDef,
        TagTypeDef,
    )

_NOT_FOUND: Final = {"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"}
_NO_CAPACITY: Final = {
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "Unsupported",  # the instance type is not offered in this subnet's availability zone
}
_REJECTED: Final = {
    "InvalidSubnetID.NotFound",
    "InvalidSubnet",
    "InvalidGroup.NotFound",
    "InvalidGroupId.Malformed",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidAMIID.NotFound",
    "InvalidAMIID.Malformed",
    "UnauthorizedOperation",
}
NOT_FOUND_RETRY_DELAYS: Final = (0.2, 0.5, 1.0)
_SSM_ENDPOINTS: Final = ("ssm", "ssmmessages")  # agent 3.3.40+ needs no ec2messages
ROOT_DEVICE: Final = "/dev/xvda"
ROOT_GIB: Final = 8
# 200 instances a page keeps a sweep's peak memory near 15 MB however large the fleet is
# (a 1,000-instance page peaks near 60 MB while botocore parses it): `make bench` measures it.
PAGE_SIZE: Final = 200
_NEVER: Final = datetime.max.replace(tzinfo=UTC)  # no launch time: trust only the tags


class Ec2Instances:
    def __init__(
        self,
        client: Callable[[], EC2Client],
        *,
        project: str,
        environment: str,
        latest_image: Callable[[], str],
        instance_profile: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._profile = instance_profile
        self.sleep = sleep
        self._scope: list[FilterTypeDef] = [
            {"Name": f"tag:{Tag.MANAGED_BY}", "Values": [MANAGED_BY]},
            {"Name": f"tag:{Tag.PROJECT}", "Values": [project]},
            {"Name": f"tag:{Tag.ENVIRONMENT}", "Values": [environment]},
        ]
        self._latest_image = latest_image

    def get(self, instance_id: str) -> Bastion | None:
        # EC2 reads are eventually consistent: an instance launched a moment ago can answer
        # InvalidInstanceID.NotFound. Retry briefly before calling it missing.
        for delay in (*NOT_FOUND_RETRY_DELAYS, None):
            try:
                response = self._client().describe_instances(
                    InstanceIds=[instance_id], Filters=self._scope
                )
                break
            except Exception as e:
                code = error_code(e)
                if code == "InvalidInstanceID.NotFound" and delay is not None:
                    self.sleep(delay)
                    continue
                if code in _NOT_FOUND:
                    return None
                raise
        for reservation in response.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                return _bastion(instance)
        return None

    def active(
        self, user_id: str | None = None, *, states: Sequence[str] = ACTIVE_STATES
    ) -> Iterator[Bastion]:
        filters: list[FilterTypeDef] = [
            *self._scope,
            {"Name": "instance-state-name", "Values": list(states)},
        ]
        if user_id is not None:
            filters.append({"Name": f"tag:{Tag.USER_ID}", "Values": [user_id]})
        pages = (
            self._client()
            .get_paginator("describe_instances")
            .paginate(Filters=filters, PaginationConfig={"PageSize": PAGE_SIZE})
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    yield _bastion(instance)

    def by_profile(self) -> Iterator[Bastion]:
        if not self._profile:
            return
        pages = (
            self._client()
            .get_paginator("describe_instances")
            .paginate(
                Filters=[
                    # the profile's ARN, whatever its path and account
                    {"Name": "iam-instance-profile.arn", "Values": [f"*/{self._profile}"]},
                    {"Name": "instance-state-name", "Values": list(ACTIVE_STATES)},
                ],
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    yield _bastion(instance)

    def launch(self, spec: LaunchSpec) -> Bastion:
        tags: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        tagged: list[TagSpecificationTypeDef] = [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ]
        try:
            response = self._client().run_instances(
                ImageId=spec.image_id,
                InstanceType=spec.instance_type,  # type: ignore[arg-type]
                MinCount=1,
                MaxCount=1,
                ClientToken=spec.client_token,
                IamInstanceProfile={"Name": spec.instance_profile},
                NetworkInterfaces=[
                    {
                        "DeviceIndex": 0,
                        "SubnetId": spec.subnet_id,
                        "Groups": [spec.security_group_id],
                        "AssociatePublicIpAddress": False,
                        "DeleteOnTermination": True,
                    }
                ],
                MetadataOptions={
                    "HttpTokens": "required",
                    "HttpEndpoint": "enabled",
                    "HttpPutResponseHopLimit": 1,
                    "InstanceMetadataTags": "disabled",
                },
                BlockDeviceMappings=[
                    {
                        "DeviceName": ROOT_DEVICE,
                        "Ebs": {
                            "VolumeType": "gp3",
                            "VolumeSize": ROOT_GIB,
                            "Encrypted": True,
                            "DeleteOnTermination": True,
                        },
                    }
                ],
                CreditSpecification={"CpuCredits": "standard"},
                InstanceInitiatedShutdownBehavior="terminate",
                TagSpecifications=tagged,
                UserData=spec.user_data,  # botocore base64-encodes it
            )
        except Exception as e:
            code = error_code(e)
            if code in _NO_CAPACITY:
                raise NoCapacity(f"No {spec.instance_type} capacity in {spec.subnet_id}") from e
            if code in _REJECTED:
                raise LaunchRejected(error_message(e), aws_code=code or "") from e
            raise
        # The RunInstances answer, not a describe: EC2 reads are eventually consistent.
        return _bastion(response["Instances"][0])

    def terminate(self, instance_ids: Sequence[str]) -> dict[str, str]:
        if not instance_ids:
            return {}
        try:
            response = self._client().terminate_instances(InstanceIds=list(instance_ids))
        except Exception as e:
            if error_code(e) in _NOT_FOUND and len(instance_ids) == 1:
                return {instance_ids[0]: "terminated"}
            raise
        return {
            item["InstanceId"]: item.get("PreviousState", {}).get("Name", "unknown")
            for item in response.get("TerminatingInstances", [])
            if "InstanceId" in item
        }

    def tag(self, instance_id: str, tags: Mapping[str, str]) -> None:
        self._client().create_tags(
            Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )

    def latest_image(self) -> str:
        return self._latest_image()


def _bastion(instance: InstanceTypeDef) -> Bastion:
    launched = instance.get("LaunchTime")
    launch_time = to_utc(launched) if isinstance(launched, datetime) else _NEVER
    root = instance.get("RootDeviceName", ROOT_DEVICE)
    volumes = [
        m["Ebs"]["VolumeId"]
        for m in instance.get("BlockDeviceMappings", [])
        if m.get("DeviceName") == root and "VolumeId" in m.get("Ebs", {})
    ]
    return Bastion(
        instance_id=instance["InstanceId"],
        state=instance.get("State", {}).get("Name", "unknown"),
        private_ip=instance.get("PrivateIpAddress"),
        subnet_id=instance.get("SubnetId"),
        root_volume_id=volumes[0] if volumes else None,
        launch_time=launch_time,
        tags={
            t["Key"]: t["Value"] for t in instance.get("Tags", []) if "Key" in t and "Value" in t
        },
    )


class Ec2Snapshots:
    """Forensic snapshots of bastions' root volumes, tagged as this deployment's."""

    def __init__(self, client: Callable[[], EC2Client], *, project: str, environment: str) -> None:
        self._client = client
        self._project = project
        self._environment = environment

    def take(self, evidence: Evidence, cause: str, now: datetime) -> str:
        tags = {
            Tag.MANAGED_BY: MANAGED_BY,
            Tag.PROJECT: self._project,
            Tag.ENVIRONMENT: self._environment,
            "Cause": cause,
            "SourceInstanceId": evidence.instance_id,
            Tag.CREATED_AT: iso(now),
        }
        if evidence.user_id:
            tags[Tag.USER_ID] = evidence.user_id
        if evidence.username:
            tags[Tag.USERNAME] = evidence.username
        if evidence.reason:
            tags[Tag.REASON] = evidence.reason
        response = self._client().create_snapshot(
            VolumeId=evidence.volume_id,
            Description=f"bastion-orchestrator: {evidence.instance_id} before its termination "
            f"({cause})",
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
        return response["SnapshotId"]

    def older_than(self, moment: datetime) -> Iterator[str]:
        pages = (
            self._client()
            .get_paginator("describe_snapshots")
            .paginate(
                OwnerIds=["self"],
                Filters=[
                    {"Name": f"tag:{Tag.MANAGED_BY}", "Values": [MANAGED_BY]},
                    {"Name": f"tag:{Tag.PROJECT}", "Values": [self._project]},
                    {"Name": f"tag:{Tag.ENVIRONMENT}", "Values": [self._environment]},
                ],
            )
        )
        for page in pages:
            for snapshot in page.get("Snapshots", []):
                started = snapshot.get("StartTime")
                if isinstance(started, datetime) and to_utc(started) < moment:
                    yield snapshot["SnapshotId"]

    def delete(self, snapshot_id: str) -> None:
        try:
            self._client().delete_snapshot(SnapshotId=snapshot_id)
        except Exception as e:
            if error_code(e) != "InvalidSnapshot.NotFound":
                raise


class Ec2Reachability:
    """The README's troubleshooting rows, made automatic: can this bastion's SSM agent reach
    SSM at all? Read-only Describe calls, made only when a bastion is slow to come online."""

    def __init__(self, client: Callable[[], EC2Client]) -> None:
        self._client = client

    def problems(self, instance_id: str) -> list[str]:
        ec2 = self._client()
        reservations = ec2.describe_instances(InstanceIds=[instance_id]).get("Reservations", [])
        instances = [i for r in reservations for i in r.get("Instances", [])]
        if not instances:
            return [f"{instance_id} is gone."]
        instance = instances[0]
        found: list[str] = []
        state = instance.get("State", {}).get("Name")
        if state != "running":
            found.append(f"the instance is {state}, not running yet.")
        if not instance.get("IamInstanceProfile"):
            found.append(
                "it has no instance profile, so its agent cannot authenticate to SSM: check "
                "IAM_INSTANCE_PROFILE (the module's bastion profile)."
            )
        groups = [g["GroupId"] for g in instance.get("SecurityGroups", []) if "GroupId" in g]
        if groups and not self._https_egress(groups):
            found.append(
                "its security group allows no HTTPS (443) egress, so the agent cannot reach "
                "SSM: allow 443 to the SSM endpoints' security group."
            )
        vpc = instance.get("VpcId")
        if vpc:
            missing = self._missing_endpoints(vpc, ec2.meta.region_name)
            if missing and not self._nat(vpc):
                found.append(
                    f"{vpc} has no {', '.join(missing)} interface endpoint(s) and no NAT "
                    "gateway, so the agent cannot reach SSM: create the endpoints "
                    "(create_vpc_endpoints = true in the module) or a NAT route."
                )
        return found

    def _https_egress(self, groups: list[str]) -> bool:
        described = self._client().describe_security_groups(GroupIds=groups)
        for group in described.get("SecurityGroups", []):
            for rule in group.get("IpPermissionsEgress", []):
                protocol = rule.get("IpProtocol")
                low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
                if protocol == "-1" or (protocol == "tcp" and low <= 443 <= high):
                    return True
        return False

    def _missing_endpoints(self, vpc: str, region: str) -> list[str]:
        wanted = {f"com.amazonaws.{region}.{name}": name for name in _SSM_ENDPOINTS}
        endpoints = self._client().describe_vpc_endpoints(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "service-name", "Values": list(wanted)},
            ]
        )
        present = {
            e.get("ServiceName")
            for e in endpoints.get("VpcEndpoints", [])
            if e.get("State", "available").lower() == "available"
        }
        return [name for service, name in wanted.items() if service not in present]

    def _nat(self, vpc: str) -> bool:
        gateways = self._client().describe_nat_gateways(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "state", "Values": ["available"]},
            ]
        )
        return bool(gateways.get("NatGateways"))
