"""Why a bastion's SSM agent may not come online: read-only checks of its network path."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

_SSM_ENDPOINTS: Final = ("ssm", "ssmmessages")  # agent 3.3.40+ needs no ec2messages


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
        return [*_own_problems(instance), *self._path_problems(instance, ec2.meta.region_name)]

    def _path_problems(self, instance: InstanceTypeDef, region: str) -> list[str]:
        """Its way to SSM: HTTPS egress, and the VPC's endpoints or a NAT gateway."""
        found: list[str] = []
        groups = [g["GroupId"] for g in instance.get("SecurityGroups", []) if "GroupId" in g]
        if groups and not self._https_egress(groups):
            found.append(
                "its security group allows no HTTPS (443) egress, so the agent cannot reach "
                "SSM: allow 443 to the SSM endpoints' security group."
            )
        vpc = instance.get("VpcId")
        if vpc:
            missing = self._missing_endpoints(vpc, region)
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


def _own_problems(instance: InstanceTypeDef) -> list[str]:
    """The instance itself: not running yet, or without the profile its agent signs in with."""
    found: list[str] = []
    state = instance.get("State", {}).get("Name")
    if state != "running":
        found.append(f"the instance is {state}, not running yet.")
    if not instance.get("IamInstanceProfile"):
        found.append(
            "it has no instance profile, so its agent cannot authenticate to SSM: check "
            "IAM_INSTANCE_PROFILE (the module's bastion profile)."
        )
    return found
