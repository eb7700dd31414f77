"""Ephemeral SSM-only bastions: the code behind `handler.py` and `auto_terminate.py`.

Layout (dependencies point inwards):

- ``domain/``  lifecycle rules and the ports they need; no boto3, no Slack.
- ``aws/``     one adapter per AWS service; translates ``ClientError`` into domain errors.
- ``slack/``   commands, Block Kit messages, the notifier.
- ``app/``     use cases (orchestrator, reaper, approvals), policy, dispatcher, wiring.
- ``doors/``   one driving adapter per way in (direct, Slack, IAM, continuation, scheduled);
               Slack's in two halves: acknowledging (``slack``) and deciding (``slack_forms``).

Imports follow use: a cold request loads what its door needs and no more (``make bench``
measures the Slack acknowledgement against its floor).
"""

import os

from bastion_orchestrator.adapters.slack.sdk import defer_clients

defer_clients()  # slack_sdk's HTTP clients load on first use only (see there)
# pydantic looks for plugins in the entry points of every installed distribution when it
# builds its first validator: 45 ms of a cold start, for plugins these functions never have.
# An operator may still set the variable to something else.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
