"""Lambda: the door hands slow work to an asynchronous invocation of its own function."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class SelfInvoker:
    def __init__(self, client: Callable[[], LambdaClient]) -> None:
        self._client = client

    def invoke_async(self, function_arn: str, payload: dict[str, Any]) -> None:
        """InvocationType Event: Lambda queues it (and retries it on failure)."""
        self._client().invoke(
            FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(payload)
        )
