"""Slack: Block Kit messages, the notifier, and the HTTP door for commands and buttons."""
