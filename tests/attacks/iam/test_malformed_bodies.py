"""IAM-door bodies the contract does not allow (odd JSON values, unknown actions and fields, hours
past the cap) are a 400 and launch nothing; each refusal has the contract's HTTP code."""

from __future__ import annotations

import pytest

from tests.support.doors import via_iam
from tests.support.iam_requests import ALICE_ID

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "raw",
    [
        '{"action": "create", "hours": NaN}',
        '{"action": "create", "hours": Infinity}',
        '{"action": "create", "hours": -Infinity}',
        '{"action": "create", "hours": 1e400}',
        '{"action": "create", "hours": -0.0}',
        '{"action": "create", "hours": true}',
        '{"action": "create", "hours": "2"}',
        '{"action": "create", "rds_port": 5432.0}',
        '{"action": "create", "rds_port": 1' + "0" * 5000 + "}",
        '{"action": ["create"]}',
        '{"action": "CREATE"}',
        '{"action": "create\\u0000"}',
        '{"action": "status", "instance_id": "I-0123456789ABCDEF0"}',
        '{"action": "status", "instance_id": "i-0123456789abcdef0\\n"}',
        '{"action": "create", "rds_endpoint": "db.example.com;id"}',
    ],
)
def test_iam_bodies_with_odd_json_values_are_400(aws, clock, lambda_context, raw):
    # When a signed IAM caller sends JSON that Python parses but the contract does not allow
    status, body = via_iam(lambda_context, raw)
    # Then it is a 400 VALIDATION_ERROR and nothing is launched
    assert (status, body.get("error")) == (400, "VALIDATION_ERROR"), body
    assert aws.running() == []


def test_the_iam_door_answers_with_the_contracts_http_codes(aws, clock, lambda_context):
    cases = [
        ({"action": "status"}, 404, "NOT_FOUND"),  # no bastion yet
        ({"action": "status", "instance_id": "i-0123456789abcdef0"}, 404, "NOT_FOUND"),
        ({"action": "create", "hours": 0}, 400, "VALIDATION_ERROR"),
        ({"action": "create", "hours": 99}, 400, "VALIDATION_ERROR"),  # past the 12 h cap
        ({"action": "reboot"}, 400, "VALIDATION_ERROR"),
        ({"action": "create", "unknown": 1}, 400, "VALIDATION_ERROR"),
    ]
    for request, status, code in cases:
        got, body = via_iam(lambda_context, request)
        assert (got, body["error"]) == (status, code), request
        assert body["message"]
    assert aws.running() == []
    # And a create, then its own status with no id at all
    assert via_iam(lambda_context, {"action": "create", "hours": 1.5})[0] == 200
    status, body = via_iam(lambda_context, {"action": "status"})
    assert status == 200 and body["user_id"] == ALICE_ID
    assert body["time_remaining_seconds"] == pytest.approx(5400, abs=5)
    # And a second create is answered with the existing one, not a second launch
    _, again = via_iam(lambda_context, {"action": "create"})
    assert again["existing"] is True and len(aws.running()) == 1
