"""Block Kit messages. Pure functions of a ``Notice``: every message names the instance and
the expiry and says what to do next."""

from __future__ import annotations

from typing import Any, Final

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.ports import Notice

EXTEND_ACTION: Final = "bastion_extend"
DESTROY_ACTION: Final = "bastion_destroy"

Blocks = list[dict[str, Any]]

_CAUSES: Final = {
    "expiry": "it reached its expiry time",
    "destroy": "it was destroyed on request",
    "sweep": "the safety sweep found it past its expiry",
    "idle": "it had no SSM session for too long",
    "schedule_failed": "its termination could not be scheduled",
}


def slack_time(moment_iso: str, fallback: str) -> str:
    """Slack renders ``<!date^…>`` in each reader's own time zone."""
    from datetime import datetime

    epoch = int(datetime.fromisoformat(moment_iso).timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _expiry(notice: Notice) -> str:
    if notice.expires_at is None:
        return "unknown"
    stamp = iso(notice.expires_at)
    return f"{slack_time(stamp, stamp)} (`{stamp}`)"


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "an unknown time"
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def connection_blocks(connection: dict[str, str] | Any) -> Blocks:
    blocks: Blocks = []
    if terminal := connection.get("terminal"):
        blocks.append(_section(f"*Terminal*\n```{terminal}```"))
    if forward := connection.get("port_forward"):
        blocks.append(_section(f"*Database port forward*\n```{forward}```"))
    return blocks


def buttons(instance_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": f"bastion:{instance_id}",
        "elements": [
            {
                "type": "button",
                "action_id": EXTEND_ACTION,
                "value": instance_id,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Extend"},
            },
            {
                "type": "button",
                "action_id": DESTROY_ACTION,
                "value": instance_id,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Destroy now"},
                "confirm": {
                    "title": {"type": "plain_text", "text": "Destroy this bastion?"},
                    "text": {"type": "plain_text", "text": f"{instance_id} is terminated now."},
                    "confirm": {"type": "plain_text", "text": "Destroy"},
                    "deny": {"type": "plain_text", "text": "Keep it"},
                },
            },
        ],
    }


def render(notice: Notice) -> tuple[str, Blocks]:
    """The fallback text (notifications, screen readers) and the blocks of a notice."""
    who = f"<@{notice.user_id}>" if notice.user_id else "someone"
    env = notice.environment
    iid = f"`{notice.instance_id}`"
    expiry = _expiry(notice)
    plain_expiry = iso(notice.expires_at) if notice.expires_at else "unknown"
    if notice.kind == "created":
        text = f"Bastion {notice.instance_id} is ready in {env}; it expires at {plain_expiry}."
        blocks = [
            _section(
                f":white_check_mark: *Bastion ready in {env}* for {who}\n{iid}, expires {expiry}"
            ),
            *connection_blocks(notice.connection),
            _context(
                "Needs the AWS CLI Session Manager plugin. `/infra bastion extend` adds time."
            ),
        ]
    elif notice.kind == "warning":
        text = (
            f"Bastion {notice.instance_id} in {env} expires at {plain_expiry}. "
            "Extend it or let it go."
        )
        blocks = [
            _section(
                f":hourglass_flowing_sand: *Your bastion in {env} expires soon*\n"
                f"{iid} is terminated {expiry}. Extend it if you still need it."
            ),
            buttons(notice.instance_id),
        ]
    elif notice.kind == "extended":
        text = f"Bastion {notice.instance_id} in {env} now expires at {plain_expiry}."
        blocks = [_section(f":stopwatch: *Bastion extended* ({env})\n{iid} now expires {expiry}")]
    elif notice.kind == "terminated":
        why = _CAUSES.get(notice.cause or "", notice.cause or "it was terminated")
        text = (
            f"Bastion {notice.instance_id} in {env} (of {who}) was terminated: {why}. "
            f"Expiry was {plain_expiry}."
        )
        blocks = [
            _section(
                f":wastebasket: *Bastion terminated* ({env})\n{iid} of {who} was terminated "
                f"because {why}, after {_duration(notice.lived_seconds)}. Expiry was {expiry}."
            ),
            _context("Need another? `/infra bastion create`"),
        ]
    else:
        text = f"Bastion {notice.instance_id} in {env}: {notice.detail or 'failed'}"
        blocks = [_section(f":warning: *Bastion problem* ({env})\n{iid}: {notice.detail}")]
    return text, blocks


# ------------------------------------------------------------------ answers to commands
Answer = dict[str, Any]


def answer(text: str, blocks: Blocks | None = None) -> Answer:
    """The door's reply: ephemeral, so only the person who typed the command sees it."""
    return {"response_type": "ephemeral", "text": text, "blocks": blocks or [_section(text)]}


def status_answer(view: dict[str, Any], environment: str) -> Answer:
    iid = view["instance_id"]
    expires = view["expires_at"]
    remaining = _duration(view.get("time_remaining_seconds"))
    agent = view.get("ssm_status", "Unknown")
    ready = {"Online": ":large_green_circle: SSM agent online: ready to connect"}.get(
        agent, f":hourglass: SSM agent {agent}: wait a minute after launch, then connect"
    )
    text = f"Bastion {iid} in {environment} is {view.get('state')}; it expires at {expires}."
    blocks = [
        _section(
            f"*Your bastion in {environment}*: `{iid}` is *{view.get('state')}*, expires "
            f"{slack_time(expires, expires)} ({remaining} left)\n{ready}"
        ),
        *connection_blocks(view.get("connection", {})),
    ]
    return answer(text, blocks)


def list_answer(views: list[dict[str, Any]], environment: str) -> Answer:
    if not views:
        return answer(f"No active bastions in {environment}. `/infra bastion create` launches one.")
    lines = [
        f"• `{v['instance_id']}` of <@{v.get('user_id')}> ({v.get('state')}), expires "
        f"{slack_time(v['expires_at'], v['expires_at'])}"
        for v in views
    ]
    text = f"{len(views)} active bastion(s) in {environment}"
    return answer(text, [_section(f"*{text}*\n" + "\n".join(lines[:40]))])


def help_answer(help_text: str, environment: str, unknown: str | None = None) -> Answer:
    intro = f"I did not understand `{unknown}`. " if unknown else ""
    text = f"{intro}Bastions on demand for *{environment}*:"
    return answer(text, [_section(f"{text}\n{help_text}")])


def error_answer(message: str, environment: str) -> Answer:
    return answer(message, [_section(f":warning: *{environment}*: {message}")])
