"""The Slack door's answers to commands: ephemeral, so only the person who typed the command
sees them. Long lists are paginated and summarised, so no answer is one Slack refuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from slack_sdk.models.blocks import Block

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.results import Facts, Inspected
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


def status_answer(inspected: Inspected, connection: Mapping[str, str], environment: str) -> Answer:
    """status: the bastion, its time left, whether its agent is online, how to connect."""
    facts = inspected.facts
    iid, state, expires = facts.instance_id, facts.bastion.state, iso(facts.expires_at)
    remaining = duration(facts.seconds_remaining)
    ready = (
        ":large_green_circle: SSM agent online: ready to connect"
        if inspected.ready
        else f":hourglass: SSM agent {inspected.ssm_status}: wait a minute after launch, then "
        "connect"
    )
    text = f"Bastion {iid} in {environment} is {state}; it expires at {expires}."
    blocks = [
        section(
            f"*Your bastion in {environment}*: `{iid}` is *{state}*, expires "
            f"{slack_time(expires, expires)} ({remaining} left)\n{ready}"
        ),
        *connection_sections(connection),
    ]
    return answer(text, blocks)


def list_answer(bastions: Sequence[Facts], environment: str) -> Answer:
    """One line a bastion, sections cut to Slack's limit, the rest summarised."""
    if not bastions:
        return answer(f"No active bastions in {environment}. `/infra bastion create` launches one.")
    lines = [
        f"• `{f.instance_id}` of {mention(f.bastion.user_id)} ({f.bastion.state}), expires "
        f"{slack_time(iso(f.expires_at), iso(f.expires_at))}"
        for f in bastions
    ]
    text = f"{len(bastions)} active bastion(s) in {environment}"
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
