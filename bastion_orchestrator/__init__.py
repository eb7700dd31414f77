"""Ephemeral SSM-only bastions: the code behind `handler.py` and `auto_terminate.py`.

Layout (dependencies point inwards):

- ``domain/``  lifecycle rules and the ports they need; no boto3, no Slack.
- ``aws/``     one adapter per AWS service; translates ``ClientError`` into domain errors.
- ``slack/``   Block Kit messages, the notifier, and the HTTP door for slash commands.
- ``app/``     use cases (orchestrator, reaper), wiring, and the mapping of errors to responses.
"""
