"""What a Slack request is recorded as: the e-mail Slack itself returns (``users.info``), and a
sanitised username whatever the form's ``user_name`` holds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.support.doors import deliver, via_slack
from tests.support.slack_requests import slash_command

pytestmark = pytest.mark.integration


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


def test_slack_names_never_reach_tags_or_messages_as_markup(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given a Slack user whose user_name is mrkdwn and shell text
    name = "<!channel> `$(reboot)` *x*"
    via_slack(lambda_context, clock, slash_command("bastion create", user_name=name))
    [created] = deliver(lambda_context, lambda_async)
    # Then the tags carry a sanitised username only
    tags = aws.tags(created["instance_id"])
    assert re.fullmatch(r"[A-Za-z0-9._-]+", tags["RequestedBy"]), tags["RequestedBy"]
    assert "<!channel>" not in tags["Name"]
    # And no message the function posted contains the markup
    assert all("<!channel>" not in m.all_text() for m in slack.messages)
