"""A deployment's worth of AWS in whatever emulator this process talks to (moto's
``mock_aws`` or a moto server via ``AWS_ENDPOINT_URL``), for scripts that run outside pytest
(scripts/demo_cli.py, tools/bench/bench_cli.py): what the Terraform module would create, and the
contract's environment pointing at it."""

from __future__ import annotations

import os

TERMINATOR_ARN = "arn:aws:lambda:us-east-1:123456789012:function:docustack-dev-auto-terminate"
RDS_ENDPOINT = "docustack-dev.cluster-abc123.us-east-1.rds.amazonaws.com"


def provision_deployment() -> dict[str, str]:
    import boto3

    from tests.support import roots

    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")[
        "Subnet"
    ]["SubnetId"]
    bastion_sg = ec2.create_security_group(
        GroupName="docustack-dev-bastion", Description="bastion", VpcId=vpc
    )["GroupId"]
    boto3.client("iam", region_name="us-east-1").create_instance_profile(
        InstanceProfileName="docustack-dev-bastion"
    )
    boto3.client("scheduler", region_name="us-east-1").create_schedule_group(
        Name="docustack-dev-bastions"
    )
    env = {
        "PROJECT_NAME": "docustack",
        "ENVIRONMENT": "dev",
        "IAM_INSTANCE_PROFILE": "docustack-dev-bastion",
        "AUTO_TERMINATE_LAMBDA_ARN": TERMINATOR_ARN,
        "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/docustack-dev-scheduler",
        "SCHEDULE_GROUP": "docustack-dev-bastions",
        "SUBNET_ID": subnet,
        "BASTION_SECURITY_GROUP_ID": bastion_sg,
        "RDS_ENDPOINT": RDS_ENDPOINT,
    }
    os.environ.update(env)
    roots.fresh()
    roots.fresh()
    return env
