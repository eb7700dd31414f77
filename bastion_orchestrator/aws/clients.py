"""boto3 clients, created once per cold start, lazily, with botocore's standard retry mode.

Standard mode retries throttling (``RequestLimitExceeded``, ``ThrottlingException``) and
transient faults with exponential backoff; the attempt cap and timeouts keep the total well
under the functions' timeouts.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_ssm import SSMClient

BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
)


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    if service not in _clients:
        _clients[service] = _session().client(service, config=BOTO_CONFIG)  # type: ignore[call-overload]
    return _clients[service]


def created() -> list[Any]:
    """The clients made so far (instrumentation: the bench counts their calls)."""
    return list(_clients.values())


def ec2() -> EC2Client:
    return client("ec2")  # type: ignore[no-any-return]


def scheduler() -> EventBridgeSchedulerClient:
    return client("scheduler")  # type: ignore[no-any-return]


def ssm() -> SSMClient:
    return client("ssm")  # type: ignore[no-any-return]


def lambda_() -> LambdaClient:
    return client("lambda")  # type: ignore[no-any-return]


def reset() -> None:
    """Forget every client (tests start moto, or change region/endpoint, then call this)."""
    _clients.clear()
    _session.cache_clear()
