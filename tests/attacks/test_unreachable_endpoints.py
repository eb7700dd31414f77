"""An AWS endpoint the function cannot reach is answered with its URL (``dispatcher.failed``):
to every caller, Slack users and IAM callers included. That answer must name the endpoint to
check and nothing more (no credentials in the URL, no request path or query), and what it
says about the bastion ("nothing was changed") must be true.

The endpoints are made unreachable for real: ``AWS_ENDPOINT_URL_<SERVICE>`` points botocore at
a closed loopback port, one attempt per call, so botocore raises its own connection error with
the URL it was sending to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.doors import deliver, via_iam, via_slack
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration

CLOSED_PORT = "127.0.0.1:9"  # discard: nothing listens, the connection is refused at once


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``unreachable("EC2", url)``: that service's endpoint is ``url``, tried once."""
    from bastion_orchestrator.adapters.aws import clients
    from tests.support import roots

    monkeypatch.setitem(clients.RETRIES, "total_max_attempts", 1)  # no backoff in the test
    clients.boto_config.cache_clear()

    def point(service: str, url: str) -> None:
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", url)
        roots.fresh()

    yield point
    clients.boto_config.cache_clear()  # before monkeypatch restores RETRIES


# Was a hole: dispatcher._unreachable_endpoint answers botocore's endpoint_url verbatim;
# user:password in AWS_ENDPOINT_URL(_<SERVICE>) reaches every Slack user and IAM caller (message
# and the 'endpoint' field). Fix: answer scheme://host[:port] only. (closed)
def test_credentials_in_an_endpoint_url_never_reach_the_caller(
    aws, slack, clock, lambda_context, unreachable
):
    # Given EC2's endpoint configured through a proxy that takes a password, and down
    unreachable("EC2", f"http://proxyuser:s3cr3t@{CLOSED_PORT}")
    # When a Slack user and an IAM caller ask for their bastion's status
    _, on_slack = via_slack(lambda_context, clock, slash_command("bastion status"))
    _, on_iam = via_iam(lambda_context, {"action": "status"})
    # Then both are told which endpoint to check, and never its credentials
    for answer in (on_slack, on_iam):
        text = json.dumps(answer)
        assert CLOSED_PORT in text, text
        assert "s3cr3t" not in text and "proxyuser" not in text, text


# Was a hole: the endpoint answered is the request's full URL (botocore's request.url): its path
# and query (schedule names, groupName, clientToken; for Lambda the function ARN and account id)
# reach the caller. Fix: answer scheme://host[:port] only. (closed)
@pytest.mark.parametrize("verb", ["extend", "destroy"])
def test_an_unreachable_endpoint_is_named_without_the_request_path(
    aws, slack, clock, lambda_context, unreachable, verb
):
    # Given Alice's bastion, and then the scheduler's endpoint down
    via_iam(lambda_context, {"action": "create", "reason": "INC-1"})
    unreachable("SCHEDULER", f"http://{CLOSED_PORT}")
    # When she extends or destroys it
    _, answer = via_iam(lambda_context, {"action": verb})
    # Then the answer names the endpoint, not the request that was being sent to it
    text = json.dumps(answer)
    assert answer["error"] == "INTERNAL_ERROR" and CLOSED_PORT in text
    for leak in ("/schedules", "groupName", "clientToken", "-termination"):
        assert leak not in text, (leak, text)


# Was a hole: 'Could not reach the AWS endpoint ...; nothing was changed' is said whatever the use
# case did before the failing call: an extend has moved ExpiresAt (a retry extends again), a
# destroy has terminated the bastion. Fix: say only what is known (the generic message's 'nothing
# was left half-done that the sweep will not clean up'). (closed)
@pytest.mark.parametrize("verb", ["extend", "destroy"])
def test_nothing_was_changed_is_said_only_when_true(
    aws, slack, clock, lambda_context, unreachable, verb
):
    # Given Alice's bastion, ten minutes old, and then the scheduler's endpoint down
    _, created = via_iam(lambda_context, {"action": "create", "reason": "INC-1"})
    iid = created["instance_id"]
    before = (aws.state(iid), aws.tags(iid)["ExpiresAt"])
    clock.advance(seconds=600)
    unreachable("SCHEDULER", f"http://{CLOSED_PORT}")
    # When she extends or destroys it, and the scheduler cannot be reached
    _, answer = via_iam(lambda_context, {"action": verb})
    # Then "nothing was changed" is said only if the bastion is as it was
    assert answer["error"] == "INTERNAL_ERROR"
    after = (aws.state(iid), aws.tags(iid)["ExpiresAt"])
    assert "nothing was changed" not in answer["message"] or after == before, (after, before)


def test_a_slack_users_unreachable_endpoint_answer_never_raises(
    aws, slack, clock, lambda_context, lambda_async, unreachable
):
    # Given John's bastion, and then EC2's endpoint down
    via_slack(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    unreachable("EC2", f"http://{CLOSED_PORT}")
    # When he asks for its status (inline) and destroys it (queued, then run)
    status, answer = via_slack(lambda_context, clock, slash_command("bastion status"))
    via_slack(lambda_context, clock, slash_command("bastion destroy"))
    results = deliver(lambda_context, lambda_async)
    # Then both are answered (never a 500), as an internal error naming the endpoint
    assert status == 200 and CLOSED_PORT in answer["text"]
    assert [r["error"] for r in results] == ["INTERNAL_ERROR"]
    assert created["success"] is True
