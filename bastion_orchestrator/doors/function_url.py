"""The Function URL transport (payload format 2.0) shared by the Slack and IAM doors.

It never raises, whatever arrives. The event's shape is checked before anything reads it
(``requestContext`` of the wrong type, non-string headers, a body that is not valid base64 or
UTF-8 all answer 400). A request whose ``requestContext.authorizer.iam`` is present came
through the ``AWS_IAM`` URL (AWS fills it; nobody on the public URL can) and goes to the IAM
door; every other request must carry Slack's signature, checked by the Slack door before
anything is parsed, or it answers 401.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from bastion_orchestrator.observability import count, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response


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


class Malformed(Exception):
    """The event is not a Function URL request we can read (answered 400)."""


def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A Function URL response, built without the resolver (for events it cannot read)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def handle(event: dict[str, Any], context: Any, *, slack: Door, iam: Door) -> dict[str, Any]:
    try:
        request = parse(event)
    except Malformed as e:
        count("MalformedHttpRequests")
        logger.warning("malformed Function URL request", extra={"reason": str(e)})
        return answer(400, {"error": "malformed_request", "message": str(e)})
    app = _resolver()
    app.append_context(request=request, door=iam if request.iam is not None else slack)  # type: ignore[no-untyped-call]
    return app.resolve(_normalised(request), context)


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


def _normalised(request: HttpRequest) -> dict[str, Any]:
    """The event as the resolver reads it: only fields already checked."""
    return {
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": request.method, "path": "/"}, "stage": "$default"},
        "body": None,
        "isBase64Encoded": False,
    }


@cache
def _resolver() -> LambdaFunctionUrlResolver:
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver

    app = LambdaFunctionUrlResolver()
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    # Recognised by what the request carries (a Slack form or an IAM authorizer), not its path.
    @app.route(".+", method=methods)
    def any_request() -> Response[str]:
        request: HttpRequest = app.context["request"]
        door: Door = app.context["door"]
        result = door(request, app.lambda_context)
        return _response(result.status, result.body)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def crashed(error: Exception) -> Response[str]:
        logger.exception("Function URL request failed", extra={"error": repr(error)})
        count("InternalErrors")
        return _response(
            500,
            {
                "success": False,
                "error": "INTERNAL_ERROR",
                "message": "Unexpected failure; nothing was changed. Retry, and check the "
                "function's logs if it persists.",
            },
        )

    return app


def _response(status: int, body: dict[str, Any]) -> Response[str]:
    from aws_lambda_powertools.event_handler import Response

    return Response(status_code=status, content_type="application/json", body=json.dumps(body))
