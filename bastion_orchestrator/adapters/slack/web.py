"""Slack's Web API: one client per token and base URL, and the one profile lookup (a user's
e-mail, which the IAM door's owner rule may match)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.observability import logger

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bastion_orchestrator.adapters.slack.secret import SlackSecret

_EMAIL: Final = re.compile(r"^[^@\s]{1,128}@[A-Za-z0-9.-]{1,127}$")
SLACK_TIMEOUT_SECONDS: Final = 5


@cache
def web_client(token: str, api_url: str) -> WebClient:
    """One Slack Web API client per token and base URL, per container."""
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    web = WebClient(token=token, base_url=api_url, timeout=SLACK_TIMEOUT_SECONDS)
    web.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    return web


def email_of(secret: Callable[[], SlackSecret], user_id: str, *, api_url: str) -> str | None:
    """The user's profile e-mail from ``users.info`` (needs ``users:read.email``). Any
    failure (no token, no scope, Slack down) means no e-mail: the bastion is then reachable
    only through the IAM door's owner rule, never through a guess."""
    try:
        token = secret().bot_token
        if not token:
            return None
        user: Any = web_client(token, api_url).users_info(user=user_id).get("user")
        profile = user.get("profile") if isinstance(user, dict) else None
    except Exception as e:  # optional enrichment: never a reason to refuse a create
        logger.warning("users.info failed: no RequestedByEmail tag", extra={"error": repr(e)})
        return None
    email = profile.get("email") if isinstance(profile, dict) else None
    if isinstance(email, str) and _EMAIL.fullmatch(email):
        return email
    return None
