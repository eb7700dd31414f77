"""Deliver notices: a direct message to the requester and, for lifecycle ends, a channel
notice (``SLACK_CHANNEL`` through the bot token, else the webhook; never both).

Failures raise ``NotificationFailed``; callers log and count them and carry on: a Slack
outage never stops a termination.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.actor import Owner
from bastion_orchestrator.domain.approval import Approval
from bastion_orchestrator.domain.ids import SLACK_RESPONSE_URL
from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.errors import NotificationFailed
from bastion_orchestrator.observability import logger
from bastion_orchestrator.slack.messages import render
from bastion_orchestrator.slack.mrkdwn import mention
from bastion_orchestrator.slack.secret import SlackSecret

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from slack_sdk import WebClient

CHANNEL_KINDS: Final = frozenset({"terminated"})
_SLACK_HOOK: Final = re.compile(SLACK_RESPONSE_URL)
_EMAIL: Final = re.compile(r"^[^@\s]{1,128}@[A-Za-z0-9.-]{1,127}$")
SLACK_TIMEOUT_SECONDS: Final = 5


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


class SlackApprovalBoard:
    """The approval channel (``APPROVAL_CHANNEL``), through the bot token: requests are
    posted with buttons and updated in place (chat.update) once decided."""

    def __init__(self, notifier: SlackNotifier, channel: str) -> None:
        self._notifier = notifier
        self._channel = channel

    def post(self, approval: Approval, approvers: Sequence[str]) -> tuple[str, str] | None:
        from bastion_orchestrator.slack.messages import approval_request

        text, blocks = approval_request(approval, approvers)
        return self._notifier.announce(self._channel, text, blocks)

    def update(self, approval: Approval) -> None:
        from bastion_orchestrator.slack.messages import approval_outcome

        text, blocks = approval_outcome(approval)
        if approval.channel and approval.ts:
            self._notifier.revise(approval.channel, approval.ts, text, blocks)
        else:
            self._notifier.announce(self._channel, text, blocks)

    def break_glass(
        self, owner: Owner, instance_id: str, hours: float, reason: str, *, extended: bool = False
    ) -> None:
        from bastion_orchestrator.slack.messages import break_glass

        who = owner.arn or mention(owner.user_id)  # break_glass shows an ARN as text
        environment = self._environment()
        text, blocks = break_glass(environment, who, instance_id, hours, reason, extended=extended)
        self._notifier.announce(self._channel, text, blocks)

    @staticmethod
    def _environment() -> str:
        from bastion_orchestrator.config import get_settings

        return get_settings().environment


class LoggedBoard:
    """No approval channel (or notices handed to another Lambda): log what would be posted."""

    def post(self, approval: Approval, approvers: Sequence[str]) -> tuple[str, str] | None:
        logger.warning(
            "approval request not posted (no APPROVAL_CHANNEL with a bot token)",
            extra={"approval_id": approval.id, "approvers": list(approvers)},
        )
        return None

    def update(self, approval: Approval) -> None:
        logger.info(
            "approval decided", extra={"approval_id": approval.id, "status": approval.status}
        )

    def break_glass(
        self, owner: Owner, instance_id: str, hours: float, reason: str, *, extended: bool = False
    ) -> None:
        logger.warning(
            f"BREAK-GLASS {'extension' if extended else 'launch'} (no approval channel to "
            "announce it in)",
            extra={"user_id": owner.user_id, "instance_id": instance_id, "reason": reason},
        )
