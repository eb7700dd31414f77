"""Slack's signature gate: Slack's own published request altered one part at a time, replayed
outside its 5 minutes, unsigned, or signed with a guessed or blank secret. Each is a 401 before
anything is parsed, and nothing of the slow half is touched."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import handler
from tests.conftest import EVENTS
from tests.support.doors import SECRET, http_call
from tests.support.slack_requests import function_url_event, sign, slash_command

pytestmark = pytest.mark.integration


VECTOR = json.loads((EVENTS / "slack-signature-vector.json").read_text())


def _vector_event(**overrides: Any) -> dict[str, Any]:
    fields = {
        "body": VECTOR["body"],
        "timestamp": VECTOR["timestamp"],
        "signature": VECTOR["signature"],
        "base64": True,
        **overrides,
    }
    event = function_url_event(
        fields["body"], secret=None, timestamp=0, base64_body=fields["base64"]
    )
    event["headers"]["x-slack-request-timestamp"] = fields["timestamp"]
    event["headers"]["x-slack-signature"] = fields["signature"]
    return event


@pytest.fixture
def at_vector_time(clock):
    clock.current = datetime.fromtimestamp(int(VECTOR["timestamp"]), UTC) + timedelta(seconds=5)
    return clock


def test_the_vector_signs_with_the_fixtures_secret():
    # The vector is Slack's own; the slack fixture stores the same signing secret.
    assert VECTOR["signing_secret"] == SECRET
    ts = int(VECTOR["timestamp"])
    assert sign(SECRET, ts, VECTOR["body"]) == VECTOR["signature"]


@pytest.mark.parametrize("base64_body", [True, False], ids=["base64", "plain"])
def test_slacks_published_request_is_accepted_however_the_url_encodes_it(
    aws, signing, at_vector_time, lambda_context, base64_body
):
    # When Slack's published example arrives within its 5 minutes, base64 or not
    status, body = http_call(_vector_event(base64=base64_body), lambda_context)
    # Then it passes the gate (a help answer: its text is empty)
    assert status == 200, body


def _flip(text: str, at: int) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :]


FORGERIES = {
    "one body byte changed": {"body": VECTOR["body"].replace("roadrunner", "roadrunnes")},
    "body with a trailing newline": {"body": VECTOR["body"] + "\n"},
    "body with a trailing &": {"body": VECTOR["body"] + "&"},
    "body with a user_id appended": {"body": VECTOR["body"] + "&user_id=UADMIN"},
    "body truncated": {"body": VECTOR["body"][:-1]},
    "timestamp + 1": {"timestamp": str(int(VECTOR["timestamp"]) + 1)},
    "timestamp with a leading zero": {"timestamp": "0" + VECTOR["timestamp"]},
    "timestamp with a leading +": {"timestamp": "+" + VECTOR["timestamp"]},
    "timestamp with spaces": {"timestamp": " " + VECTOR["timestamp"] + " "},
    "timestamp with underscores": {
        "timestamp": VECTOR["timestamp"][:4] + "_" + VECTOR["timestamp"][4:]
    },
    "timestamp in arabic digits": {
        "timestamp": VECTOR["timestamp"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    },
    "timestamp as a float": {"timestamp": VECTOR["timestamp"] + ".0"},
    "timestamp negative": {"timestamp": "-" + VECTOR["timestamp"]},
    "timestamp empty": {"timestamp": ""},
    "signature last hex digit flipped": {"signature": _flip(VECTOR["signature"], -1)},
    "signature in upper case hex": {"signature": "v0=" + VECTOR["signature"][3:].upper()},
    "signature with V0 prefix": {"signature": "V0=" + VECTOR["signature"][3:]},
    "signature v1": {"signature": "v1=" + VECTOR["signature"][3:]},
    "signature without prefix": {"signature": VECTOR["signature"][3:]},
    "signature truncated": {"signature": VECTOR["signature"][:-2]},
    "signature with a trailing space": {"signature": VECTOR["signature"] + " "},
    "signature with a trailing newline": {"signature": VECTOR["signature"] + "\n"},
    "signature twice, comma joined": {"signature": VECTOR["signature"] + "," + VECTOR["signature"]},
    "signature only the prefix": {"signature": "v0="},
    "signature of the raw secret as hex": {"signature": "v0=" + SECRET.encode().hex()},
    "signature with the continuation key": {
        "signature": "v0="
        + hmac.new(
            hmac.new(
                SECRET.encode(), b"bastion-orchestrator/continuation/v1", hashlib.sha256
            ).digest(),
            f"v0:{VECTOR['timestamp']}:{VECTOR['body']}".encode(),
            hashlib.sha256,
        ).hexdigest()
    },
}


def test_an_altered_copy_of_slacks_request_is_401(
    aws, signing, at_vector_time, lambda_context, lambda_async
):
    passed: dict[str, Any] = {}
    for name, change in FORGERIES.items():
        # When a copy of Slack's genuine request arrives with one part changed
        status, body = http_call(_vector_event(**change), lambda_context)
        if (status, body) != (401, {"error": "invalid_signature"}):
            passed[name] = (status, body)
    # Then the gate refuses every one before anything is parsed
    assert passed == {}
    assert lambda_async == []


def test_a_signature_over_a_different_body_is_refused(aws, slack, clock, lambda_context):
    ts = int(clock().timestamp())
    event = function_url_event(slash_command("bastion help"), secret=SECRET, timestamp=ts)
    event["headers"]["x-slack-signature"] = sign(SECRET, ts, slash_command("bastion list"))
    assert handler.lambda_handler(event, lambda_context)["statusCode"] == 401


def test_the_vector_is_fresh_for_five_minutes_either_way(aws, signing, clock, lambda_context):
    signed_at = datetime.fromtimestamp(int(VECTOR["timestamp"]), UTC)
    passes = {}
    for seconds in (-86_400, -301, -299, 0, 299, 301, 86_400 * 365):
        # Given Slack's genuine request replayed `seconds` after (or before) it was signed
        clock.current = signed_at + timedelta(seconds=seconds)
        # When it arrives
        status, _ = http_call(_vector_event(), lambda_context)
        passes[seconds] = status != 401
    # Then only inside Slack's 5-minute window does it pass the gate
    assert [s for s, ok in passes.items() if ok] == [-299, 0, 299]


def test_an_unsigned_request_never_reaches_the_wiring(aws, clock, lambda_context, monkeypatch):
    from tests.support import roots

    # Given no Slack secret configured, and a tripwire on every part the slow half would use
    calls: list[str] = []
    for name in ("slack_jobs", "create", "approvals", "enqueue", "policy"):
        monkeypatch.setattr(roots.current(), name, lambda *a, _n=name, **k: calls.append(_n))
    # When an unsigned create and a create signed with a guessed secret arrive
    ts = int(clock().timestamp())
    for event in (
        function_url_event(slash_command("bastion create"), secret=None, timestamp=ts),
        function_url_event(slash_command("bastion create"), secret="", timestamp=ts),
        function_url_event(slash_command("bastion create"), secret=" ", timestamp=ts),
    ):
        status, _ = http_call(event, lambda_context)
        # Then both are 401 and nothing of the slow half is touched
        assert status == 401
    assert calls == []


def test_a_blank_signing_secret_refuses_every_request_as_unsigned(
    aws, clock, lambda_context, monkeypatch
):
    import boto3

    from tests.support import roots

    # Given a Slack secret whose signing_secret is only whitespace (a bad copy-paste)
    arn = boto3.client("secretsmanager").create_secret(
        Name="blank", SecretString=json.dumps({"signing_secret": "   "})
    )["ARN"]
    monkeypatch.setenv("SLACK_SECRET_ARN", arn)
    roots.fresh()
    # When a request signed with that blank secret arrives
    ts = int(clock().timestamp())
    event = function_url_event(slash_command("bastion create"), secret="   ", timestamp=ts)
    status, body = http_call(event, lambda_context)
    # Then it is refused like any unsigned request (slack-sdk would raise on the blank key)
    assert (status, body) == (401, {"error": "invalid_signature"})
