"""Control, bidi, separator and shell characters in a create's text fields, on the direct and IAM
doors: VALIDATION_ERROR, and nothing launches."""

from __future__ import annotations

import pytest

from tests.support.doors import direct, via_iam

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reason", "ok\u2028forged audit line"),
        ("reason", "ok\u202etxt.exe"),
        ("reason", "\x1b[2J\x1b[31mred"),
        ("reason", "tab\tseparated"),
        ("display_name", "John\u0085Doe"),
        ("display_name", "John\u200fDoe"),
        ("display_name", "x" * 129),
        ("username", "john doe"),
        ("username", "jöhn"),
        ("user_id", "U1\u0000"),
        ("rds_endpoint", "db.example.com\n"),
        ("rds_endpoint", "db.example.com:5432"),
        ("rds_endpoint", "-db.example.com"),
    ],
)
def test_hostile_text_fields_are_refused_on_the_direct_and_iam_doors(
    aws, clock, lambda_context, field, value
):
    # When a direct or IAM create carries control, bidi, separator or shell characters
    payload = {"action": "create", "user_id": "U1", "username": "u", field: value}
    refused = direct(lambda_context, payload)
    iam_body = {"action": "create", field: value}
    status, iam_refused = via_iam(lambda_context, iam_body)
    # Then both are VALIDATION_ERROR and nothing launches
    assert refused["error"] == "VALIDATION_ERROR"
    if field != "user_id":
        assert (status, iam_refused["error"]) == (400, "VALIDATION_ERROR")
    assert aws.running() == []
