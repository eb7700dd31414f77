"""The approval channel's messages: a request with its two buttons, the same request once
decided, and the loud announcement of a break-glass launch. What a requester or an approver
typed is escaped; a Slack requester's mention, which this code wrote, stays live."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import Block, ContextBlock

from bastion_orchestrator.clock import iso
from bastion_orchestrator.presenters.slack.actions import decision_buttons
from bastion_orchestrator.presenters.slack.blocks import (
    Message,
    context,
    fit,
    message,
    section,
    slack_time,
)
from bastion_orchestrator.presenters.slack.mrkdwn import escape, label, mention

if TYPE_CHECKING:  # types only: the Slack acknowledgement renders no approval
    from bastion_orchestrator.domain.approval import Approval


def approval_request(approval: Approval, approvers: Sequence[str]) -> Message:
    """The request in the approval channel: who, where, why, how long, and two buttons that
    carry nothing but the request's id."""
    approval = _escaped(approval)
    reason = approval.request.get("reason") or "(no reason given)"
    text = (
        f"Approval needed: {approval.requester_label} asks {_asked(approval, plain=True)} in "
        f"{approval.environment}: {reason}"
    )
    blocks: list[Block] = [
        section(
            f":lock: *Approval needed in {approval.environment}*\n{approval.requester_label} "
            f"asks {_asked(approval)} (through {approval.door}).\n"
            f"*Reason:* {fit(reason, 1000)}"
        ),
        decision_buttons(approval.id),
        _request_context(approval, approvers),
    ]
    return message(text, blocks)


def _request_context(approval: Approval, approvers: Sequence[str]) -> ContextBlock:
    stamp = iso(approval.expires_at)
    return context(
        f"Request `{approval.id}`, open until {slack_time(stamp, stamp)}. Approvers: "
        + (", ".join(mention(a) for a in approvers) or "none")
        + ". Nobody approves their own request. To deny with a reason: "
        f"`/infra bastion deny {approval.id} why…`"
    )


def _asked(approval: Approval, *, plain: bool = False) -> str:
    """What is asked for: a bastion for N h, or to extend one by N h (until when)."""
    hours = f"{approval.hours:g} h" if plain else f"*{approval.hours:g} h*"
    if approval.kind != "extend":
        return f"for a bastion for {hours}"
    until = str(approval.request.get("until", ""))
    when = until if plain else slack_time(until, until)
    asker = approval.request.get("asked_by") or {}
    owner = str(approval.owner.get("user_id") or "")
    whose = f"{mention(owner)}'s " if owner and asker.get("user_id") != owner else ""
    return f"to extend {whose}bastion `{escape(approval.instance_id)}` by {hours}, until {when}"


def approval_outcome(approval: Approval) -> Message:
    """The same message, once decided: the buttons are gone, the outcome stays."""
    approval = _escaped(approval)
    reason = approval.request.get("reason") or "(no reason given)"
    text = (
        f"Bastion request {approval.id} of {approval.requester_label} in "
        f"{approval.environment}: {approval.status}."
    )
    blocks = [
        section(
            f"*Bastion request in {approval.environment}*: {approval.requester_label}, "
            f"{approval.hours:g} h. *Reason:* {fit(reason, 1000)}\n{_outcome(approval)}"
        ),
        context(f"Request `{approval.id}`"),
    ]
    return message(text, blocks)


def _outcome(approval: Approval) -> str:
    when = iso(approval.decided_at) if approval.decided_at else "now"
    if approval.status == "approved":
        launched = f", bastion `{approval.instance_id}`" if approval.instance_id else ""
        approver = mention(approval.decided_by)
        return f":white_check_mark: Approved by {approver} at {when}{launched}"
    if approval.status == "denied":
        why = f": {fit(approval.reason, 500)}" if approval.reason else ""
        return f":no_entry: Denied by {mention(approval.decided_by)} at {when}{why}"
    return f":hourglass: Expired unanswered at {iso(approval.expires_at)}"


def _escaped(approval: Approval) -> Approval:
    """The approval as messages show it: the requester's label, the environment, the denial's
    reason and every text field of the request escaped (a Slack requester's mention, which
    this code wrote, stays live)."""
    request = {k: escape(v) if isinstance(v, str) else v for k, v in approval.request.items()}
    return replace(
        approval,
        requester_label=label(approval.requester_label),
        environment=escape(approval.environment),
        request=request,
        reason=escape(approval.reason) if approval.reason else None,
    )


def break_glass(
    environment: str,
    requester: str,
    instance_id: str,
    hours: float,
    reason: str,
    *,
    extended: bool = False,
) -> Message:
    """The loud announcement of a break-glass launch (or extension); ``requester`` is
    ``label``-ed (a mention stays live), the reason and the rest shown as text."""
    environment, requester, reason = escape(environment), label(requester), escape(reason)
    instance_id = escape(instance_id)
    did = (
        f"extended bastion {instance_id} by" if extended else f"launched bastion {instance_id} for"
    )
    text = f"BREAK-GLASS: {requester} {did} {hours:g} h in {environment} without approval: {reason}"
    did = (
        f"extended bastion `{instance_id}` by"
        if extended
        else f"launched bastion `{instance_id}` for"
    )
    blocks = [
        section(
            f":rotating_light: *BREAK-GLASS in {environment}* :rotating_light:\n{requester} "
            f"{did} *{hours:g} h* without approval.\n"
            f"*Reason:* {fit(reason, 1000)}"
        ),
        context("Tagged BreakGlass=true. Review it now; destroy it if it is not justified."),
    ]
    return message(text, blocks)
