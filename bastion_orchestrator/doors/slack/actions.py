"""A verified Slack command or button as one of the contract's actions (and the few answers
that need no action: help, another environment's word)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.doors.slack.commands import Command
from bastion_orchestrator.doors.slack.request import Button
from bastion_orchestrator.presenters.slack import messages
from bastion_orchestrator.presenters.slack.mrkdwn import escape
from models import Approve, Create, Deny, Destroy, Extend

if TYPE_CHECKING:
    from bastion_orchestrator.config import Settings

_USERNAME_JUNK: Final = re.compile(r"[^A-Za-z0-9._-]+")
SlowAction = Create | Extend | Destroy | Approve | Deny
Answer = dict[str, Any]


def elsewhere(command: Command, served: str, slash: str) -> Answer:
    """A command for another environment: answered with the one served, nothing runs."""
    asked = escape(command.environment or "")
    return messages.answer(
        f"This `{escape(slash)}` serves *{served}*, not *{asked}*. Use the command of the "
        f"{asked} deployment, or `/infra bastion {command.verb} {served}`."
    )


def slow_action(command: Command, actor: Actor) -> SlowAction:
    user_id = actor.user_id or ""
    if command.verb == "create":
        return Create(
            action="create",
            user_id=user_id,
            username=actor.username or "slack-user",
            reason=command.reason,
            hours=command.hours,
            break_glass=command.break_glass,
        )
    if command.verb == "approve":
        return Approve(action="approve", approval_id=command.approval_id or "")
    if command.verb == "deny":
        return Deny(action="deny", approval_id=command.approval_id or "", reason=command.reason)
    if command.verb == "extend":
        reason = command.reason if command.break_glass else None
        return Extend(
            action="extend", user_id=user_id, break_glass=command.break_glass, reason=reason
        )
    return Destroy(action="destroy", user_id=user_id)


def button_action(button: Button, user_id: str) -> Extend | Destroy | Approve | Deny | None:
    """The action a button stands for; None when its value is not what that button carries
    (an instance id, or an approval request's id)."""
    if not button.names_its_target:
        return None
    value = button.value
    if button.verb == "approve":
        return Approve(action="approve", approval_id=value)
    if button.verb == "deny":
        return Deny(action="deny", approval_id=value)
    if button.verb == "extend":
        return Extend(action="extend", instance_id=value, user_id=user_id)
    return Destroy(action="destroy", instance_id=value, user_id=user_id)


def help_text(settings: Settings) -> str:
    from bastion_orchestrator.doors.slack.commands import HELP

    return HELP.format(
        hours=f"{settings.bastion_lifetime_hours:g}",
        extend=f"{settings.extend_hours:g}",
        cap=f"{settings.max_lifetime_hours:g}",
        env=settings.environment,
    )


def username(raw: str) -> str:
    cleaned = _USERNAME_JUNK.sub("-", raw).strip("-")[:80]
    return cleaned or "slack-user"
