"""Slack presentation: Block Kit messages and mrkdwn escaping."""
