"""A ``Notice`` as a Slack message: one renderer per kind. Every message names the instance
and the expiry and says what to do next; the notice's names and detail are escaped first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from slack_sdk.models.blocks import Block

from bastion_orchestrator.clock import iso
from bastion_orchestrator.presenters.slack.actions import bastion_buttons
from bastion_orchestrator.presenters.slack.blocks import (
    Message,
    connection_sections,
    context,
    duration,
    expiry,
    message,
    section,
)
from bastion_orchestrator.presenters.slack.mrkdwn import escape, mention

if TYPE_CHECKING:  # types only: the Slack acknowledgement renders no notice
    from bastion_orchestrator.domain.ports import Notice

_CAUSES: Final = {
    "expiry": "it reached its expiry time",
    "destroy": "it was destroyed on request",
    "sweep": "the safety sweep found it past its expiry",
    "idle": "it had no SSM session for too long",
    "schedule_failed": "its termination could not be scheduled",
}
_APPROVAL_ICONS: Final = {
    "pending": ":lock:",
    "denied": ":no_entry:",
    "expired": ":hourglass:",
    "decided": ":ballot_box_with_check:",
}
_APPROVAL_CLOSINGS: Final = {
    "pending": "Nothing is launched until another person approves it.",
    "decided": "The requester is told, and the request in the channel is updated.",
}
_NOTHING_LAUNCHED: Final = (
    "Nothing was launched. Ask again, or use break-glass if it is an emergency."
)


@dataclass(frozen=True)
class _Parts:
    """What the messages of every kind use, from the escaped notice."""

    notice: Notice
    who: str  # the owner's mention
    env: str
    iid: str  # the instance id as code
    expiry: str  # in the reader's time zone, then as ISO text
    plain_expiry: str  # ISO text only: the fallback text is read in notifications

    @classmethod
    def of(cls, notice: Notice) -> _Parts:
        return cls(
            notice=notice,
            who=mention(notice.user_id),
            env=notice.environment,
            iid=f"`{notice.instance_id}`",
            expiry=expiry(notice.expires_at),
            plain_expiry=iso(notice.expires_at) if notice.expires_at else "unknown",
        )


_Rendered = tuple[str, list[Block]]


def render(notice: Notice) -> Message:
    """The fallback text (notifications, screen readers) and the blocks of a notice."""
    parts = _Parts.of(_shown(notice))
    text, blocks = _RENDERERS.get(parts.notice.kind, _problem)(parts)
    return message(text, blocks)


def _shown(notice: Notice) -> Notice:
    """The notice as messages show it: its names and its detail escaped (a failure's message
    may quote the request). An approval's detail is this code's own sentence, with its
    mentions of the approvers; the approvals escape what an approver typed into it."""
    detail = notice.detail
    if notice.kind != "approval" and detail is not None:
        detail = escape(detail)
    return replace(
        notice,
        instance_id=escape(notice.instance_id),
        environment=escape(notice.environment),
        cause=escape(notice.cause) if notice.cause else None,
        detail=detail,
    )


def _launching(p: _Parts) -> _Rendered:
    text = (
        f"Bastion {p.notice.instance_id} is launching in {p.env}; it expires at "
        f"{p.plain_expiry}. You'll get a message when it is ready to connect."
    )
    return text, [
        section(
            f":hourglass_flowing_sand: *Launching your bastion in {p.env}*\n{p.iid}, expires "
            f"{p.expiry}. I'll tell you when its SSM agent is online and you can connect "
            "(usually about a minute)."
        )
    ]


def _ready(p: _Parts) -> _Rendered:
    took = f" (ready {p.notice.detail})" if p.notice.detail else ""
    text = f"Bastion {p.notice.instance_id} is ready in {p.env}; it expires at {p.plain_expiry}."
    return text, [
        section(
            f":white_check_mark: *Bastion ready in {p.env}* for {p.who}{took}\n{p.iid}, expires "
            f"{p.expiry}"
        ),
        *connection_sections(p.notice.connection),
        context(
            "Needs the AWS CLI Session Manager plugin (or `bastion connect`). "
            "`/infra bastion extend` adds time."
        ),
    ]


def _not_ready(p: _Parts) -> _Rendered:
    text = (
        f"Bastion {p.notice.instance_id} in {p.env} is running but not ready to connect yet: "
        f"{p.notice.detail or 'its SSM agent has not come online'}"
    )
    return text, [
        section(
            f":warning: *Your bastion in {p.env} is not ready yet*\n{p.iid} (expires "
            f"{p.expiry}): its SSM agent has not come online, so sessions would fail with "
            "`TargetNotConnected`. Probably:"
        ),
        section(p.notice.detail or "• the agent cannot reach SSM (no endpoints or NAT)"),
        *connection_sections(p.notice.connection),
        context("`/infra bastion status` shows whether it came online since."),
    ]


def _warning(p: _Parts) -> _Rendered:
    text = (
        f"Bastion {p.notice.instance_id} in {p.env} expires at {p.plain_expiry}. "
        "Extend it or let it go."
    )
    return text, [
        section(
            f":hourglass_flowing_sand: *Your bastion in {p.env} expires soon*\n"
            f"{p.iid} is terminated {p.expiry}. Extend it if you still need it."
        ),
        bastion_buttons(p.notice.instance_id),
    ]


def _extended(p: _Parts) -> _Rendered:
    text = f"Bastion {p.notice.instance_id} in {p.env} now expires at {p.plain_expiry}."
    blocks: list[Block] = [
        section(f":stopwatch: *Bastion extended* ({p.env})\n{p.iid} now expires {p.expiry}")
    ]
    if p.notice.detail:
        blocks.append(context(p.notice.detail))
    return text, blocks


def _terminated(p: _Parts) -> _Rendered:
    cause = p.notice.cause
    why = _CAUSES.get(cause or "", cause or "it was terminated")
    text = (
        f"Bastion {p.notice.instance_id} in {p.env} (of {p.who}) was terminated: {why}. "
        f"Expiry was {p.plain_expiry}."
    )
    return text, [
        section(
            f":wastebasket: *Bastion terminated* ({p.env})\n{p.iid} of {p.who} was terminated "
            f"because {why}, after {duration(p.notice.lived_seconds)}. Expiry was {p.expiry}."
        ),
        context("Need another? `/infra bastion create`"),
    ]


def _approval(p: _Parts) -> _Rendered:
    cause, decided = p.notice.cause or "", p.notice.cause == "decided"
    until = "" if decided else f" (request open until {p.plain_expiry})"
    text = f"Bastion request {p.notice.instance_id} in {p.env}: {p.notice.detail}{until}."
    return text, [
        section(
            f"{_APPROVAL_ICONS.get(cause, ':lock:')} *Bastion request* ({p.env}): "
            f"`{p.notice.instance_id}` {p.notice.detail}.\n"
            + _APPROVAL_CLOSINGS.get(cause, _NOTHING_LAUNCHED)
            + ("" if decided else f" Request open until {p.expiry}.")
        )
    ]


def _problem(p: _Parts) -> _Rendered:
    text = f"Bastion {p.notice.instance_id} in {p.env}: {p.notice.detail or 'failed'}"
    return text, [section(f":warning: *Bastion problem* ({p.env})\n{p.iid}: {p.notice.detail}")]


_RENDERERS: Final[Mapping[str, Callable[[_Parts], _Rendered]]] = {
    "launching": _launching,
    "created": _ready,
    "ready": _ready,
    "not_ready": _not_ready,
    "warning": _warning,
    "extended": _extended,
    "terminated": _terminated,
    "approval": _approval,
}  # any other kind ("failed") is a problem
