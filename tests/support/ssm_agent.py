"""moto has no ``ssm:DescribeInstanceInformation``. This answers that one operation on our SSM
client, in order (the last answer repeats), and nothing else: other SSM calls on the same
client (Powertools' GetParameter for the default image) still reach moto."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EVENT = "before-call.ssm.DescribeInstanceInformation"


@contextmanager
def agent_answers(*answers: list[dict[str, Any]]) -> Iterator[list[int]]:
    """Each answer is an ``InstanceInformationList``; yields the count of calls answered."""
    from botocore.awsrequest import AWSResponse

    from tests.support.roots import clients

    calls = [0]

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        items = answers[min(calls[0], len(answers) - 1)]
        calls[0] += 1
        return AWSResponse("https://ssm", 200, {}, None), {"InstanceInformationList": items}  # type: ignore[arg-type]

    events = clients.ssm().meta.events
    events.register(EVENT, answer)
    try:
        yield calls
    finally:
        events.unregister(EVENT, answer)


@contextmanager
def no_sleep() -> Iterator[list[float]]:
    """Records every sleep (the wiring's injected one and ``time.sleep``) instead of sleeping:
    a continuation that waits for an agent shows up here."""
    import time

    from tests.support import roots

    slept: list[float] = []
    clock, sleep = roots.current().clock, roots.current().sleep
    real = time.sleep
    roots.use_clock(clock, sleep=slept.append)
    setattr(time, "sleep", slept.append)  # noqa: B010 (typeshed's sleep takes SupportsIndex)
    try:
        yield slept
    finally:
        setattr(time, "sleep", real)  # noqa: B010
        roots.use_clock(clock, sleep=sleep)
