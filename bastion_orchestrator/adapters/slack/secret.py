"""The Slack secret (JSON: bot_token, signing_secret, webhook_url) from Secrets Manager.

Light on purpose: every Slack request needs the signing secret before anything else, so this
loads Powertools' secrets provider (on our client) and nothing of the notifier.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

SECRET_CACHE_SECONDS: Final = 300


@dataclass(frozen=True)
class SlackSecret:
    bot_token: str | None = None
    signing_secret: str | None = None
    webhook_url: str | None = None


def secret_arn() -> str | None:
    """``SLACK_SECRET_ARN``: read here, not in ``config.Settings``, because the signing secret
    comes before anything else and a slow verb's acknowledgement validates no other setting.
    Blank is unset, as for every variable."""
    return os.environ.get("SLACK_SECRET_ARN", "").strip() or None


def secret_loader(secret_arn: str | None, client: Callable[[], Any]) -> Callable[[], SlackSecret]:
    """Read the Slack secret (JSON: bot_token, signing_secret, webhook_url), cached 5 min, with
    our Secrets Manager client (left alone, Powertools' provider builds its own)."""
    providers: list[SecretsProvider] = []

    def load() -> SlackSecret:
        if not secret_arn:
            return SlackSecret()
        if not providers:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            providers.append(SecretsProvider(boto3_client=client()))
        raw = providers[0].get(secret_arn, max_age=SECRET_CACHE_SECONDS, transform="json")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return SlackSecret(
            bot_token=data.get("bot_token") or None,
            signing_secret=data.get("signing_secret") or None,
            webhook_url=data.get("webhook_url") or None,
        )

    return load
