"""The Slack secret (JSON: bot_token, signing_secret, webhook_url) from Secrets Manager.

Light on purpose: every Slack request needs the signing secret before anything else, so this
loads Powertools' secrets provider (on our client) and nothing of the notifier.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.aws import clients

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

SECRET_CACHE_SECONDS: Final = 300


@dataclass(frozen=True)
class SlackSecret:
    bot_token: str | None = None
    signing_secret: str | None = None
    webhook_url: str | None = None


@cache
def _secrets() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    # Our client: one session and one Secrets Manager client per container, with our retries
    # and timeouts (left alone, the provider builds its own). wiring.reset() clears both.
    return SecretsProvider(boto3_client=clients.client("secretsmanager"))


def secret_arn() -> str | None:
    """``SLACK_SECRET_ARN``: read here, not in ``config.Settings``, because the signing secret
    comes before anything else and a slow verb's acknowledgement validates no other setting.
    Blank is unset, as for every variable."""
    return os.environ.get("SLACK_SECRET_ARN", "").strip() or None


def secret_loader(secret_arn: str | None) -> Callable[[], SlackSecret]:
    """Read the Slack secret (JSON: bot_token, signing_secret, webhook_url), cached 5 min."""

    def load() -> SlackSecret:
        if not secret_arn:
            return SlackSecret()
        raw = _secrets().get(secret_arn, max_age=SECRET_CACHE_SECONDS, transform="json")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return SlackSecret(
            bot_token=data.get("bot_token") or None,
            signing_secret=data.get("signing_secret") or None,
            webhook_url=data.get("webhook_url") or None,
        )

    return load
