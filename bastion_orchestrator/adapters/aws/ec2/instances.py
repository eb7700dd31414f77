"""EC2 instances: our bastions, found by tags, launched hardened, terminated only when ours."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from bastion_orchestrator.adapters.aws.clients import error_code, error_message
from bastion_orchestrator.clock import to_utc
from bastion_orchestrator.domain.bastion import ACTIVE_STATES, MANAGED_BY, Bastion, Tag
from bastion_orchestrator.domain.ports import LaunchSpec
from bastion_orchestrator.errors import LaunchRejected, NoCapacity

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        BlockDeviceMappingTypeDef,
        FilterTypeDef,
        InstanceNetworkInterfaceSpecificationTypeDef,
        InstanceTypeDef,
        RunInstancesRequestTypeDef,
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
        try:
            response = self._client().run_instances(**_hardened(spec))
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


def _hardened(spec: LaunchSpec) -> RunInstancesRequestTypeDef:
    """The RunInstances request: no public address, IMDSv2 only, an encrypted root volume,
    terminated (not stopped) when it powers itself off, its volume tagged as it is."""
    tags: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
    tagged: list[TagSpecificationTypeDef] = [
        {"ResourceType": "instance", "Tags": tags},
        {"ResourceType": "volume", "Tags": tags},
    ]
    return {
        "ImageId": spec.image_id,
        "InstanceType": spec.instance_type,  # type: ignore[typeddict-item]
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": spec.client_token,
        "IamInstanceProfile": {"Name": spec.instance_profile},
        "NetworkInterfaces": [_private_interface(spec)],
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpEndpoint": "enabled",
            "HttpPutResponseHopLimit": 1,
            "InstanceMetadataTags": "disabled",
        },
        "BlockDeviceMappings": [_encrypted_root()],
        "CreditSpecification": {"CpuCredits": "standard"},
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": tagged,
        "UserData": spec.user_data,  # botocore base64-encodes it
    }


def _private_interface(spec: LaunchSpec) -> InstanceNetworkInterfaceSpecificationTypeDef:
    return {
        "DeviceIndex": 0,
        "SubnetId": spec.subnet_id,
        "Groups": [spec.security_group_id],
        "AssociatePublicIpAddress": False,
        "DeleteOnTermination": True,
    }


def _encrypted_root() -> BlockDeviceMappingTypeDef:
    return {
        "DeviceName": ROOT_DEVICE,
        "Ebs": {
            "VolumeType": "gp3",
            "VolumeSize": ROOT_GIB,
            "Encrypted": True,
            "DeleteOnTermination": True,
        },
    }


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
