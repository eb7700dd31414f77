"""The Function URL transport (payload format 2.0) shared by the Slack and IAM doors.

It never raises, whatever arrives. The event's shape is checked before anything reads it
(``requestContext`` of the wrong type, non-string headers, a body that is not valid base64 or
UTF-8 all answer 400). A request whose ``requestContext.authorizer.iam`` is present came
through the ``AWS_IAM`` URL (AWS fills it; nobody on the public URL can) and goes to the IAM
door; every other request must carry Slack's signature, checked by the Slack door before
anything is parsed, or it answers 401.

There is one route (a door is chosen by what the request carries, not by its path), so the
transport answers by itself: Powertools' ``LambdaFunctionUrlResolver`` would add nothing here
but its import, every Powertools event source and resolver, 60-90 ms of each cold Slack
request (``make bench``), which Slack's 3-second limit pays for.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bastion_orchestrator.observability import count, logger


@dataclass(frozen=True)
class HttpRequest:
    method: str
    headers: dict[str, str]  # lower-case names
    body: str  # the raw body, decoded from base64 when it came so
    iam: dict[str, Any] | None  # requestContext.authorizer.iam (IAM door only)
    request_id: str


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]


class Door(Protocol):
    def __call__(self, request: HttpRequest, context: Any) -> HttpAnswer: ...


@dataclass(frozen=True)
class Route:
    """One HTTP door in the registry: its name, whether a request is its, and the door.
    A new door is one more route (``composition.Root.http_doors``)."""

    name: str
    accepts: Callable[[HttpRequest], bool]
    door: Door


class Malformed(Exception):
    """The event is not a Function URL request we can read (answered 400)."""


def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A Function URL response (payload format 2.0), JSON."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def handle(event: dict[str, Any], context: Any, routes: Sequence[Route]) -> dict[str, Any]:
    try:
        request = parse(event)
    except Malformed as e:
        count("MalformedHttpRequests")
        logger.warning("malformed Function URL request", extra={"reason": str(e)})
        return answer(400, {"error": "malformed_request", "message": str(e)})
    try:
        door = next(route.door for route in routes if route.accepts(request))
        result = door(request, context)
        return answer(result.status, result.body)  # serialised here: a bad body is a 500 too
    except Exception as error:
        logger.exception("Function URL request failed", extra={"error": repr(error)})
        count("InternalErrors")
        return answer(
            500,
            {
                "success": False,
                "error": "INTERNAL_ERROR",
                "message": "Unexpected failure; nothing was changed. Retry, and check the "
                "function's logs if it persists.",
            },
        )


def parse(event: dict[str, Any]) -> HttpRequest:
    context = event.get("requestContext")
    if not isinstance(context, dict):
        raise Malformed("requestContext must be an object")
    http = context.get("http")
    if not isinstance(http, dict) or not isinstance(http.get("method"), str):
        raise Malformed("requestContext.http.method must be a string")
    headers = event.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise Malformed("headers must be an object of strings")
    authorizer = context.get("authorizer")
    iam = authorizer.get("iam") if isinstance(authorizer, dict) else None
    if iam is not None and not isinstance(iam, dict):
        raise Malformed("requestContext.authorizer.iam must be an object")
    request_id = context.get("requestId")
    return HttpRequest(
        method=http["method"].upper(),
        headers={k.lower(): v for k, v in headers.items()},
        body=_body(event),
        iam=iam,
        request_id=request_id if isinstance(request_id, str) else "",
    )


def _body(event: dict[str, Any]) -> str:
    body = event.get("body")
    if body is None:
        return ""
    if not isinstance(body, str):
        raise Malformed("body must be a string")
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise Malformed("isBase64Encoded must be a boolean")
    try:
        raw = base64.b64decode(body, validate=True) if encoded else body.encode("utf-8")
        return raw.decode("utf-8")
    except (binascii.Error, ValueError) as e:  # UnicodeError is a ValueError
        raise Malformed(f"body is not valid {'base64 of ' if encoded else ''}UTF-8") from e
