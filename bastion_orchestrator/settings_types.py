"""The value types of the settings: comma-separated lists and the approvers' IAM map, as
their environment variables spell them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def comma_set(value: Any) -> Any:
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    return value


def comma_list(value: Any) -> Any:  # also any other ordered comma-separated list
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _principal_map(value: Any) -> Any:
    """``APPROVER_IAM_PRINCIPALS``: a JSON object, Slack id -> the IAM principals they sign as."""
    if isinstance(value, str):
        import json

        try:
            return json.loads(value)
        except ValueError as e:
            raise ValueError(
                'a JSON object such as {"U0APPROVER1": ["arn:aws:iam::123456789012:user/ann"]}'
            ) from e
    return value


CsvSet = Annotated[frozenset[str], BeforeValidator(comma_set)]
# Whom an approver signs as on the IAM door: an IAM user, a role (every session of it), one
# assumed-role session, a federated user, or the account root: every caller shape the door takes.
_SIGNS_AS = (
    r"^arn:aws[a-z-]*:(iam::[0-9]{12}:((role|user)/[A-Za-z0-9_+=,.@/-]+|root)"
    r"|sts::[0-9]{12}:(assumed-role/[A-Za-z0-9_+=,.@-]+|federated-user)/[A-Za-z0-9_+=,.@-]+)$"
)
PrincipalMap = Annotated[
    dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]+$", max_length=64)],
        frozenset[Annotated[str, Field(pattern=_SIGNS_AS, max_length=2048)]],
    ],
    BeforeValidator(_principal_map),
]
SubnetList = Annotated[
    tuple[Annotated[str, Field(pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")], ...],
    BeforeValidator(comma_list),
]
