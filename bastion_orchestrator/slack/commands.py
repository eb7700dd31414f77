"""`/infra bastion <verb> [env] [reason…]`: parsing only, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Verb = Literal["create", "status", "extend", "destroy", "list", "help"]
VERBS: Final[tuple[Verb, ...]] = ("create", "status", "extend", "destroy", "list", "help")
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


@dataclass(frozen=True)
class Command:
    verb: Verb
    environment: str | None = None  # the env word given, if any
    reason: str | None = None
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
    environment: str | None = None
    if rest and _is_env_word(rest[0], served, any_word=verb != "create"):
        environment, rest = rest[0], rest[1:]
    reason = " ".join(rest)[:256] or None if verb == "create" else None
    return Command(verb, environment, reason)


def _is_env_word(word: str, served: str, *, any_word: bool) -> bool:
    lowered = word.lower()
    if lowered == served.lower():
        return True
    if not _ENV_WORD.match(lowered):
        return False
    # status/extend/destroy take nothing but an environment; create also takes a reason.
    return any_word or lowered in COMMON_ENVIRONMENTS


HELP: Final = (
    "`/infra bastion create [env] [reason…]` launch your bastion (SSM only, expires in {hours} h)\n"
    "`/infra bastion status [env]` state, expiry and connection commands\n"
    "`/infra bastion extend [env]` add {extend} h (up to {cap} h after creation)\n"
    "`/infra bastion destroy [env]` terminate it now\n"
    "`/infra bastion list` active bastions in {env}\n"
    "`/infra bastion help` this help"
)
