"""`/infra bastion <verb> [env] [reason…]`: parsing only, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Verb = Literal["create", "status", "extend", "destroy", "list", "help", "approve", "deny"]
VERBS: Final[tuple[Verb, ...]] = (
    "create",
    "status",
    "extend",
    "destroy",
    "list",
    "help",
    "approve",
    "deny",
)
BREAK_GLASS_FLAG: Final = "--break-glass"
# Words taken as an environment even when they are not this deployment's, so that
# "/infra bastion create prod" is answered with the environment served, not launched in dev
# with reason "prod".
COMMON_ENVIRONMENTS: Final = frozenset(
    {
        "dev",
        "development",
        "test",
        "testing",
        "qa",
        "uat",
        "stage",
        "staging",
        "preprod",
        "prod",
        "production",
        "prd",
        "stg",
        "sandbox",
        "demo",
        "perf",
        "int",
        "integration",
    }
)
_ENV_WORD: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
_DURATION: Final = re.compile(
    r"^(?P<value>[0-9]{1,3}(\.[0-9]{1,2})?)(?P<unit>h|hr|hrs|hours?|m|min|mins)$"
)


@dataclass(frozen=True)
class Command:
    verb: Verb
    environment: str | None = None  # the env word given, if any
    reason: str | None = None
    hours: float | None = None  # create's duration word: 1h, 90m, 1.5h
    break_glass: bool = False  # create ... --break-glass reason…
    approval_id: str | None = None  # approve/deny <id>
    unknown: str | None = None  # what was typed when it was not a command


def parse(text: str, served: str) -> Command:
    """Parse the text after the slash command. Unknown input becomes ``help``."""
    words = text.strip().split()
    if not words or words[0].lower() != "bastion":
        return Command("help", unknown=text.strip() or None)
    if len(words) == 1:
        return Command("help")
    verb, rest = words[1].lower(), words[2:]
    if verb not in VERBS:
        return Command("help", unknown=words[1])
    if verb in {"list", "help"}:
        return Command(verb)
    if verb in {"approve", "deny"}:
        if not rest:
            return Command("help", unknown=" ".join(words[1:]))
        reason = " ".join(rest[1:])[:256] or None if verb == "deny" else None
        return Command(verb, reason=reason, approval_id=rest[0])
    if verb == "extend" and BREAK_GLASS_FLAG in (word.lower() for word in rest):
        return _break_glass_extend(rest, served)
    if verb != "create":
        # status/extend/destroy take nothing but an environment: any other word, mistyped or
        # not ("prod.", "'prod'", a look-alike letter), is taken as an environment, so it is
        # answered with the one served and nothing runs here.
        return Command(verb, " ".join(rest)[:64] if rest else None)
    break_glass = BREAK_GLASS_FLAG in (word.lower() for word in rest)
    rest = [word for word in rest if word.lower() != BREAK_GLASS_FLAG]
    environment: str | None = None
    if rest and _is_env_word(rest[0], served):
        environment, rest = rest[0], rest[1:]
    hours = _hours(rest[0]) if rest else None
    if hours is not None:
        rest = rest[1:]
    reason = " ".join(rest)[:256] or None
    return Command(verb, environment, reason, hours, break_glass=break_glass)


def _break_glass_extend(rest: list[str], served: str) -> Command:
    """``extend [env] --break-glass reason…``: past the grant at once, announced loudly."""
    rest = [word for word in rest if word.lower() != BREAK_GLASS_FLAG]
    environment: str | None = None
    if rest and _is_env_word(rest[0], served):
        environment, rest = rest[0], rest[1:]
    reason = " ".join(rest)[:256] or None
    return Command("extend", environment, reason, break_glass=True)


def _hours(word: str) -> float | None:
    """``2h``, ``1.5h``, ``90m``, ``45min`` as hours; None when the word is not a duration."""
    match = _DURATION.match(word.lower())
    if match is None:
        return None
    value = float(match["value"])
    return value if match["unit"].startswith("h") else value / 60


def _is_env_word(word: str, served: str) -> bool:
    """After ``create``: this environment, or a common environment name (not a reason)."""
    lowered = word.lower()
    return lowered == served.lower() or (
        _ENV_WORD.match(lowered) is not None and lowered in COMMON_ENVIRONMENTS
    )


HELP: Final = (
    "`/infra bastion create [env] [2h] [reason…]` launch your bastion (SSM only, expires in "
    "{hours} h unless you give a duration)\n"
    "`/infra bastion status [env]` state, expiry and connection commands\n"
    "`/infra bastion extend [env]` add {extend} h (up to {cap} h after creation)\n"
    "`/infra bastion destroy [env]` terminate it now\n"
    "`/infra bastion list` active bastions in {env}\n"
    "`/infra bastion create [env] --break-glass reason…` emergency: no approval, at most the "
    "break-glass lifetime, announced loudly\n"
    "`/infra bastion extend [env] --break-glass reason…` emergency: past what was approved, "
    "by at most the break-glass lifetime, announced loudly\n"
    "`/infra bastion approve <request>` / `deny <request> [reason…]` approvers only\n"
    "`/infra bastion help` this help"
)
