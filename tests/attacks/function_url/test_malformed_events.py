"""The Function URL transport both HTTP doors share, sent events AWS would never deliver: odd
shapes and types, bodies nested deep, huge, not base64 or not UTF-8, methods other than POST.
Each is a 400 or 401 with a JSON body, never a raise (each raise would trip the error alarm),
and nothing is queued or launched."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

import handler
from tests.support.doors import SECRET, http_call, signed
from tests.support.iam_requests import iam_event
from tests.support.slack_requests import function_url_event, slash_command

pytestmark = pytest.mark.integration


def _slack(clock: Any, body: str = "a=b") -> dict[str, Any]:
    return signed(clock, body)


def _ctx(clock: Any, **fields: Any) -> dict[str, Any]:
    event = _slack(clock)
    event["requestContext"] = {**event["requestContext"], **fields}
    return event


def _http(clock: Any, http: Any) -> dict[str, Any]:
    return _ctx(clock, http=http)


def _headers(clock: Any, headers: Any) -> dict[str, Any]:
    return {**_slack(clock), "headers": headers}


def _plain(clock: Any, body: Any, encoded: Any = False) -> dict[str, Any]:
    return {**_slack(clock), "body": body, "isBase64Encoded": encoded}


def _iam_as(iam: Any) -> dict[str, Any]:
    event = iam_event({"action": "create"})
    event["requestContext"]["authorizer"]["iam"] = iam
    return event


ODD_SHAPES = {
    "requestContext empty": lambda c: _ctx(c, http=None) | {"requestContext": {}},
    "requestContext null": lambda c: {**_slack(c), "requestContext": None},
    "http missing": lambda c: {**_slack(c), "requestContext": {"requestId": "r"}},
    "http a list": lambda c: _http(c, [{"method": "POST"}]),
    "method a number": lambda c: _http(c, {"method": 1, "path": "/"}),
    "method null": lambda c: _http(c, {"method": None}),
    "method a list": lambda c: _http(c, {"method": ["POST"]}),
    "method an object": lambda c: _http(c, {"method": {"POST": True}}),
    "requestId a number": lambda c: _ctx(c, requestId=7),
    "requestId an object": lambda c: _ctx(c, requestId={"a": 1}),
    "authorizer a string": lambda c: _ctx(c, authorizer="iam"),
    "authorizer a list": lambda c: _ctx(c, authorizer=[{"iam": {}}]),
    "iam a list": lambda c: _iam_as([{"userArn": "x"}]),
    "iam a string": lambda c: _iam_as("arn:aws:iam::123456789012:root"),
    "iam a number": lambda c: _iam_as(0),
    "iam false": lambda c: _iam_as(False),
    "iam empty object": lambda c: _iam_as({}),
    "headers null": lambda c: _headers(c, None),
    "headers a string": lambda c: _headers(c, "x-slack-signature: v0=00"),
    "headers a number": lambda c: _headers(c, 5),
    "header value null": lambda c: _headers(c, {"x-slack-signature": None}),
    "header value a list": lambda c: _headers(c, {"x-slack-signature": ["v0=00"]}),
    "header value an object": lambda c: _headers(c, {"x-slack-request-timestamp": {"a": 1}}),
    "timestamp header a bool": lambda c: _headers(c, {"x-slack-request-timestamp": True}),
    "body a list": lambda c: _plain(c, ["command=/infra"]),
    "body an object": lambda c: _plain(c, {"command": "/infra"}),
    "body a bool": lambda c: _plain(c, True),
    "body a float": lambda c: _plain(c, 1.5),
    "isBase64Encoded 1": lambda c: _plain(c, "YT1i", 1),
    "isBase64Encoded null": lambda c: _plain(c, "YT1i", None),
    "isBase64Encoded 'true'": lambda c: _plain(c, "YT1i", "true"),
    "isBase64Encoded a list": lambda c: _plain(c, "YT1i", [True]),
    "base64 body with non-ascii": lambda c: _plain(c, "YT1i\u00e9", True),
    "base64 body with a NUL": lambda c: _plain(c, "YT1i\x00", True),
    "base64 body missing padding": lambda c: _plain(c, "YT1", True),
    "base64 body of invalid utf-8": lambda c: _plain(c, base64.b64encode(b"a=\xc3").decode(), True),
    "base64 body of an overlong NUL": lambda c: _plain(
        c, base64.b64encode(b"a=\xc0\x80").decode(), True
    ),
    "base64 body of a surrogate": lambda c: _plain(
        c, base64.b64encode(b"a=\xed\xa0\x80").decode(), True
    ),
    "plain body with a lone surrogate": lambda c: _plain(c, "command=/infra&x=\ud800"),
    "iam body with a lone surrogate": lambda c: {**iam_event({}), "body": '{"a": "\ud800"}'},
    "huge base64 of invalid utf-8": lambda c: _plain(
        c, base64.b64encode(b"\xff" * 3_000_000).decode(), True
    ),
    "huge non-base64 body marked base64": lambda c: _plain(c, "%" * 5_000_000, True),
}


def test_odd_event_shapes_answer_400_or_401_and_change_nothing(
    aws, signing, clock, lambda_context, lambda_async
):
    answered: dict[str, Any] = {}
    for name, make in ODD_SHAPES.items():
        # Given a Function URL event with a field of a type or value AWS would never send
        # When it arrives (an exception out of lambda_handler fails the test)
        status, body = http_call(make(clock), lambda_context)
        if status not in (400, 401) or "Traceback" in json.dumps(body):
            answered[name] = (status, body)
    # Then each is refused before any door acts: 400 or 401, a JSON object, nothing queued
    assert answered == {}
    assert lambda_async == [] and aws.running() == []


def _signed_slack(clock: Any, body: str, **headers: str) -> dict[str, Any]:
    ts = int(clock().timestamp())
    event = function_url_event(body, secret=SECRET, timestamp=ts)
    event["headers"].update(headers)
    return event


def _raw_body(clock: Any, raw: bytes) -> dict[str, Any]:
    event = function_url_event("x", secret=SECRET, timestamp=int(clock().timestamp()))
    event["body"] = base64.b64encode(raw).decode()
    return event


MALFORMED: dict[str, Any] = {
    "non-numeric timestamp": lambda c: _signed_slack(
        c, slash_command("bastion create"), **{"x-slack-request-timestamp": "soon"}
    ),
    "non-ascii signature": lambda c: _signed_slack(
        c, slash_command("bastion create"), **{"x-slack-signature": "v0=é" + "0" * 63}
    ),
    "huge timestamp": lambda c: _signed_slack(
        c, slash_command("bastion create"), **{"x-slack-request-timestamp": "9" * 400}
    ),
    "invalid base64": lambda c: {**_signed_slack(c, "a=b"), "body": "@@not base64@@"},
    "non-utf8 body": lambda c: _raw_body(c, b"\xff\xfe command=/infra"),
    "payload not an object": lambda c: _signed_slack(c, "payload=%5B1%2C2%5D"),
    "payload not json": lambda c: _signed_slack(c, "payload=%7Bnope"),
    "actions not objects": lambda c: _signed_slack(
        c,
        "payload="
        + json.dumps(
            {"type": "block_actions", "user": {"id": "U12345"}, "actions": ["bastion_destroy"]}
        ),
    ),
    "user not an object": lambda c: _signed_slack(
        c, "payload=" + json.dumps({"type": "block_actions", "user": "U1", "actions": []})
    ),
    "requestContext a string": lambda c: {**_signed_slack(c, "a=b"), "requestContext": "x"},
    "requestContext a list": lambda c: {**_signed_slack(c, "a=b"), "requestContext": [1]},
    "http not an object": lambda c: {**_signed_slack(c, "a=b"), "requestContext": {"http": 5}},
    "headers a list": lambda c: {**_signed_slack(c, "a=b"), "headers": ["x"]},
    "header value a number": lambda c: {**_signed_slack(c, "a=b"), "headers": {"x": 1}},
    "body a number": lambda c: {**_signed_slack(c, "a=b"), "body": 12},
    "isBase64Encoded a string": lambda c: {**_signed_slack(c, "a=b"), "isBase64Encoded": "yes"},
    "GET with no body": lambda c: {
        "requestContext": {"http": {"method": "GET", "path": "/"}},
        "rawPath": "/",
        "headers": {},
    },
    "unsigned form": lambda c: function_url_event(
        slash_command("bastion create"), secret=None, timestamp=int(c().timestamp())
    ),
    "iam body not json": lambda c: iam_event("{nope"),
    "iam body a list": lambda c: iam_event([{"action": "create"}]),
    "iam body base64 garbage": lambda c: {**iam_event({}), "isBase64Encoded": True, "body": "%"},
    "iam authorizer a string": lambda c: _with_iam(iam_event({"action": "create"}), "alice"),
    "iam identity without arn": lambda c: _with_iam(iam_event({"action": "create"}), {"x": 1}),
    "iam GET": lambda c: iam_event("", method="GET"),
}


def _with_iam(event: dict[str, Any], iam: Any) -> dict[str, Any]:
    event["requestContext"]["authorizer"]["iam"] = iam
    return event


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_http_doors_answer_400_or_401_and_change_nothing(
    aws, slack, clock, lambda_context, lambda_async, name
):
    # When a malformed request arrives at a Function URL
    response = handler.lambda_handler(MALFORMED[name](clock), lambda_context)
    # Then it is refused with 400 or 401 and a JSON body, and nothing is queued or launched
    assert response["statusCode"] in (400, 401), response
    assert isinstance(json.loads(response["body"]), dict)
    assert lambda_async == [] and aws.running() == []


def test_a_malformed_answer_never_echoes_the_request(aws, signing, clock, lambda_context):
    # Given a request whose body is not base64 and carries a marker (and a fake secret)
    marker = "xoxb-LEAK-" + "Z" * 40
    event = _plain(clock, "%%" + marker, True)
    # When it is refused as malformed
    status, body = http_call(event, lambda_context)
    # Then the answer says why without repeating any of it
    assert status == 400
    assert marker not in json.dumps(body) and "Z" * 10 not in json.dumps(body)


def test_only_post_reaches_a_verb_even_when_signed(
    aws, signing, clock, lambda_context, lambda_async
):
    # Given a correctly signed create, sent with another method (or a method in odd case)
    for method in ("GET", "PUT", "DELETE", "OPTIONS", "POST\x00", "P0ST"):
        event = signed(clock, slash_command("bastion create dev INC-1"))
        event["requestContext"]["http"]["method"] = method
        # When it arrives
        status, _ = http_call(event, lambda_context)
        # Then it is not served and nothing is queued
        assert status == 400, method
    assert lambda_async == [] and aws.running() == []


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_iam(clock: Any) -> dict[str, Any]:
    return iam_event(_nested(100_000))


def _deep_slack_payload(clock: Any) -> dict[str, Any]:
    return signed(clock, urlencode({"payload": _nested(100_000)}))


@pytest.mark.parametrize(
    "make", [_deep_iam, _deep_slack_payload], ids=["iam-body", "slack-signed-payload"]
)
def test_deeply_nested_json_is_a_400_not_a_500(
    aws, slack, clock, lambda_context, lambda_async, make
):
    # HOLE: deep JSON nesting raises RecursionError, not caught by `except ValueError`: a 500.
    # The request falls through to the INTERNAL_ERROR handler, is logged as an exception and
    # counted as InternalErrors: any IAM-door caller can trip the error alarm at will.
    # Given a body that is JSON-shaped but nested 100,000 deep
    event = make(clock)
    # When it reaches a Function URL door
    response = handler.lambda_handler(event, lambda_context)
    # Then it is refused as malformed (400), not an internal error, and nothing happens
    assert response["statusCode"] == 400, response
    assert lambda_async == [] and aws.running() == []


def test_huge_bodies_are_refused_cheaply_and_change_nothing(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given a ~5 MB unsigned form and a ~5 MB IAM body (Function URLs accept up to 6 MB)
    big_form = "command=%2Finfra&text=bastion+create&user_id=U1&junk=" + "A" * 5_000_000
    unsigned = function_url_event(big_form, secret=None, timestamp=int(clock().timestamp()))
    big_iam = iam_event({"action": "create", "reason": "x" * 5_000_000})
    # When they arrive
    first = handler.lambda_handler(unsigned, lambda_context)
    second = handler.lambda_handler(big_iam, lambda_context)
    # Then the unsigned one is 401, the oversized reason a 400 that does not echo it back
    assert first["statusCode"] == 401
    assert second["statusCode"] == 400 and len(second["body"]) < 2_000
    assert lambda_async == [] and aws.running() == []


def test_a_signed_request_with_a_huge_form_is_answered(
    aws, signing, clock, lambda_context, lambda_async
):
    # Given a correctly signed ~4 MB slash command (Function URLs accept 6 MB), many fields
    body = (
        slash_command("bastion list") + "&" + urlencode({f"k{i}": "v" * 40 for i in range(60_000)})
    )
    # When it arrives
    status, _ = http_call(signed(clock, body), lambda_context)
    # Then it is served (list is quick) and nothing is queued
    assert status == 200
    assert lambda_async == []
