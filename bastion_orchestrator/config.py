"""Deployment settings: one validated model read from the environment on first use.

A missing or malformed variable fails with ``CONFIGURATION_ERROR`` naming the variable.
The composition root reads them once per container (``composition.AwsParts.settings``);
tests build a fresh root after changing os.environ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bastion_orchestrator.errors import ConfigurationError
from bastion_orchestrator.settings_types import (
    CsvSet,
    PrincipalMap,
    SubnetList,
    comma_list,
    comma_set,
)
from models import DnsName

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_LAMBDA_ARN = (
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$"
)
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"
_PRINCIPAL_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9_+=,.@/-]+$"
_DOCUMENT = r"^[A-Za-z0-9_.:/-]{3,128}$"
# Schedule names are at most 64 characters: "<project>-<env>-" + "i-<17 hex>" + "-termination".
SCHEDULE_NAME_BUDGET = 64 - len("i-0123456789abcdef0") - len("-termination")


class Settings(BaseModel):
    """The contract's environment variables. Field aliases are the variable names.
    (``SLACK_SECRET_ARN`` alone is read by ``slack.secret``: the Slack door needs it first.)"""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=False)

    project_name: str = Field(alias="PROJECT_NAME", pattern=_NAME, max_length=64)
    environment: str = Field(alias="ENVIRONMENT", pattern=_NAME, max_length=64)
    iam_instance_profile: str = Field(
        alias="IAM_INSTANCE_PROFILE", pattern=r"^[A-Za-z0-9_+=,.@-]+$", max_length=128
    )
    auto_terminate_lambda_arn: str = Field(alias="AUTO_TERMINATE_LAMBDA_ARN", pattern=_LAMBDA_ARN)
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN", pattern=_ROLE_ARN)
    warning_lambda_arn: str | None = Field(None, alias="WARNING_LAMBDA_ARN", pattern=_LAMBDA_ARN)
    schedule_group: str = Field(
        "default", alias="SCHEDULE_GROUP", pattern=r"^[0-9a-zA-Z._-]+$", max_length=64
    )
    ami_id: str | None = Field(None, alias="AMI_ID", pattern=r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
    ami_parameter: str = Field(
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
        alias="AMI_SSM_PARAMETER",
    )
    instance_type: str = Field(
        "t4g.nano", alias="INSTANCE_TYPE", pattern=r"^[a-z0-9-]+\.[a-z0-9]+$"
    )
    subnet_id: str | None = Field(
        None, alias="SUBNET_ID", pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"
    )
    subnet_ids: SubnetList = Field((), alias="SUBNET_IDS")
    bastion_security_group_id: str | None = Field(
        None, alias="BASTION_SECURITY_GROUP_ID", pattern=r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"
    )
    rds_endpoint: DnsName | None = Field(None, alias="RDS_ENDPOINT")
    rds_port: int = Field(5432, alias="RDS_PORT", ge=1, le=65535)
    bastion_lifetime_hours: float = Field(3, alias="BASTION_LIFETIME_HOURS", gt=0, le=168)
    extend_hours: float = Field(2, alias="EXTEND_HOURS", gt=0, le=168)
    max_lifetime_hours: float = Field(12, alias="MAX_LIFETIME_HOURS", gt=0, le=720)
    warning_minutes: int = Field(30, alias="WARNING_MINUTES", ge=1, le=1440)
    max_bastions_per_user: int = Field(1, alias="MAX_BASTIONS_PER_USER", ge=1, le=20)
    admin_user_ids: CsvSet = Field(frozenset(), alias="ADMIN_USER_IDS")
    allowed_user_ids: CsvSet = Field(frozenset(), alias="ALLOWED_USER_IDS")
    idle_minutes: int | None = Field(None, alias="IDLE_MINUTES", ge=5, le=1440)
    idempotency_table: str | None = Field(None, alias="IDEMPOTENCY_TABLE")
    slack_channel: str | None = Field(None, alias="SLACK_CHANNEL")
    slack_api_url: str = Field(
        "https://slack.com/api/", alias="SLACK_API_URL", pattern=r"^https?://"
    )
    slack_notifier_lambda_arn: str | None = Field(
        None, alias="SLACK_NOTIFIER_LAMBDA_ARN", pattern=_LAMBDA_ARN
    )
    admin_principal_arns: Annotated[
        frozenset[Annotated[str, Field(pattern=_PRINCIPAL_ARN)]], BeforeValidator(comma_set)
    ] = Field(frozenset(), alias="ADMIN_PRINCIPAL_ARNS")
    approval_required: bool = Field(False, alias="APPROVAL_REQUIRED")
    approver_user_ids: CsvSet = Field(frozenset(), alias="APPROVER_USER_IDS")
    approval_channel: str | None = Field(
        None, alias="APPROVAL_CHANNEL", pattern=r"^[#A-Za-z0-9_.-]{1,80}$"
    )
    approval_timeout_minutes: int = Field(30, alias="APPROVAL_TIMEOUT_MINUTES", ge=1, le=1440)
    approver_iam_principals: PrincipalMap = Field({}, alias="APPROVER_IAM_PRINCIPALS")
    break_glass_hours: float = Field(1, alias="BREAK_GLASS_HOURS", gt=0, le=24)
    snapshot_on_terminate: bool = Field(False, alias="SNAPSHOT_ON_TERMINATE")
    snapshot_retention_days: int = Field(30, alias="SNAPSHOT_RETENTION_DAYS", ge=1, le=3650)
    boot_profiles: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")], ...], BeforeValidator(comma_list)
    ] = Field(("minimal",), alias="BOOT_PROFILES", min_length=1)
    boot_script: str | None = Field(None, alias="BOOT_SCRIPT", max_length=3072)
    session_sudo: bool = Field(False, alias="SESSION_SUDO")
    session_document: str | None = Field(
        None, alias="SESSION_DOCUMENT", pattern=_DOCUMENT, max_length=128
    )
    port_forward_document: str = Field(
        "AWS-StartPortForwardingSessionToRemoteHost",
        alias="PORT_FORWARD_DOCUMENT",
        pattern=_DOCUMENT,
        max_length=128,
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if len(self.schedule_prefix) > SCHEDULE_NAME_BUDGET:
            raise ValueError(
                f"PROJECT_NAME and ENVIRONMENT together must stay within "
                f"{SCHEDULE_NAME_BUDGET - 2} characters (schedule names are capped at 64)"
            )
        if self.bastion_lifetime_hours > self.max_lifetime_hours:
            raise ValueError("BASTION_LIFETIME_HOURS must not exceed MAX_LIFETIME_HOURS")
        if self.warning_minutes >= self.bastion_lifetime_hours * 60:
            raise ValueError("WARNING_MINUTES must be shorter than BASTION_LIFETIME_HOURS")
        if self.approval_required:
            # Fail closed: approvals that cannot work must not silently launch without them.
            if not self.approver_user_ids:
                raise ValueError("APPROVER_USER_IDS must name approvers when APPROVAL_REQUIRED")
            if not self.approval_channel:
                raise ValueError("APPROVAL_CHANNEL is required when APPROVAL_REQUIRED is true")
            if not self.idempotency_table:
                raise ValueError(
                    "IDEMPOTENCY_TABLE is required when APPROVAL_REQUIRED (requests live there)"
                )
        if self.break_glass_hours > self.max_lifetime_hours:
            raise ValueError("BREAK_GLASS_HOURS must not exceed MAX_LIFETIME_HOURS")
        return self

    @field_validator("boot_profiles")
    @classmethod
    def _known_profiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from bastion_orchestrator.adapters.aws.ec2.boot import PROFILES

        unknown = [p for p in value if p not in PROFILES]
        if unknown:
            raise ValueError(f"unknown profile(s) {unknown}; known: {', '.join(PROFILES)}")
        return value

    @field_validator("boot_script")
    @classmethod
    def _base64_script(cls, value: str | None) -> str | None:
        import base64
        import binascii

        if value is None:
            return None
        try:
            return base64.b64decode(value, validate=True).decode()
        except (binascii.Error, ValueError) as e:
            raise ValueError("must be a base64-encoded UTF-8 shell script") from e

    @property
    def schedule_prefix(self) -> str:
        return f"{self.project_name}-{self.environment}-"

    @property
    def warning_target_arn(self) -> str:
        return self.warning_lambda_arn or self.auto_terminate_lambda_arn

    @property
    def subnets(self) -> tuple[str, ...]:
        """Subnets to try in order: SUBNET_IDS, else SUBNET_ID."""
        if self.subnet_ids:
            return self.subnet_ids
        return (self.subnet_id,) if self.subnet_id else ()


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    """(variable, message) pairs. Cross-field rules name their variables in the message."""
    out: list[tuple[str, str]] = []
    for item in error.errors():
        loc = item.get("loc") or ()
        message = str(item["msg"]).removeprefix("Value error, ")
        if loc:
            out.append((str(loc[0]), message))
        else:
            out.extend((name, message) for name in _VAR_NAME.findall(message)[:1])
    return out


_VAR_NAME = re.compile(r"\b[A-Z][A-Z_]{3,}\b")


def load_settings(environ: Mapping[str, str]) -> Settings:
    try:
        return Settings.model_validate(dict(environ))
    except ValidationError as e:
        problems = _problems(e)
        described = "; ".join(
            f"{name}: {message}" if not message.startswith(name) else message
            for name, message in problems
        )
        raise ConfigurationError(
            f"Invalid deployment configuration: {described}. Set the named environment "
            "variable(s) on the function (README, Configuration).",
            variables=sorted({name for name, _ in problems}),
        ) from e
