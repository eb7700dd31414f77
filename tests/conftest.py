"""Shared fixtures: dummy credentials first, moto before any client, an injected clock."""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest

# Dummy credentials and a region before boto3 is used anywhere: nothing may reach AWS.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="BastionOrchestratorTests",
    POWERTOOLS_DEV="false",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from tests.support import early_stack, moto_compat

moto_compat.lean_amis()  # speed, not behaviour (see there); before moto is imported
moto_compat.install()  # moto lacks one EC2 filter the sweep uses (see the module)

# Speed, not behaviour: moto gives every test a fresh boto3 session, and each would parse
# botocore's endpoint and service JSON again. One loader (a read-only cache) serves them all.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)

EVENTS = Path(__file__).parent / "events"


def pytest_addoption(parser: pytest.Parser) -> None:
    early_stack.add_option(parser)


def pytest_configure(config: pytest.Config) -> None:
    early_stack.configure(config)


ACCOUNT = "123456789012"
TERMINATOR_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:docustack-dev-auto-terminate"
SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/docustack-dev-scheduler"


def event(name: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    data.update(overrides)
    return data


@dataclass
class FakeLambdaContext:
    function_name: str = "docustack-dev-orchestrator"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orchestrator"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:  # as Lambda's: a 60 s function, just begun
        return 60_000

    def next(self) -> FakeLambdaContext:
        """Another invocation's context (a new request id; a retry keeps the old one)."""
        return replace(self, aws_request_id=str(uuid.uuid4()))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@dataclass
class FakeClock:
    """Starts a minute behind the wall clock (moto stamps LaunchTime with real time)."""

    current: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    )

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    from bastion_orchestrator.clock import system_clock
    from tests.support import roots

    fake = FakeClock()

    def wait(seconds: float) -> None:  # waiting moves the injected clock, not the wall clock
        fake.advance(seconds=seconds)

    roots.use_clock(fake, sleep=wait)
    yield fake
    roots.use_clock(system_clock)
