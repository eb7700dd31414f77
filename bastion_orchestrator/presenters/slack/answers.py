"""The Slack door's answers to commands: ephemeral, so only the person who typed the command
sees them. Long lists are paginated and summarised, so no answer is one Slack refuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from slack_sdk.models.blocks import Block

from bastion_orchestrator.presenters.slack.blocks import (
    SECTION_LIMIT,
    TEXT_LIMIT,
    connection_sections,
    context,
    dicts,
    duration,
    fit,
    section,
    slack_time,
)
from bastion_orchestrator.presenters.slack.mrkdwn import escape, mention

LIST_LINES: Final = 60  # bastions listed in full before the rest is summarised

Answer = dict[str, Any]


def answer(text: str, blocks: Sequence[Block] | None = None) -> Answer:
    """The door's reply: ephemeral, so only the person who typed the command sees it."""
    return {
        "response_type": "ephemeral",
        "text": fit(text, TEXT_LIMIT),
        "blocks": dicts(blocks or [section(text)]),
    }


def status_answer(view: dict[str, Any], environment: str) -> Answer:
    iid = view["instance_id"]
    expires = view["expires_at"]
    remaining = duration(view.get("time_remaining_seconds"))
    agent = view.get("ssm_status", "Unknown")
    ready = (
        ":large_green_circle: SSM agent online: ready to connect"
        if view.get("ready")
        else f":hourglass: SSM agent {agent}: wait a minute after launch, then connect"
    )
    text = f"Bastion {iid} in {environment} is {view.get('state')}; it expires at {expires}."
    blocks = [
        section(
            f"*Your bastion in {environment}*: `{iid}` is *{view.get('state')}*, expires "
            f"{slack_time(expires, expires)} ({remaining} left)\n{ready}"
        ),
        *connection_sections(view.get("connection", {})),
    ]
    return answer(text, blocks)


def list_answer(views: list[dict[str, Any]], environment: str) -> Answer:
    """One line a bastion, sections cut to Slack's limit, the rest summarised."""
    if not views:
        return answer(f"No active bastions in {environment}. `/infra bastion create` launches one.")
    lines = [
        f"• `{v['instance_id']}` of {mention(v.get('user_id'))} ({v.get('state')}), expires "
        f"{slack_time(v['expires_at'], v['expires_at'])}"
        for v in views
    ]
    text = f"{len(views)} active bastion(s) in {environment}"
    blocks: list[Block] = [section(f"*{text}*"), *_pages(lines[:LIST_LINES])]
    if len(lines) > LIST_LINES:
        blocks.append(
            context(
                f"…and {len(lines) - LIST_LINES} more, not shown. The `list` action of the "
                "direct or IAM door returns them all as JSON."
            )
        )
    return answer(text, blocks)


def _pages(lines: list[str]) -> list[Block]:
    """The lines in as few sections as Slack's section limit allows."""
    pages: list[Block] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_LIMIT:
            pages.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        pages.append(section("\n".join(chunk)))
    return pages


def help_answer(help_text: str, environment: str, unknown: str | None = None) -> Answer:
    intro = f"I did not understand `{escape(fit(unknown, 100))}`. " if unknown else ""
    text = f"{intro}Bastions on demand for *{environment}*:"
    return answer(text, [section(f"{text}\n{help_text}")])


def error_answer(message: str, environment: str) -> Answer:
    """A refusal or failure: its message may quote what was asked, so it is shown as text."""
    shown = escape(message)
    return answer(shown, [section(f":warning: *{escape(environment)}*: {shown}")])
