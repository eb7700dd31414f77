"""Block Kit messages, built with slack-sdk's models (``slack_sdk.models.blocks``), which
enforce Slack's documented limits when they are turned into dicts: a message that Slack would
reject whole (a section over 3,000 characters, more than 50 blocks, a button value over 2,000)
fails here instead, in tests. Long text is cut to fit, and long lists are paginated and
summarised, so no input makes a message Slack refuses.

Pure functions of a ``Notice`` or a response: every message names the instance and the expiry
and says what to do next. Nothing a person typed (a reason, a name, an ARN, an error that
quotes a request) is live markup: it is escaped (``slack.mrkdwn``) in every mrkdwn field and
in the fallback ``text``, which Slack parses as mrkdwn too.

One module a subject: ``blocks`` (the pieces and the limits), ``actions`` (the buttons and
their action ids), ``notices`` (a notice, one renderer per kind), ``answers`` (the answers to
commands), ``approvals`` (the approval channel's messages and break-glass). This module names
them all in one place.
"""

from __future__ import annotations

from bastion_orchestrator.presenters.slack.actions import (
    APPROVE_ACTION,
    DENY_ACTION,
    DESTROY_ACTION,
    EXTEND_ACTION,
    buttons,
)
from bastion_orchestrator.presenters.slack.answers import (
    LIST_LINES,
    Answer,
    answer,
    error_answer,
    help_answer,
    list_answer,
    status_answer,
)
from bastion_orchestrator.presenters.slack.approvals import (
    approval_outcome,
    approval_request,
    break_glass,
)
from bastion_orchestrator.presenters.slack.blocks import (
    MESSAGE_BLOCKS,
    SECTION_LIMIT,
    Blocks,
    connection_blocks,
    slack_time,
)
from bastion_orchestrator.presenters.slack.notices import render

__all__ = [
    "APPROVE_ACTION",
    "DENY_ACTION",
    "DESTROY_ACTION",
    "EXTEND_ACTION",
    "LIST_LINES",
    "MESSAGE_BLOCKS",
    "SECTION_LIMIT",
    "Answer",
    "Blocks",
    "answer",
    "approval_outcome",
    "approval_request",
    "break_glass",
    "buttons",
    "connection_blocks",
    "error_answer",
    "help_answer",
    "list_answer",
    "render",
    "slack_time",
    "status_answer",
]
