"""The pieces every Slack message is made of, cut to Slack's documented limits.

slack-sdk's models (``slack_sdk.models.blocks``) enforce those limits when they are turned
into dicts: a message that Slack would reject whole (a section over 3,000 characters, more
than 50 blocks, a button value over 2,000) fails here instead, in tests. Long text is cut to
fit, so no input makes a message Slack refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bastion_orchestrator.clock import iso
from bastion_orchestrator.presenters.slack.mrkdwn import escape

if TYPE_CHECKING:
    from datetime import datetime

SECTION_LIMIT: Final = 3000  # characters of a section's text
TEXT_LIMIT: Final = 4000  # characters of a message's fallback text
MESSAGE_BLOCKS: Final = 50  # blocks in one message

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]  # the fallback text (notifications, screen readers), the blocks


def fit(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text)))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text))])


def dicts(blocks: Sequence[Block]) -> Blocks:
    """To Slack's JSON; slack-sdk validates every documented limit here."""
    return [block.to_dict() for block in blocks[:MESSAGE_BLOCKS]]


def message(text: str, blocks: Sequence[Block]) -> Message:
    return fit(text, TEXT_LIMIT), dicts(blocks)


def slack_time(moment_iso: str, fallback: str) -> str:
    """Slack renders ``<!date^…>`` in each reader's own time zone."""
    from datetime import datetime

    epoch = int(datetime.fromisoformat(moment_iso).timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def expiry(moment: datetime | None) -> str:
    """An expiry in the reader's time zone, then as ISO text."""
    if moment is None:
        return "unknown"
    stamp = iso(moment)
    return f"{slack_time(stamp, stamp)} (`{stamp}`)"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "an unknown time"
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def _code(command: str) -> str:
    return f"```{fit(escape(command), SECTION_LIMIT - 40)}```"


def connection_sections(connection: dict[str, str] | Any) -> list[Block]:
    """How to connect: the terminal command, and the database port forward if there is one."""
    blocks: list[Block] = []
    if terminal := connection.get("terminal"):
        blocks.append(section(f"*Terminal*\n{_code(terminal)}"))
    if forward := connection.get("port_forward"):
        blocks.append(section(f"*Database port forward*\n{_code(forward)}"))
    return blocks


def connection_blocks(connection: dict[str, str] | Any) -> Blocks:
    return dicts(connection_sections(connection))
