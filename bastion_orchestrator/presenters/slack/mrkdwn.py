"""Text in Slack's mrkdwn: what a person typed is shown as they typed it, never as markup.

Slack reads ``<…>`` in mrkdwn (and in a message's fallback ``text``) as a control sequence:
``<!channel>`` notifies a whole channel, ``<@U…>`` a person, ``<https://x|label>`` is a link
whose label hides its address. Slack's rule for showing such text literally is to escape three
characters, ``&`` as ``&amp;``, ``<`` as ``&lt;`` and ``>`` as ``&gt;`` ("Formatting text for
app surfaces", Escaping text); Slack shows the escaped text as typed, in code spans too.
``plain_text`` objects are never parsed and need none of this.

Every reason, name, ARN or message that did not come from this code goes through ``escape``;
the only live markup is what this code writes itself, such as ``mention`` of a valid Slack
user id. Light on purpose: no slack-sdk, so the use cases may escape what they compose.
"""

from __future__ import annotations

import re
from typing import Final

_SLACK_USER: Final = re.compile(r"^[UW][A-Z0-9]{1,31}$")
_OUR_MENTION: Final = re.compile(r"^<@[UW][A-Z0-9]{1,31}>$")


def escape(text: object) -> str:
    """``text`` (anything, as ``str``) with Slack's three control characters escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str | None, fallback: str = "someone") -> str:
    """A live ``<@U…>`` for a Slack user id; anything else (an IAM ``AROA…:session`` owner, a
    direct-invoke name) shown as text."""
    if not user_id:
        return fallback
    return f"<@{user_id}>" if _SLACK_USER.fullmatch(user_id) else escape(user_id)


def label(text: str) -> str:
    """How a request names its requester: this code's own mention of a Slack user stays live;
    anything else (an IAM ARN, a stored label) is shown as text."""
    return text if _OUR_MENTION.fullmatch(text) else escape(text)
