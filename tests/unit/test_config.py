"""Configuration is validated once and every problem names its variable."""

from __future__ import annotations

import pytest

from bastion_orchestrator.config import load_settings
from bastion_orchestrator.errors import ConfigurationError

pytestmark = pytest.mark.unit

BASE = {
    "PROJECT_NAME": "docustack",
    "ENVIRONMENT": "dev",
    "IAM_INSTANCE_PROFILE": "docustack-dev-bastion",
    "AUTO_TERMINATE_LAMBDA_ARN": "arn:aws:lambda:us-east-1:123456789012:function:t",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/s",
}


def test_defaults_follow_the_contract():
    s = load_settings(BASE)
    assert (s.instance_type, s.schedule_group, s.rds_port) == ("t4g.nano", "default", 5432)
    assert (s.bastion_lifetime_hours, s.extend_hours, s.max_lifetime_hours) == (3, 2, 12)
    assert (s.warning_minutes, s.max_bastions_per_user) == (30, 1)
    assert s.warning_target_arn == BASE["AUTO_TERMINATE_LAMBDA_ARN"]
    assert s.admin_user_ids == frozenset() and s.idle_minutes is None


def test_subnet_ids_fall_back_to_subnet_id_and_lists_are_split():
    s = load_settings({**BASE, "SUBNET_ID": "subnet-01234567", "ADMIN_USER_IDS": "U1, U2,"})
    assert s.subnets == ("subnet-01234567",)
    assert s.admin_user_ids == frozenset({"U1", "U2"})
    many = load_settings(
        {**BASE, "SUBNET_ID": "subnet-01234567", "SUBNET_IDS": "subnet-89abcdef,subnet-01234567"}
    )
    assert many.subnets == ("subnet-89abcdef", "subnet-01234567")


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"PROJECT_NAME": None}, "PROJECT_NAME"),
        ({"SCHEDULER_ROLE_ARN": "role/s"}, "SCHEDULER_ROLE_ARN"),
        ({"AUTO_TERMINATE_LAMBDA_ARN": ""}, "AUTO_TERMINATE_LAMBDA_ARN"),
        ({"RDS_PORT": "postgres"}, "RDS_PORT"),
        ({"SUBNET_IDS": "subnet-1,subnet-2"}, "SUBNET_IDS"),
        ({"BASTION_LIFETIME_HOURS": "13"}, "BASTION_LIFETIME_HOURS"),
        ({"WARNING_MINUTES": "180"}, "WARNING_MINUTES"),
        ({"AMI_ID": "ubuntu"}, "AMI_ID"),
        ({"PROJECT_NAME": "a-very-long-project-name-indeed"}, "PROJECT_NAME"),
    ],
)
def test_bad_configuration_names_the_variable(change, variable):
    env = {**BASE, **{k: v for k, v in change.items() if v is not None}}
    for key in [k for k, v in change.items() if v is None]:
        env.pop(key)
    with pytest.raises(ConfigurationError) as error:
        load_settings(env)
    assert variable in error.value.message
    assert variable in error.value.details["variables"]
