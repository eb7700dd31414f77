"""Faults injected where botocore really handles them: a ``before-send`` handler answers the
HTTP request, so parsing, retry decisions and backoff all run (a Stubber answers before the
retry loop and would prove nothing about it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def ec2_error(code: str, status: int = 400) -> AWSResponse:
    body = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code}</Message>"
        "</Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID>"
        "</Response>"
    ).encode()
    return AWSResponse("https://ec2.us-east-1.amazonaws.com/", status, HTTPHeaders(), _Raw(body))


def json_error(code: str, status: int = 400) -> AWSResponse:
    body = f'{{"message": "injected {code}"}}'.encode()
    headers = HTTPHeaders()
    headers["x-amzn-ErrorType"] = code
    headers["Content-Type"] = "application/json"
    return AWSResponse("https://scheduler.us-east-1.amazonaws.com/", status, headers, _Raw(body))


@dataclass
class Injector:
    """Answers the first ``times`` attempts of an operation with an error response."""

    plan: dict[str, tuple[AWSResponse, int]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)

    def fail(self, operation: str, response: AWSResponse, times: int) -> Injector:
        self.plan[operation] = (response, times)
        return self

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        self.attempts[operation] += 1
        if operation in self.plan:
            response, times = self.plan[operation]
            if self.injected[operation] < times:
                self.injected[operation] += 1
                # botocore emits before-send to every handler (the first answer wins), so
                # moto's handler would still run the request: send it nowhere instead.
                request.url = "http://127.0.0.1:9/injected-fault"
                return response
        return None


@contextmanager
def injected(client: Any, injector: Injector, slept: list[float]) -> Iterator[Injector]:
    """Register on one client; botocore's backoff sleeps are recorded in ``slept``, not slept."""
    import botocore.endpoint

    clock: Any = vars(botocore.endpoint)["time"]  # the module botocore's backoff sleeps through
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"before-send.{service}", injector)  # ahead of moto
    original = clock.sleep
    clock.sleep = slept.append
    try:
        yield injector
    finally:
        clock.sleep = original
        client.meta.events.unregister(f"before-send.{service}", injector)
