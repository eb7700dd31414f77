"""boto3 clients, created once per cold start, lazily, with botocore's standard retry mode.

Standard mode retries throttling (``RequestLimitExceeded``, ``ThrottlingException``) and
transient faults with exponential backoff; the attempt cap and timeouts keep every call
inside the functions' timeouts.

boto3 itself is imported on first use: a refused request (bad payload, bad signature, Slack
``help``) never pays for it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_ssm import SSMClient

# Worst case per call: 4 attempts x (3 s connect + 8 s read) + backoff (<= 1 + 2 + 4 s) = 51 s,
# inside the functions' 60 s timeout; a typical throttled call costs a few seconds.
RETRIES: dict[str, Any] = {"mode": "standard", "total_max_attempts": 4}
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 8


@cache
def boto_config() -> Config:
    from botocore.config import Config

    # A copy: botocore rewrites the dict it is given.
    return Config(
        retries=dict(RETRIES),  # type: ignore[arg-type]
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a ``ClientError``; None for anything else."""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return None


def error_message(error: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Message", "")) or str(error)
    return str(error)


class Clients:
    """One boto3 session and one client per service, made on first use, with our retries and
    timeouts. The composition root owns one per container; tests build their own."""

    def __init__(self) -> None:
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    def session(self) -> boto3.session.Session:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session()
        return self._session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            made = self.session().client(service, config=boto_config())  # type: ignore[call-overload]
            self._clients[service] = made
        return self._clients[service]

    def region(self) -> str | None:
        """The region clients are made for, without making one (the Slack ack path needs no
        EC2 client)."""
        name: str | None = self.session().region_name
        return name

    def created(self) -> list[Any]:
        """The clients made so far (instrumentation: the bench counts their calls)."""
        return list(self._clients.values())

    def ec2(self) -> EC2Client:
        made: EC2Client = self.client("ec2")
        return made

    def scheduler(self) -> EventBridgeSchedulerClient:
        made: EventBridgeSchedulerClient = self.client("scheduler")
        return made

    def ssm(self) -> SSMClient:
        made: SSMClient = self.client("ssm")
        return made

    def lambda_(self) -> LambdaClient:
        made: LambdaClient = self.client("lambda")
        return made
