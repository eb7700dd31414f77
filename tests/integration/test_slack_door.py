"""The Slack door: signed Function URL requests (payload 2.0, base64 bodies), slash commands,
buttons, and the async continuation that does the slow work."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.stub import Stubber

import auto_terminate
import handler
from bastion_orchestrator.clock import scheduler_at
from tests.conftest import TERMINATOR_ARN
from tests.support import roots
from tests.support.api_calls import counting
from tests.support.roots import clients
from tests.support.slack_requests import button, function_url_event, slash_command
from tests.support.ssm_agent import agent_answers, no_sleep

pytestmark = pytest.mark.integration

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the signing secret the slack fixture stores


def send(ctx, clock, body, **kwargs):
    event = function_url_event(
        body, secret=kwargs.pop("secret", SECRET), timestamp=int(clock().timestamp()), **kwargs
    )
    response = handler.lambda_handler(event, ctx)
    return response["statusCode"], json.loads(response["body"])


def deliver(ctx, queued):
    """Run the queued async invocations, as Lambda would (and empty the queue)."""
    results = [handler.lambda_handler(payload, ctx) for payload in queued]
    queued.clear()
    return results


def test_slacks_published_signing_example_verifies(
    aws, slack, clock, lambda_context, monkeypatch, lambda_async
):
    vector = json.loads(
        (
            __import__("pathlib").Path(__file__).parents[1]
            / "events"
            / "slack-signature-vector.json"
        ).read_text()
    )
    # Given the vector's secret and a clock at its timestamp
    import boto3

    arn = boto3.client("secretsmanager").create_secret(
        Name="vector", SecretString=json.dumps({"signing_secret": vector["signing_secret"]})
    )["ARN"]
    monkeypatch.setenv("SLACK_SECRET_ARN", arn)
    roots.fresh()
    clock.current = clock.current.fromtimestamp(int(vector["timestamp"]), tz=clock.current.tzinfo)
    event = function_url_event(
        vector["body"],
        secret=None,
        signature=vector["signature"],
        timestamp=int(vector["timestamp"]),
    )
    # Then it passes the signature check (the command is not ours, so help comes back)
    response = handler.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert "/infra bastion create" in json.loads(response["body"])["blocks"][0]["text"]["text"]
    # And one changed byte does not
    event = function_url_event(
        vector["body"] + "x",
        secret=None,
        signature=vector["signature"],
        timestamp=int(vector["timestamp"]),
    )
    assert handler.lambda_handler(event, lambda_context)["statusCode"] == 401


@pytest.mark.parametrize("case", ["forged", "stale", "future", "unsigned", "wrong-secret"])
def test_bad_signatures_get_401_and_change_nothing(
    aws, slack, clock, lambda_context, lambda_async, case
):
    body = slash_command("bastion create dev")
    now = int(clock().timestamp())
    event = {
        "forged": function_url_event(body, secret=None, signature="v0=" + "0" * 64, timestamp=now),
        "stale": function_url_event(body, secret=SECRET, timestamp=now - 301),
        "future": function_url_event(body, secret=SECRET, timestamp=now + 301),
        "unsigned": function_url_event(body, secret=None, timestamp=now),
        "wrong-secret": function_url_event(body, secret="not-the-secret", timestamp=now),
    }[case]
    response = handler.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 401
    assert lambda_async == [] and aws.running() == []


def test_replayed_request_is_refused_after_five_minutes(
    aws, slack, clock, lambda_context, lambda_async
):
    event = function_url_event(
        slash_command("bastion create"), secret=SECRET, timestamp=int(clock().timestamp())
    )
    assert handler.lambda_handler(event, lambda_context)["statusCode"] == 200
    clock.advance(minutes=6)
    lambda_async.clear()
    assert handler.lambda_handler(event, lambda_context)["statusCode"] == 401
    assert lambda_async == []


@pytest.mark.parametrize("text", ["bastion help", "bastion", "", "bastion frobnicate"])
def test_help_lists_the_commands(aws, slack, clock, lambda_context, lambda_async, text):
    status, body = send(lambda_context, clock, slash_command(text))
    assert status == 200 and body["response_type"] == "ephemeral"
    shown = json.dumps(body["blocks"])
    for verb in ("create", "status", "extend", "destroy", "list", "help"):
        assert f"/infra bastion {verb}" in shown
    if text == "bastion frobnicate":
        assert "frobnicate" in body["text"]
    assert lambda_async == []


def test_create_is_acknowledged_at_once_and_finished_asynchronously(
    aws, slack, clock, lambda_context, lambda_async
):
    # When the command arrives, the door answers with no AWS call but the secret and the
    # Invoke that queues the signed request itself
    body = slash_command("bastion create dev INC-42 slow queries", response_url=slack.response_url)
    with counting() as calls:
        status, ack = send(lambda_context, clock, body)
    assert status == 200 and ack["response_type"] == "ephemeral"
    assert "Launching your bastion…" in ack["text"]
    assert calls["secretsmanager.GetSecretValue"] == 1
    assert {c.split(".")[0] for c in calls} <= {"secretsmanager", "lambda"}, calls
    [job] = [p["continuation"]["job"] for p in lambda_async]
    assert job["slack_form"]["text"] == "bastion create dev INC-42 slow queries"
    assert job["slack_form"]["user_id"] == "U12345" and len(job["request_id"]) == 32
    assert aws.running() == []

    # Then the async invocation launches it and says "launching", where the user asked and
    # by DM, without waiting for the agent: it never looks at SSM, and never sleeps
    with agent_answers([]) as looked, no_sleep() as slept:
        [result] = deliver(lambda_context, lambda_async)
    iid = result["instance_id"]
    assert looked == [0] and slept == []
    assert aws.running() == [iid]
    assert aws.tags(iid)["Reason"] == "INC-42 slow queries"
    assert aws.tags(iid)["RequestedBy"] == "john.doe"
    replies = [m for m in slack.messages if m.endpoint == "response_url"]
    dms = slack.to("U12345")
    assert len(replies) == 1 and len(dms) == 1
    assert "is launching" in replies[0].text and "is launching" in dms[0].text
    assert replies[0].body["response_type"] == "ephemeral"
    # And the readiness checks are one-shot schedules for the auto-terminator, 1, 2, 5 min on
    launched = clock()
    checks = {n: s for n, s in aws.schedules().items() if "-ready-" in n}
    assert sorted(checks) == [f"docustack-dev-{iid}-ready-{n}" for n in (1, 2, 3)]
    for n, after in ((1, 60), (2, 120), (3, 300)):
        check = checks[f"docustack-dev-{iid}-ready-{n}"]
        assert check["Target"]["Arn"] == TERMINATOR_ARN
        assert json.loads(check["Target"]["Input"]) == {
            "action": "ready",
            "instance_id": iid,
            "attempt": n,
        }
        assert check["ScheduleExpression"] == scheduler_at(launched + timedelta(seconds=after))
        assert check["ActionAfterCompletion"] == "DELETE"

    # When the first check fires and the agent is online (40 s after launch)
    clock.advance(seconds=60)
    online = [{"PingStatus": "Online", "RegistrationDate": clock() - timedelta(seconds=20)}]
    with agent_answers(online):
        ready = auto_terminate.lambda_handler(
            {"action": "ready", "instance_id": iid, "attempt": 1}, lambda_context
        )
    # Then the requester is told "ready" by DM, once, with how to connect
    assert ready["outcome"] == "ready"
    [message] = slack.to("U12345")[1:]
    shown = message.all_text()
    assert "is ready in" in message.text and "after launch" in shown
    assert iid in shown and result["expires_at"] in shown
    assert f"aws ssm start-session --target {iid}" in shown
    assert "AWS-StartPortForwardingSessionToRemoteHost" in shown
    assert len([m for m in slack.messages if m.endpoint == "response_url"]) == 1


def test_a_retried_continuation_launches_nothing_twice(
    aws, slack, clock, lambda_context, lambda_async
):
    send(lambda_context, clock, slash_command("bastion create", response_url=slack.response_url))
    job = lambda_async[0]
    first = handler.lambda_handler(job, lambda_context)
    again = handler.lambda_handler(job, lambda_context)  # Lambda's async retry
    assert again["instance_id"] == first["instance_id"]
    assert aws.running() == [first["instance_id"]]


def test_with_an_idempotency_table_a_retry_tells_nobody_twice(
    aws, slack, clock, lambda_context, lambda_async, idempotency_table
):
    send(lambda_context, clock, slash_command("bastion create", response_url=slack.response_url))
    job = lambda_async[0]
    first = handler.lambda_handler(job, lambda_context)
    told = (
        len([m for m in slack.messages if m.endpoint == "response_url"]),
        len(slack.to("U12345")),
    )
    assert told == (1, 1)  # launching; "ready" comes from the readiness checks
    again = handler.lambda_handler(job, lambda_context)
    assert again == first
    # Then the retry told nobody anything more
    assert len([m for m in slack.messages if m.endpoint == "response_url"]) == told[0]
    assert len(slack.to("U12345")) == told[1]


def test_other_environment_is_answered_with_the_one_served(
    aws, slack, clock, lambda_context, lambda_async
):
    # A quick verb is answered at once
    status, body = send(lambda_context, clock, slash_command("bastion status qa"))
    assert status == 200 and "serves *dev*" in body["text"] and lambda_async == []
    # Slow verbs are acknowledged; the answer follows where the user asked, and nothing runs
    for text in ("bastion create prod", "bastion destroy staging"):
        status, ack = send(lambda_context, clock, slash_command(text))
        assert status == 200 and "serves" not in ack["text"]
        [answer] = deliver(lambda_context, lambda_async)
        assert answer["success"] is False
        assert "serves *dev*, not *" in slack.replies()[-1].text
        assert slack.replies()[-1].body["response_type"] == "ephemeral"
    assert len(slack.replies()) == 2 and aws.running() == []


def test_allowed_user_ids_limits_who_may_create(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    monkeypatch.setenv("ALLOWED_USER_IDS", "UALICE,UBOB")
    roots.fresh()
    # Mallory's create is acknowledged, then refused where she asked: nothing launches
    send(lambda_context, clock, slash_command("bastion create", user_id="UMALLORY"))
    [refused] = deliver(lambda_context, lambda_async)
    assert refused["error"] == "FORBIDDEN"
    assert "ALLOWED_USER_IDS" in slack.replies()[-1].text and aws.running() == []
    # Alice's launches
    send(lambda_context, clock, slash_command("bastion create", user_id="UALICE"))
    [created] = deliver(lambda_context, lambda_async)
    assert created["success"] is True and aws.running() == [created["instance_id"]]


def test_status_and_list_are_answered_inline(aws, slack, clock, lambda_context, lambda_async):
    send(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    iid = created["instance_id"]
    # moto has no ssm:DescribeInstanceInformation: a Stubber answers on the SSM client only.
    with Stubber(clients.ssm()) as stub:
        stub.add_response(
            "describe_instance_information",
            {"InstanceInformationList": [{"InstanceId": iid, "PingStatus": "Online"}]},
        )
        _, status = send(lambda_context, clock, slash_command("bastion status dev"))
    assert iid in json.dumps(status) and "ready to connect" in json.dumps(status)
    _, listed = send(lambda_context, clock, slash_command("bastion list"))
    assert iid in json.dumps(listed)
    _, nothing = send(lambda_context, clock, slash_command("bastion status", user_id="UOTHER"))
    assert "no active bastion" in nothing["text"]
    assert lambda_async == []


def test_extend_button_by_the_owner_updates_the_message(
    aws, slack, clock, lambda_context, lambda_async
):
    send(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    iid = created["instance_id"]
    clock.advance(hours=2, minutes=30)
    status, ack = send(
        lambda_context, clock, button("bastion_extend", iid, response_url=slack.response_url)
    )
    assert status == 200 and iid in ack["text"]
    [extended] = deliver(lambda_context, lambda_async)
    assert extended["success"] is True
    assert extended["expires_at"] > created["expires_at"]
    reply = [m for m in slack.messages if m.endpoint == "response_url"][-1]
    assert reply.body["replace_original"] is True
    assert extended["expires_at"] in reply.all_text()


def test_destroy_button_by_someone_else_is_refused(aws, slack, clock, lambda_context, lambda_async):
    send(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    iid = created["instance_id"]
    send(
        lambda_context,
        clock,
        button("bastion_destroy", iid, user_id="UMALLORY", response_url=slack.response_url),
    )
    [refused] = deliver(lambda_context, lambda_async)
    assert refused["error"] == "FORBIDDEN"
    assert aws.state(iid) == "running"
    reply = [m for m in slack.messages if m.endpoint == "response_url"][-1]
    assert "did not request" in reply.all_text()


def test_destroy_command_terminates_and_tells_the_channel(
    aws, slack, clock, lambda_context, lambda_async
):
    send(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    clock.advance(minutes=45)
    send(lambda_context, clock, slash_command("bastion destroy dev"))
    [destroyed] = deliver(lambda_context, lambda_async)
    assert destroyed["success"] is True
    assert aws.state(created["instance_id"]) in {"shutting-down", "terminated"}
    [notice] = slack.to("C0PLATFORM")
    assert "destroyed on request" in notice.all_text() and "45 min" in notice.all_text()


def test_admin_button_may_act_on_anyones_bastion(aws, slack, clock, lambda_context, lambda_async):
    send(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    send(lambda_context, clock, button("bastion_destroy", created["instance_id"], user_id="UADMIN"))
    [destroyed] = deliver(lambda_context, lambda_async)
    assert destroyed["success"] is True


@pytest.mark.parametrize("body", ["hello=world", "payload=not-json", ""])
def test_signed_but_unrecognised_bodies_get_400(
    aws, slack, clock, lambda_context, lambda_async, body
):
    status, _ = send(lambda_context, clock, body)
    assert status == 400 and lambda_async == []


def test_plain_text_bodies_work_too(aws, slack, clock, lambda_context, lambda_async):
    status, body = send(lambda_context, clock, slash_command("bastion help"), base64_body=False)
    assert status == 200 and body["response_type"] == "ephemeral"


def test_button_with_a_bad_instance_id_launches_nothing(
    aws, slack, clock, lambda_context, lambda_async
):
    _, body = send(lambda_context, clock, button("bastion_destroy", "i-; rm -rf /"))
    assert "does not name a bastion" in body["text"] and lambda_async == []


def test_an_unsigned_continuation_of_the_old_shape_is_refused(aws, clock, lambda_context):
    response = handler.lambda_handler(
        {"slack_job": {"verb": "destroy", "user_id": "U1"}}, lambda_context
    )
    assert response["error"] == "FORBIDDEN"


def test_clock_is_what_the_window_uses(aws, slack, clock, lambda_context, lambda_async):
    # A request signed 4 minutes ago is still inside Slack's 5-minute window.
    event = function_url_event(
        slash_command("bastion help"),
        secret=SECRET,
        timestamp=int((clock() - timedelta(minutes=4)).timestamp()),
    )
    assert handler.lambda_handler(event, lambda_context)["statusCode"] == 200


def test_when_self_invocation_fails_the_work_is_done_inline(
    aws, slack, clock, lambda_context, monkeypatch
):
    # Given no way to invoke the function asynchronously (here: moto has no such function)
    status, body = send(
        lambda_context, clock, slash_command("bastion create", response_url=slack.response_url)
    )
    # Then the bastion is still launched and the answer carries the result
    assert status == 200 and body["text"].startswith("Done: create i-")
    assert len(aws.running()) == 1
    # And a request the policy refuses is refused in the answer itself, nothing launched
    monkeypatch.setenv("ALLOWED_USER_IDS", "U12345")
    roots.fresh()
    _, refused = send(lambda_context, clock, slash_command("bastion create", user_id="UOTHER"))
    assert "ALLOWED_USER_IDS" in refused["text"] and len(aws.running()) == 1


def test_handlers_tolerate_a_missing_context(aws, clock):
    import auto_terminate

    assert handler.lambda_handler({"action": "list"}, None)["success"] is True  # type: ignore[arg-type]
    assert auto_terminate.lambda_handler({"action": "sweep"}, None)["success"] is True  # type: ignore[arg-type]


def test_the_ack_path_creates_no_ec2_client(aws, slack, clock, lambda_context, lambda_async):
    # Given a cold container (no client made yet)
    roots.fresh()
    # When a create, an extend and a destroy are acknowledged
    for text in ("bastion create dev INC-1", "bastion extend", "bastion destroy"):
        status, _ = send(lambda_context, clock, slash_command(text))
        assert status == 200
    # Then no EC2 client exists: the ack reads the secret and queues the job, nothing more
    made = {c.meta.service_model.service_name for c in clients.created()}
    assert "ec2" not in made and len(lambda_async) == 3
    assert made <= {"secretsmanager", "lambda"}


# A cold container, in a fresh interpreter: moto in-process, the Slack secret, one signed
# create. The async self-invocation is recorded instead of sent (moto cannot run the function).
_COLD_ACK = """
import json, sys, time
from tests import conftest  # dummy credentials, moto's AMIs, before anything else
from moto import mock_aws
with mock_aws():
    import boto3
    arn = boto3.client("secretsmanager").create_secret(
        Name="slack", SecretString=json.dumps({"signing_secret": sys.argv[1]}))["ARN"]
    import os
    os.environ.update(json.loads(sys.argv[2]), SLACK_SECRET_ARN=arn)
    before = set(sys.modules)
    import handler
    from tests.support import roots
    queued = []
    roots.current().enqueue = lambda arn, payload: queued.append(payload)
    from tests.support.slack_requests import function_url_event, slash_command
    event = function_url_event(slash_command("bastion create dev INC-1"), secret=sys.argv[1],
                               timestamp=int(time.time()))
    answer = handler.lambda_handler(event, conftest.FakeLambdaContext())
    print(json.dumps({"status": answer["statusCode"], "queued": len(queued),
                      "loaded": sorted(set(sys.modules) - before)}))
"""


def test_a_cold_slack_ack_loads_only_what_it_uses(aws):
    from tests.support import fresh

    result = fresh.last_json(_COLD_ACK, SECRET, json.dumps(aws.env))
    # Then the create is acknowledged and queued
    assert result["status"] == 200 and result["queued"] == 1
    loaded = set(result["loaded"])
    # And it loaded none of the deciding or slow half: no settings model, no policy, no use
    # case, no EC2, no approvals, no notifier, and no pydantic at all ...
    slow_half = {
        "bastion_orchestrator.config",
        "bastion_orchestrator.doors.slack.decide",
        "bastion_orchestrator.usecases.policy",
        "bastion_orchestrator.usecases.dispatcher",
        "bastion_orchestrator.usecases.orchestrator",
        "bastion_orchestrator.usecases.approvals",
        "bastion_orchestrator.doors.slack.jobs",
        "bastion_orchestrator.usecases.reaper",
        "bastion_orchestrator.adapters.aws.ec2",
        "bastion_orchestrator.adapters.aws.scheduler",
        "bastion_orchestrator.adapters.aws.ec2.boot",
        "bastion_orchestrator.adapters.slack.notifier",
        "models",
    }
    assert loaded & slow_half == set()
    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core")}
    # ... nor slack-sdk's HTTP clients, nor Powertools' event handler (every resolver)
    assert not {m for m in loaded if m.startswith(("slack_sdk.web", "slack_sdk.webhook"))}
    assert not {m for m in loaded if m.startswith("aws_lambda_powertools.event_handler")}
    # But it did verify with slack-sdk's own verifier
    assert "slack_sdk.signature" in loaded
