"""Property-based: whatever arrives, the handlers answer (never raise), refuse with a
structured error, and a refused request launches or changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auto_terminate
import handler
from tests.support.slack_requests import function_url_event, slash_command

pytestmark = pytest.mark.integration

CODES = {
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "FORBIDDEN",
    "LIMIT_EXCEEDED",
    "CAPACITY_UNAVAILABLE",
    "CONFIGURATION_ERROR",
    "INTERNAL_ERROR",
}
FIELDS = [
    "action",
    "user_id",
    "username",
    "display_name",
    "vpc_id",
    "subnet_id",
    "rds_security_group_id",
    "rds_endpoint",
    "rds_port",
    "reason",
    "instance_id",
]
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
plausible = st.sampled_from(
    [
        "U12345",
        "john.doe",
        "i-0123456789abcdef0",
        "i-01234567",
        "subnet-0123456789abcdef0",
        "sg-01234567",
        "vpc-01234567",
        "db.example.com",
        "I-0123456789ABCDEF0",
        "",
        " ",
        "a" * 300,
        "x\x00y",
        "../../etc/passwd",
        "<script>",
        "create",
        "status",
        "extend",
        "destroy",
        "list",
    ]
)
payloads = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from([*FIELDS, "force", "Action", "instance_type"]),
        plausible
        | json_values
        | st.sampled_from(["create", "status", "extend", "destroy", "list", "nuke"]),
        max_size=7,
    ),
)


def _refused_cleanly(response: Any) -> bool:
    json.dumps(response)
    return (
        isinstance(response, dict)
        and response.get("success") is False
        and response.get("error") in CODES
        and bool(response.get("message"))
    )


@SETTINGS
@given(payload=payloads)
def test_any_direct_payload_gets_an_answer_and_refusals_change_nothing(
    aws, clock, lambda_context, payload
):
    before = set(aws.running())
    response = handler.lambda_handler(payload, lambda_context)
    json.dumps(response)
    assert isinstance(response, dict) and isinstance(response.get("success"), bool)
    if not response["success"]:
        assert _refused_cleanly(response)
        assert set(aws.running()) == before
    elif set(aws.running()) != before:  # only a create may launch, and only one
        assert isinstance(payload, dict) and payload.get("action") == "create"
        assert len(set(aws.running()) - before) == 1


@SETTINGS
@given(
    event=json_values
    | st.dictionaries(
        st.sampled_from(["action", "instance_id", "x"]),
        plausible | st.sampled_from(["warn", "terminate", "sweep"]),
        max_size=3,
    )
)
def test_any_scheduler_event_is_answered_or_raised_never_half_done(
    aws, clock, lambda_context, event
):
    response = auto_terminate.lambda_handler(event, lambda_context)
    json.dumps(response)
    assert response["success"] is True or response["error"] == "VALIDATION_ERROR"


@SETTINGS
@given(
    body=st.text(max_size=400) | st.builds(slash_command, st.text(max_size=60)),
    signed=st.booleans(),
    skew=st.integers(-900, 900),
)
def test_any_slack_body_is_401_unless_signed_and_fresh(
    aws, slack, clock, lambda_context, lambda_async, body, signed, skew
):
    secret = "8f742231b10e8888abcd99yyyzzz85a5" if signed else "an-attacker-guess"
    event = function_url_event(body, secret=secret, timestamp=int(clock().timestamp()) + skew)
    response = handler.lambda_handler(event, lambda_context)
    status = response["statusCode"]
    if not signed or abs(skew) > 300:
        assert status == 401
        assert lambda_async == []
    else:
        assert status in {200, 400}
        json.loads(response["body"])
    assert aws.running() == []  # the door itself never launches: the async job does
    lambda_async.clear()
