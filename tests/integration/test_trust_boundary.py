"""The trust boundary, tried as an attacker would: every door knows who is asking, and one
policy decides. Each test is an attack that got through before this boundary existed."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from typing import Any

import pytest

import handler
from bastion_orchestrator.doors.slack import sealing
from tests.support.doors import SECRET, deliver, sealed, via_slack
from tests.support.iam_requests import (
    ADMIN_ARN,
    ADMIN_ID,
    ADMIN_ROLE,
    ALICE_ARN,
    ALICE_ID,
    BOB_ARN,
    BOB_ID,
    iam_event,
)
from tests.support.slack_requests import button, function_url_event, sign, slash_command

pytestmark = pytest.mark.integration


def direct(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(payload, ctx)


def via_iam(ctx: Any, body: Any, **identity: Any) -> tuple[int, dict[str, Any]]:
    response = handler.lambda_handler(iam_event(body, **identity), ctx)
    return response["statusCode"], json.loads(response["body"])


# ------------------------------------------------------------------ impersonation
def test_a_direct_create_by_someone_off_the_allow_list_launches_nothing(
    aws, clock, lambda_context, monkeypatch
):
    from tests.support import roots

    # Given an allow-list that does not name U666
    monkeypatch.setenv("ALLOWED_USER_IDS", "U12345")
    roots.fresh()
    # When U666 creates through the direct door
    refused = direct(lambda_context, {"action": "create", "user_id": "U666", "username": "eve"})
    # Then it is FORBIDDEN, says how to fix it, and nothing runs
    assert refused["error"] == "FORBIDDEN" and "ALLOWED_USER_IDS" in refused["message"]
    assert aws.running() == []
    # And a listed user still launches
    allowed = direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "j"})
    assert allowed["success"] is True and len(aws.running()) == 1


def test_the_iam_door_tags_the_signed_caller_not_what_the_body_claims(aws, clock, lambda_context):
    # When Alice creates through the IAM door, naming nobody
    status, body = via_iam(lambda_context, {"action": "create", "reason": "INC-4711"})
    # Then the bastion is hers, as AWS verified her: the user policy's ${aws:userid} matches
    assert status == 200 and body["success"] is True
    tags = aws.tags(body["instance_id"])
    assert tags["RequestedByUserId"] == ALICE_ID
    assert tags["RequestedByArn"] == ALICE_ARN
    assert tags["RequestedBy"] == "alice"
    assert tags["Reason"] == "INC-4711"


def test_an_iam_caller_cannot_speak_for_someone_else(aws, clock, lambda_context):
    # When Alice names another user in the body
    status, body = via_iam(
        lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"}
    )
    # Then it is refused with 403 and nothing is launched
    assert (status, body["error"]) == (403, "FORBIDDEN")
    assert aws.running() == []


def test_an_iam_caller_cannot_touch_another_callers_bastion(aws, clock, lambda_context):
    _, alices = via_iam(lambda_context, {"action": "create"})
    iid = alices["instance_id"]
    # When Bob extends or destroys Alice's bastion by its id
    for verb in ("status", "extend", "destroy"):
        status, body = via_iam(
            lambda_context, {"action": verb, "instance_id": iid}, user_arn=BOB_ARN, user_id=BOB_ID
        )
        # Then each is 403 and the bastion is untouched
        assert (status, body["error"]) == (403, "FORBIDDEN"), verb
    assert aws.state(iid) == "running"
    assert aws.tags(iid)["ExpiresAt"] == alices["expires_at"]


def test_an_iam_admin_may_act_on_any_bastion(aws, clock, lambda_context, monkeypatch):
    from tests.support import roots

    # Given the admin's role (with a path, as IAM has it) in ADMIN_PRINCIPAL_ARNS
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", ADMIN_ROLE)
    roots.fresh()
    _, alices = via_iam(lambda_context, {"action": "create"})
    # When a session of that role destroys Alice's bastion
    status, body = via_iam(
        lambda_context,
        {"action": "destroy", "instance_id": alices["instance_id"]},
        user_arn=ADMIN_ARN,
        user_id=ADMIN_ID,
    )
    # Then it is allowed
    assert status == 200 and body["state"] == "shutting-down"


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


@pytest.mark.parametrize("door", ["slack", "iam"])
def test_list_shows_a_non_admin_only_their_own(aws, slack, clock, lambda_context, door):
    # Given bastions of two people
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    direct(lambda_context, {"action": "create", "user_id": "UOTHER", "username": "other"})
    via_iam(lambda_context, {"action": "create"})
    # When a non-admin lists
    if door == "slack":
        _, body = via_slack(lambda_context, clock, slash_command("bastion list"))
        shown = body["text"] + json.dumps(body["blocks"])
        # Then only their own is shown
        assert "1 active bastion" in shown and "UOTHER" not in shown and "U12345" in shown
    else:
        _, body = via_iam(lambda_context, {"action": "list"})
        assert [b["user_id"] for b in body["bastions"]] == [ALICE_ID]
    # And the direct door (operators) still sees all three
    assert len(direct(lambda_context, {"action": "list"})["bastions"]) == 3


def test_a_slack_admin_lists_everyone(aws, slack, clock, lambda_context):
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    direct(lambda_context, {"action": "create", "user_id": "UOTHER", "username": "other"})
    _, body = via_slack(lambda_context, clock, slash_command("bastion list", user_id="UADMIN"))
    assert "2 active bastion" in body["text"]


def test_slack_create_tags_the_requesters_email_from_users_info(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given Slack knows U12345's e-mail (users:read.email)
    slack.emails["U12345"] = "john.doe@example.com"
    via_slack(lambda_context, clock, slash_command("bastion create dev 2h INC-1 slow queries"))
    [result] = deliver(lambda_context, lambda_async)
    # Then the bastion carries it (the user policy matches it with the principal's email tag)
    tags = aws.tags(result["instance_id"])
    assert tags["RequestedByEmail"] == "john.doe@example.com"
    assert tags["Reason"] == "INC-1 slow queries"
    # And the duration word set its lifetime
    created, expires = result["created_at"], result["expires_at"]
    from datetime import datetime

    lived = datetime.fromisoformat(expires) - datetime.fromisoformat(created)
    assert lived == timedelta(hours=2)


# ------------------------------------------------------------------ forged continuations
def test_a_well_formed_job_sealed_with_another_key_launches_nothing(
    aws, slack, clock, lambda_context
):
    # Given a perfectly valid job for a user off the allow-list, sealed by an attacker who
    # does not know this deployment's signing secret
    forged = sealed(clock, secret="not-the-deployments-secret")
    # When it is invoked directly
    refused = direct(lambda_context, forged)
    # Then nothing is launched and the refusal says so
    assert refused["error"] == "FORBIDDEN" and "Nothing was done" in refused["message"]
    assert aws.running() == []


def _swap(field: str, value: str) -> Any:
    def tamper(job: dict[str, Any]) -> None:
        assert field in job["slack_form"]
        job["slack_form"][field] = value

    return tamper


@pytest.mark.parametrize(
    "tamper",
    [
        _swap("user_id", "UADMIN"),
        _swap("user_name", "admin"),
        _swap("text", "bastion create 12h"),
        _swap("response_url", "https://hooks.slack.com/commands/T0/1/evil"),
        lambda job: job.update(request_id="f" * 32),
    ],
    ids=["actor", "username", "hours", "response_url", "request_id"],
)
def test_an_altered_genuine_job_launches_nothing(aws, slack, clock, lambda_context, tamper):
    envelope = sealed(clock)
    tamper(envelope["continuation"]["job"])
    assert direct(lambda_context, envelope)["error"] == "FORBIDDEN"
    assert aws.running() == []


def test_a_stale_or_unsigned_job_launches_nothing(aws, slack, clock, lambda_context):
    # Given a genuine job sealed 16 minutes ago (past the 15-minute window)
    stale = sealed(clock)
    stale["continuation"]["issued_at"] -= 16 * 60
    stale["continuation"]["signature"] = sealed(clock)["continuation"]["signature"]
    old = sealing.seal(
        sealed(clock)["continuation"]["job"], SECRET, clock() - timedelta(minutes=16)
    )
    unsigned = {"continuation": {"job": sealed(clock)["continuation"]["job"]}}
    legacy = {"slack_job": sealed(clock)["continuation"]["job"]}
    extra = {**sealed(clock), "slack_job": {}}
    # A job sealed with our key but not a queued request: the parsed jobs of earlier releases
    earlier = sealing.seal(
        {
            "user_id": "U12345",
            "username": "john.doe",
            "action": {"action": "create", "user_id": "U12345", "username": "john.doe"},
            "request_id": "0123456789abcdef0123456789abcdef",
        },
        SECRET,
        clock(),
    )
    not_text = sealing.seal(
        {"slack_form": {"command": ["/infra"]}, "request_id": "0" * 32}, SECRET, clock()
    )
    bad_id = sealing.seal(
        {"slack_form": {"command": "/infra"}, "request_id": "0" * 32 + "\n"}, SECRET, clock()
    )
    for attempt in (stale, old, unsigned, legacy, extra, earlier, not_text, bad_id):
        assert direct(lambda_context, attempt)["error"] == "FORBIDDEN"
    assert aws.running() == []


def test_a_forged_destroy_of_someone_elses_bastion_changes_nothing(
    aws, slack, clock, lambda_context
):
    victim = direct(lambda_context, {"action": "create", "user_id": "UVICTIM", "username": "v"})
    forged = sealed(
        clock,
        secret="guess",
        body=button("bastion_destroy", victim["instance_id"], user_id="UVICTIM"),
    )
    assert direct(lambda_context, forged)["error"] == "FORBIDDEN"
    assert aws.state(victim["instance_id"]) == "running"


@pytest.mark.parametrize("table", [False, True], ids=["tags-only", "idempotency-table"])
def test_a_genuine_continuation_delivered_twice_launches_once(
    aws, slack, clock, lambda_context, lambda_async, request, table
):
    if table:
        request.getfixturevalue("idempotency_table")
    via_slack(lambda_context, clock, slash_command("bastion create"))
    [queued] = lambda_async
    first = handler.lambda_handler(queued, lambda_context)
    second = handler.lambda_handler(queued, lambda_context)
    assert first["instance_id"] == second["instance_id"]
    assert len(aws.running()) == 1


def test_a_foreign_response_url_is_never_posted_to(aws, slack, clock, lambda_context, lambda_async):
    # Given a slash command whose response_url points somewhere other than Slack
    evil = slack.local("https://hooks.slack.com/stolen")  # a local address that would record it
    via_slack(lambda_context, clock, slash_command("bastion create", response_url=evil))
    deliver(lambda_context, lambda_async)
    # And nothing was posted there (the result went by direct message only)
    assert [m for m in slack.messages if m.endpoint == "response_url"] == []
    assert slack.to("U12345")


# ------------------------------------------------------------------ doors never fall over
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


def test_a_signature_over_a_different_body_is_refused(aws, slack, clock, lambda_context):
    ts = int(clock().timestamp())
    event = function_url_event(slash_command("bastion help"), secret=SECRET, timestamp=ts)
    event["headers"]["x-slack-signature"] = sign(SECRET, ts, slash_command("bastion list"))
    assert handler.lambda_handler(event, lambda_context)["statusCode"] == 401


# ------------------------------------------------------------------ who may connect
def test_connection_instructions_name_the_deployments_documents(
    aws, clock, lambda_context, monkeypatch
):
    from tests.support import roots

    monkeypatch.setenv("SESSION_DOCUMENT", "docustack-dev-session")
    monkeypatch.setenv("PORT_FORWARD_DOCUMENT", "docustack-dev-port-forward")
    roots.fresh()
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    text = created["connection_instructions"]
    assert "--document-name docustack-dev-session" in created["connection"]["terminal"]
    assert "--document-name docustack-dev-port-forward" in created["connection"]["port_forward"]
    assert "AWS-StartPortForwardingSessionToRemoteHost" not in text
    # And once destroyed, the answers carry no command to connect with
    gone = direct(lambda_context, {"action": "destroy", "instance_id": created["instance_id"]})
    again = direct(lambda_context, {"action": "destroy", "instance_id": created["instance_id"]})
    for answer in (gone, again):
        assert answer["connection"] == {}
        assert "start-session" not in answer["connection_instructions"]


# ------------------------------------------------------------------ smaller holes
def test_an_extend_after_expiry_is_refused_and_changes_nothing(aws, clock, lambda_context):
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    iid = created["instance_id"]
    before = (aws.tags(iid)["ExpiresAt"], sorted(aws.schedules()))
    # When the expiry passes (the termination is under way) and the owner extends
    clock.advance(hours=3, minutes=1)
    refused = direct(lambda_context, {"action": "extend", "instance_id": iid, "user_id": "U1"})
    # Then LIMIT_EXCEEDED, and neither the tag nor the schedules moved
    assert refused["error"] == "LIMIT_EXCEEDED" and "expired" in refused["message"]
    assert (aws.tags(iid)["ExpiresAt"], sorted(aws.schedules())) == before


def test_an_extend_clamped_by_the_cap_says_so(aws, clock, lambda_context):
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    iid = created["instance_id"]
    extends = []
    for _ in range(6):
        clock.advance(hours=1, minutes=50)
        extends.append(direct(lambda_context.next(), {"action": "extend", "instance_id": iid}))
    full = [e for e in extends if e.get("success") and not e.get("capped")]
    capped = [e for e in extends if e.get("capped")]
    assert full and len(capped) == 1
    assert "last extension" in capped[0]["message"]
    assert extends[-1]["error"] == "LIMIT_EXCEEDED"


def test_create_never_hands_back_an_expired_bastion(aws, clock, lambda_context, idempotency_table):
    first = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    # When its expiry has passed but the terminator has not run yet
    clock.advance(hours=3, minutes=5)
    second = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    # Then a new bastion is launched, not the expired one handed back as "existing"
    assert second["success"] is True and second["existing"] is False
    assert second["instance_id"] != first["instance_id"]


def test_refusals_a_user_caused_are_warnings_not_errors(aws, clock, lambda_context, caplog):
    caplog.set_level(logging.INFO)
    direct(lambda_context, {"action": "status", "instance_id": "i-0123456789abcdef0"})
    via_iam(lambda_context, {"action": "create", "user_id": "U2", "username": "u"})
    refusals = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert len(refusals) == 2 and {r.levelname for r in refusals} == {"WARNING"}


def test_every_audit_line_names_the_actor_and_the_door(aws, clock, lambda_context, caplog):
    from bastion_orchestrator.observability import logger

    caplog.set_level(logging.INFO)
    via_iam(lambda_context, {"action": "create"})
    # The lines as Powertools writes them (JSON, with the keys the door appended)
    render = logger.registered_formatter.format
    lines = [json.loads(render(r)) for r in caplog.records]
    created = [line for line in lines if line.get("message") == "bastion created"]
    assert created and created[0]["door"] == "iam" and created[0]["actor"] == ALICE_ARN


def test_idempotency_knows_the_lambda_context(aws, slack, clock, lambda_async, idempotency_table):
    # Given a real-looking context with a remaining-time clock (Lambda's)
    from tests.conftest import FakeLambdaContext

    class Context(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    ctx = Context()
    via_slack(ctx, clock, slash_command("bastion create"))
    deliver(ctx, lambda_async)
    # Then the idempotency record carries the invocation's deadline: a continuation that
    # times out frees its key when that passes, instead of an hour later
    items = idempotency_table.scan(TableName="docustack-dev-idempotency")["Items"]
    records = [i for i in items if "in_progress_expiration" in i]
    assert records, items
