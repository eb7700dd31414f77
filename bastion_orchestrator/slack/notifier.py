"""Deliver notices: a direct message to the requester and, for lifecycle ends, a channel
notice (``SLACK_CHANNEL`` through the bot token, else the webhook; never both).

Failures raise ``NotificationFailed``; callers log and count them and carry on: a Slack
outage never stops a termination.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.aws import clients
from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.errors import NotificationFailed
from bastion_orchestrator.observability import logger
from bastion_orchestrator.slack.messages import render

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_lambda import LambdaClient
    from slack_sdk import WebClient

CHANNEL_KINDS: Final = frozenset({"terminated"})
SECRET_CACHE_SECONDS: Final = 300
SLACK_TIMEOUT_SECONDS: Final = 5


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


class SlackNotifier:
    def __init__(
        self, secret: Callable[[], SlackSecret], *, channel: str | None, api_url: str
    ) -> None:
        self._secret = secret
        self._channel = channel
        self._api_url = api_url
        self._clients: dict[str, WebClient] = {}

    def send(self, notice: Notice) -> None:
        try:
            secret = self._secret()
        except Exception as e:
            raise NotificationFailed(f"Slack secret unavailable: {e!r}") from e
        text, blocks = render(notice)
        delivered = False
        if secret.bot_token and notice.user_id:
            self._post(secret.bot_token, notice.user_id, text, blocks)
            delivered = True
        to_channel = notice.kind in CHANNEL_KINDS or not delivered
        if to_channel:
            if secret.bot_token and self._channel:
                self._post(secret.bot_token, self._channel, text, blocks)
                delivered = True
            elif secret.webhook_url:
                self._webhook(secret.webhook_url, text, blocks)
                delivered = True
        if not delivered:
            _log_only(notice, text)

    def _web(self, token: str) -> WebClient:
        if token not in self._clients:
            from slack_sdk import WebClient
            from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

            web = WebClient(token=token, base_url=self._api_url, timeout=SLACK_TIMEOUT_SECONDS)
            web.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
            self._clients[token] = web
        return self._clients[token]

    def _post(self, token: str, channel: str, text: str, blocks: list[dict[str, Any]]) -> None:
        from slack_sdk.errors import SlackClientError

        try:
            self._web(token).chat_postMessage(channel=channel, text=text, blocks=blocks)
        except (SlackClientError, OSError) as e:
            raise NotificationFailed(f"chat.postMessage to {channel} failed: {e}") from e

    @staticmethod
    def _webhook(url: str, text: str, blocks: list[dict[str, Any]]) -> None:
        _post_webhook(url, "webhook", text=text, blocks=blocks)


class LambdaNotifier:
    """Hand notices to another function (``SLACK_NOTIFIER_LAMBDA_ARN``), asynchronously."""

    def __init__(self, client: Callable[[], LambdaClient], function_arn: str) -> None:
        self._client = client
        self._arn = function_arn

    def send(self, notice: Notice) -> None:
        text, blocks = render(notice)
        payload = {
            "type": "bastion_notification",
            "kind": notice.kind,
            "user_id": notice.user_id,
            "instance_id": notice.instance_id,
            "expires_at": iso(notice.expires_at) if notice.expires_at else None,
            "channel_notice": notice.kind in CHANNEL_KINDS,
            "text": text,
            "blocks": blocks,
        }
        try:
            self._client().invoke(
                FunctionName=self._arn, InvocationType="Event", Payload=json.dumps(payload)
            )
        except Exception as e:
            raise NotificationFailed(f"notifier Lambda {self._arn} failed: {e!r}") from e


def respond(url: str, text: str, blocks: list[dict[str, Any]], *, replace_original: bool) -> None:
    """Post to a Slack ``response_url`` (ephemeral; replaces a button's message if asked)."""
    _post_webhook(
        url,
        "response_url",
        text=text,
        blocks=blocks,
        response_type="ephemeral",
        replace_original=replace_original,
    )


def _post_webhook(url: str, what: str, **message: Any) -> None:
    """POST a message to a Slack webhook or response_url; any failure is NotificationFailed."""
    from slack_sdk.webhook import WebhookClient

    try:
        response = WebhookClient(url, timeout=SLACK_TIMEOUT_SECONDS).send(**message)
    except OSError as e:
        raise NotificationFailed(f"{what} failed: {e}") from e
    if response.status_code != 200:
        raise NotificationFailed(f"{what} answered {response.status_code}: {response.body}")


def _log_only(notice: Notice, text: str) -> None:
    logger.info(
        "notification (no Slack configured)",
        extra={
            "kind": notice.kind,
            "user_id": notice.user_id,
            "instance_id": notice.instance_id,
            "text": text,
        },
    )
