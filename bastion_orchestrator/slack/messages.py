"""Block Kit messages, built with slack-sdk's models (``slack_sdk.models.blocks``), which
enforce Slack's documented limits when they are turned into dicts: a message that Slack would
reject whole (a section over 3,000 characters, more than 50 blocks, a button value over 2,000)
fails here instead, in tests. Long text is cut to fit, and long lists are paginated and
summarised, so no input makes a message Slack refuses.

Pure functions of a ``Notice`` or a response: every message names the instance and the expiry
and says what to do next. Nothing a person typed (a reason, a name, an ARN, an error that
quotes a request) is live markup: it is escaped (``slack.mrkdwn``) in every mrkdwn field and
in the fallback ``text``, which Slack parses as mrkdwn too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bastion_orchestrator.clock import iso
from bastion_orchestrator.slack.mrkdwn import escape, label, mention

if TYPE_CHECKING:  # types only: the Slack acknowledgement renders neither
    from bastion_orchestrator.domain.approval import Approval
    from bastion_orchestrator.domain.ports import Notice

EXTEND_ACTION: Final = "bastion_extend"
DESTROY_ACTION: Final = "bastion_destroy"
APPROVE_ACTION: Final = "bastion_approve"
DENY_ACTION: Final = "bastion_deny"
SECTION_LIMIT: Final = 3000  # characters of a section's text
MESSAGE_BLOCKS: Final = 50  # blocks in one message
LIST_LINES: Final = 60  # bastions listed in full before the rest is summarised

Blocks = list[dict[str, Any]]

_CAUSES: Final = {
    "expiry": "it reached its expiry time",
    "destroy": "it was destroyed on request",
    "sweep": "the safety sweep found it past its expiry",
    "idle": "it had no SSM session for too long",
    "schedule_failed": "its termination could not be scheduled",
}


def _fit(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_fit(text)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_fit(text))])


def _dicts(blocks: Sequence[Block]) -> Blocks:
    """To Slack's JSON; slack-sdk validates every documented limit here."""
    return [block.to_dict() for block in blocks[:MESSAGE_BLOCKS]]


def slack_time(moment_iso: str, fallback: str) -> str:
    """Slack renders ``<!date^…>`` in each reader's own time zone."""
    from datetime import datetime

    epoch = int(datetime.fromisoformat(moment_iso).timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


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


def _code(command: str) -> str:
    return f"```{_fit(escape(command), SECTION_LIMIT - 40)}```"


def _connection(connection: dict[str, str] | Any) -> list[Block]:
    blocks: list[Block] = []
    if terminal := connection.get("terminal"):
        blocks.append(_section(f"*Terminal*\n{_code(terminal)}"))
    if forward := connection.get("port_forward"):
        blocks.append(_section(f"*Database port forward*\n{_code(forward)}"))
    return blocks


def connection_blocks(connection: dict[str, str] | Any) -> Blocks:
    return _dicts(_connection(connection))


def _buttons(instance_id: str) -> ActionsBlock:
    return ActionsBlock(
        block_id=f"bastion:{instance_id}",
        elements=[
            ButtonElement(
                text=PlainTextObject(text="Extend"),
                action_id=EXTEND_ACTION,
                value=instance_id,
                style="primary",
            ),
            ButtonElement(
                text=PlainTextObject(text="Destroy now"),
                action_id=DESTROY_ACTION,
                value=instance_id,
                style="danger",
                confirm=ConfirmObject(
                    title="Destroy this bastion?",
                    text=PlainTextObject(text=f"{instance_id} is terminated now."),
                    confirm="Destroy",
                    deny="Keep it",
                ),
            ),
        ],
    )


def buttons(instance_id: str) -> dict[str, Any]:
    return _buttons(instance_id).to_dict()


def render(notice: Notice) -> tuple[str, Blocks]:
    """The fallback text (notifications, screen readers) and the blocks of a notice."""
    notice = _shown(notice)
    who = mention(notice.user_id)
    env = notice.environment
    iid = f"`{notice.instance_id}`"
    expiry = _expiry(notice)
    plain_expiry = iso(notice.expires_at) if notice.expires_at else "unknown"
    blocks: list[Block]
    if notice.kind == "launching":
        text = (
            f"Bastion {notice.instance_id} is launching in {env}; it expires at {plain_expiry}. "
            "You'll get a message when it is ready to connect."
        )
        blocks = [
            _section(
                f":hourglass_flowing_sand: *Launching your bastion in {env}*\n{iid}, expires "
                f"{expiry}. I'll tell you when its SSM agent is online and you can connect "
                "(usually about a minute)."
            )
        ]
    elif notice.kind in ("created", "ready"):
        took = f" (ready {notice.detail})" if notice.detail else ""
        text = f"Bastion {notice.instance_id} is ready in {env}; it expires at {plain_expiry}."
        blocks = [
            _section(
                f":white_check_mark: *Bastion ready in {env}* for {who}{took}\n{iid}, expires "
                f"{expiry}"
            ),
            *_connection(notice.connection),
            _context(
                "Needs the AWS CLI Session Manager plugin (or `bastion connect`). "
                "`/infra bastion extend` adds time."
            ),
        ]
    elif notice.kind == "not_ready":
        text = (
            f"Bastion {notice.instance_id} in {env} is running but not ready to connect yet: "
            f"{notice.detail or 'its SSM agent has not come online'}"
        )
        blocks = [
            _section(
                f":warning: *Your bastion in {env} is not ready yet*\n{iid} (expires {expiry}): "
                "its SSM agent has not come online, so sessions would fail with "
                "`TargetNotConnected`. Probably:"
            ),
            _section(notice.detail or "• the agent cannot reach SSM (no endpoints or NAT)"),
            *_connection(notice.connection),
            _context("`/infra bastion status` shows whether it came online since."),
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
            _buttons(notice.instance_id),
        ]
    elif notice.kind == "extended":
        text = f"Bastion {notice.instance_id} in {env} now expires at {plain_expiry}."
        blocks = [_section(f":stopwatch: *Bastion extended* ({env})\n{iid} now expires {expiry}")]
        if notice.detail:
            blocks.append(_context(notice.detail))
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
    elif notice.kind == "approval":
        icon = {
            "pending": ":lock:",
            "denied": ":no_entry:",
            "expired": ":hourglass:",
            "decided": ":ballot_box_with_check:",
        }.get(notice.cause or "", ":lock:")
        until = "" if notice.cause == "decided" else f" (request open until {plain_expiry})"
        text = f"Bastion request {notice.instance_id} in {env}: {notice.detail}{until}."
        closing = {
            "pending": "Nothing is launched until another person approves it.",
            "decided": "The requester is told, and the request in the channel is updated.",
        }.get(
            notice.cause or "",
            "Nothing was launched. Ask again, or use break-glass if it is an emergency.",
        )
        blocks = [
            _section(
                f"{icon} *Bastion request* ({env}): `{notice.instance_id}` {notice.detail}.\n"
                + closing
                + ("" if notice.cause == "decided" else f" Request open until {expiry}.")
            )
        ]
    else:
        text = f"Bastion {notice.instance_id} in {env}: {notice.detail or 'failed'}"
        blocks = [_section(f":warning: *Bastion problem* ({env})\n{iid}: {notice.detail}")]
    return _fit(text, 4000), _dicts(blocks)


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


# ------------------------------------------------------------------ answers to commands
Answer = dict[str, Any]


def answer(text: str, blocks: Sequence[Block] | None = None) -> Answer:
    """The door's reply: ephemeral, so only the person who typed the command sees it."""
    return {
        "response_type": "ephemeral",
        "text": _fit(text, 4000),
        "blocks": _dicts(blocks or [_section(text)]),
    }


def status_answer(view: dict[str, Any], environment: str) -> Answer:
    iid = view["instance_id"]
    expires = view["expires_at"]
    remaining = _duration(view.get("time_remaining_seconds"))
    agent = view.get("ssm_status", "Unknown")
    ready = (
        ":large_green_circle: SSM agent online: ready to connect"
        if view.get("ready")
        else f":hourglass: SSM agent {agent}: wait a minute after launch, then connect"
    )
    text = f"Bastion {iid} in {environment} is {view.get('state')}; it expires at {expires}."
    blocks = [
        _section(
            f"*Your bastion in {environment}*: `{iid}` is *{view.get('state')}*, expires "
            f"{slack_time(expires, expires)} ({remaining} left)\n{ready}"
        ),
        *_connection(view.get("connection", {})),
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
    blocks: list[Block] = [_section(f"*{text}*")]
    chunk: list[str] = []
    for line in lines[:LIST_LINES]:
        if chunk and len("\n".join([*chunk, line])) > SECTION_LIMIT:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    if len(lines) > LIST_LINES:
        blocks.append(
            _context(
                f"…and {len(lines) - LIST_LINES} more, not shown. The `list` action of the "
                "direct or IAM door returns them all as JSON."
            )
        )
    return answer(text, blocks)


def help_answer(help_text: str, environment: str, unknown: str | None = None) -> Answer:
    intro = f"I did not understand `{escape(_fit(unknown, 100))}`. " if unknown else ""
    text = f"{intro}Bastions on demand for *{environment}*:"
    return answer(text, [_section(f"{text}\n{help_text}")])


def error_answer(message: str, environment: str) -> Answer:
    """A refusal or failure: its message may quote what was asked, so it is shown as text."""
    shown = escape(message)
    return answer(shown, [_section(f":warning: *{escape(environment)}*: {shown}")])


# ------------------------------------------------------------------ approvals
def approval_request(approval: Approval, approvers: Sequence[str]) -> tuple[str, Blocks]:
    """The request in the approval channel: who, where, why, how long, and two buttons that
    carry nothing but the request's id."""
    approval = _escaped(approval)
    reason = approval.request.get("reason") or "(no reason given)"
    text = (
        f"Approval needed: {approval.requester_label} asks {_asked(approval, plain=True)} in "
        f"{approval.environment}: {reason}"
    )
    stamp = iso(approval.expires_at)
    blocks: list[Block] = [
        _section(
            f":lock: *Approval needed in {approval.environment}*\n{approval.requester_label} "
            f"asks {_asked(approval)} (through {approval.door}).\n"
            f"*Reason:* {_fit(reason, 1000)}"
        ),
        ActionsBlock(
            block_id=f"approval:{approval.id}",
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Approve"),
                    action_id=APPROVE_ACTION,
                    value=approval.id,
                    style="primary",
                ),
                ButtonElement(
                    text=PlainTextObject(text="Deny"),
                    action_id=DENY_ACTION,
                    value=approval.id,
                    style="danger",
                    confirm=ConfirmObject(
                        title="Deny this request?",
                        text=PlainTextObject(text="Nothing is launched; the requester is told."),
                        confirm="Deny",
                        deny="Cancel",
                    ),
                ),
            ],
        ),
        _context(
            f"Request `{approval.id}`, open until {slack_time(stamp, stamp)}. Approvers: "
            + (", ".join(mention(a) for a in approvers) or "none")
            + ". Nobody approves their own request. To deny with a reason: "
            f"`/infra bastion deny {approval.id} why…`"
        ),
    ]
    return _fit(text, 4000), _dicts(blocks)


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


def approval_outcome(approval: Approval) -> tuple[str, Blocks]:
    """The same message, once decided: the buttons are gone, the outcome stays."""
    approval = _escaped(approval)
    reason = approval.request.get("reason") or "(no reason given)"
    when = iso(approval.decided_at) if approval.decided_at else "now"
    if approval.status == "approved":
        launched = f", bastion `{approval.instance_id}`" if approval.instance_id else ""
        approver = mention(approval.decided_by)
        outcome = f":white_check_mark: Approved by {approver} at {when}{launched}"
    elif approval.status == "denied":
        why = f": {_fit(approval.reason, 500)}" if approval.reason else ""
        outcome = f":no_entry: Denied by {mention(approval.decided_by)} at {when}{why}"
    else:
        outcome = f":hourglass: Expired unanswered at {iso(approval.expires_at)}"
    text = (
        f"Bastion request {approval.id} of {approval.requester_label} in "
        f"{approval.environment}: {approval.status}."
    )
    blocks = [
        _section(
            f"*Bastion request in {approval.environment}*: {approval.requester_label}, "
            f"{approval.hours:g} h. *Reason:* {_fit(reason, 1000)}\n{outcome}"
        ),
        _context(f"Request `{approval.id}`"),
    ]
    return _fit(text, 4000), _dicts(blocks)


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
) -> tuple[str, Blocks]:
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
        _section(
            f":rotating_light: *BREAK-GLASS in {environment}* :rotating_light:\n{requester} "
            f"{did} *{hours:g} h* without approval.\n"
            f"*Reason:* {_fit(reason, 1000)}"
        ),
        _context("Tagged BreakGlass=true. Review it now; destroy it if it is not justified."),
    ]
    return _fit(text, 4000), _dicts(blocks)
