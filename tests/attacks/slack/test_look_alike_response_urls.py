"""A ``response_url`` that only looks like Slack's (another host, port or scheme, user info, a
newline, a local address) is never posted to: not a result, not a refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.doors import deliver, reset_with, via_slack
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("outbound")
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com.evil.example/commands/x",
        "https://hooks.slack.com@evil.example/commands/x",
        "https://evil.example/https://hooks.slack.com/commands/x",
        "http://hooks.slack.com/commands/x",
        "https://hooks.slack.com/commands/x\nHost: evil.example",
    ],
)
def test_a_refusal_is_never_posted_to_a_look_alike_response_url(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, outbound, url
):
    reset_with(monkeypatch, ALLOWED_USER_IDS="UALICE")
    via_slack(
        lambda_context, clock, slash_command("bastion create", user_id="UM", response_url=url)
    )
    [refused] = deliver(lambda_context, lambda_async)
    # Then it is refused and posted nowhere: not to the look-alike, not to Slack
    assert refused["error"] == "FORBIDDEN"
    assert outbound == [] and slack.replies() == []


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com.evil.example/commands/T0/1/x",
        "https://hooks.slack.com@evil.example/commands/T0/1/x",
        "https://hooks.slack.com:8443/commands/T0/1/x",
        "https://hooks.slack.com/commands/T0/1/x?u=https://evil.example",
        "https://hooks.slack.com/commands/T0/1/x#@evil.example",
        "https://hooks.slack.com\\@evil.example/x",
        "http://hooks.slack.com/commands/T0/1/x",
        "https://HOOKS.slack.com/commands/T0/1/x",
        "https://hooks.slack.com/commands/T0/1/x\nhttps://evil.example",
        "https://evil.example/https://hooks.slack.com/commands",
    ],
)
def test_look_alike_response_urls_are_never_posted_to(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, url
):
    from bastion_orchestrator.adapters.slack import notifier

    posted: list[str] = []
    post = notifier._post_webhook

    def recorded(target: str, what: str, **message: Any) -> None:
        posted.append(target)
        if target == url:  # never sent anywhere: the test records, and fails below
            return
        post(target, what, **message)

    monkeypatch.setattr(notifier, "_post_webhook", recorded)
    # When a create that launches, and one the policy refuses, carry a response_url that
    # only looks like Slack's
    via_slack(lambda_context, clock, slash_command("bastion create", response_url=url))
    [created] = deliver(lambda_context, lambda_async)
    reset_with(monkeypatch, ALLOWED_USER_IDS="USOMEONEELSE")
    via_slack(lambda_context, clock, slash_command("bastion create 1h", response_url=url))
    [refused] = deliver(lambda_context, lambda_async)
    # Then neither the result nor the refusal is posted there (results go by direct message)
    assert created["success"] is True and refused["error"] == "FORBIDDEN"
    assert url not in posted
    assert slack.to("U12345")


def test_a_foreign_response_url_is_never_posted_to(aws, slack, clock, lambda_context, lambda_async):
    # Given a slash command whose response_url points somewhere other than Slack
    evil = slack.local("https://hooks.slack.com/stolen")  # a local address that would record it
    via_slack(lambda_context, clock, slash_command("bastion create", response_url=evil))
    deliver(lambda_context, lambda_async)
    # And nothing was posted there (the result went by direct message only)
    assert [m for m in slack.messages if m.endpoint == "response_url"] == []
    assert slack.to("U12345")
