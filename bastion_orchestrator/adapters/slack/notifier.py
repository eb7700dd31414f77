"""Deliver notices: a direct message to the requester and, for lifecycle ends, a channel
notice (``SLACK_CHANNEL`` through the bot token, else the webhook; never both).

Failures raise ``NotificationFailed``; callers log and count them and carry on: a Slack
outage never stops a termination.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.adapters.slack.secret import SlackSecret
from bastion_orchestrator.adapters.slack.web import SLACK_TIMEOUT_SECONDS, web_client
from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.ids import SLACK_RESPONSE_URL
from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.errors import NotificationFailed
from bastion_orchestrator.observability import logger
from bastion_orchestrator.presenters.slack.notices import render

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from slack_sdk import WebClient

CHANNEL_KINDS: Final = frozenset({"terminated"})
_SLACK_HOOK: Final = re.compile(SLACK_RESPONSE_URL)


class SlackNotifier:
    def __init__(
        self, secret: Callable[[], SlackSecret], *, channel: str | None, api_url: str
    ) -> None:
        self._secret = secret
        self._channel = channel
        self._api_url = api_url

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

    def announce(
        self, channel: str, text: str, blocks: list[dict[str, Any]]
    ) -> tuple[str, str] | None:
        """Post to a channel; answers (channel id, ts) when the bot token posted it."""
        secret = self._secret()
        if secret.bot_token:
            from slack_sdk.errors import SlackClientError

            try:
                posted = self._web(secret.bot_token).chat_postMessage(
                    channel=channel, text=text, blocks=blocks
                )
            except (SlackClientError, OSError) as e:
                raise NotificationFailed(f"chat.postMessage to {channel} failed: {e}") from e
            return str(posted.get("channel", channel)), str(posted.get("ts", ""))
        if secret.webhook_url:
            self._webhook(secret.webhook_url, text, blocks)
            return None
        _log_only(Notice("failed", None, "(channel)", None, "", detail=text), text)
        return None

    def revise(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace a message the bot posted (chat.update)."""
        secret = self._secret()
        if not secret.bot_token:
            return
        from slack_sdk.errors import SlackClientError

        try:
            self._web(secret.bot_token).chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks
            )
        except (SlackClientError, OSError) as e:
            raise NotificationFailed(f"chat.update in {channel} failed: {e}") from e

    def _web(self, token: str) -> WebClient:
        return web_client(token, self._api_url)

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


def reply(url: str, notice: Notice, *, replace_original: bool) -> None:
    """Post a notice to a Slack ``response_url`` (ephemeral; replaces a button's message if
    asked)."""
    text, blocks = render(notice)
    _respond(url, text, blocks, replace_original=replace_original)


def answer_back(url: str, answer: dict[str, Any]) -> None:
    """Post a door's answer (``messages.answer``: ephemeral text and blocks) to a Slack
    ``response_url`` as a new message."""
    _respond(url, answer.get("text"), answer.get("blocks"), replace_original=False)


def _respond(
    url: str, text: str | None, blocks: list[dict[str, Any]] | None, *, replace_original: bool
) -> None:
    """The one way to a ``response_url``: only Slack's own hooks are ever posted to."""
    if not _SLACK_HOOK.fullmatch(url):
        raise NotificationFailed("response_url is not an https://hooks.slack.com/ address")
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


# Notices whose facts an audit line already records at INFO ("bastion created", "extended",
# "terminated"): without Slack, their text is logged at DEBUG, or a 10,000-bastion sweep would
# write every termination twice.
_AUDITED: Final = frozenset({"created", "extended", "terminated"})


def _log_only(notice: Notice, text: str) -> None:
    log = logger.debug if notice.kind in _AUDITED else logger.info
    log(
        "notification (no Slack configured)",
        extra={
            "kind": notice.kind,
            "user_id": notice.user_id,
            "instance_id": notice.instance_id,
            "text": text,
        },
    )
