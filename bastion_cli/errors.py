"""What can go wrong, as typed errors: each carries its exit code and says what to do.

Scripts branch on the exit code (documented in the README); people read the message. Nothing
here branches on message text.
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import Final


class Exit(IntEnum):
    OK = 0
    ERROR = 1  # unexpected: the orchestrator's INTERNAL_ERROR / CONFIGURATION_ERROR, a bug
    USAGE = 2  # bad arguments, or the request was refused as invalid (VALIDATION_ERROR)
    NOT_CONFIGURED = 3  # no config file, or the environment is not in it
    CREDENTIALS = 4  # AWS credentials missing, expired or invalid (SSO login needed)
    FORBIDDEN = 5  # IAM refused the door or the session, or the orchestrator said FORBIDDEN
    NOT_FOUND = 6  # no (active) bastion
    LIMIT = 7  # LIMIT_EXCEEDED, e.g. extend at the hard cap
    NO_CAPACITY = 8  # CAPACITY_UNAVAILABLE
    UNREACHABLE = 9  # the door cannot be reached (DNS, connection, timeout, TLS)
    NOT_READY = 10  # the agent / tunnel did not come up before the deadline, or it closed
    ENDED = 11  # the bastion expired or was destroyed during the session
    NO_PLUGIN = 12  # session-manager-plugin is not installed
    PORT_TAKEN = 13  # the local port is in use
    PENDING = 14  # the create waits for an approver
    INTERRUPTED = 130  # Ctrl-C before the session was open


class CliError(Exception):
    """A failure the user can act on: ``message`` says what happened, ``remedy`` what to do."""

    exit: Exit = Exit.ERROR

    def __init__(self, message: str, remedy: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.code = code  # the orchestrator's error code, when it answered one

    def as_json(self) -> dict[str, object]:
        return {
            "success": False,
            "error": self.code or self.exit.name,
            "message": self.message,
            "remedy": self.remedy,
            "exit_code": int(self.exit),
        }


class NotConfigured(CliError):
    exit = Exit.NOT_CONFIGURED


class UsageError(CliError):
    exit = Exit.USAGE


class CredentialsError(CliError):
    exit = Exit.CREDENTIALS


class Forbidden(CliError):
    exit = Exit.FORBIDDEN


class NotFound(CliError):
    exit = Exit.NOT_FOUND


class LimitExceeded(CliError):
    exit = Exit.LIMIT


class NoCapacity(CliError):
    exit = Exit.NO_CAPACITY


class Unreachable(CliError):
    exit = Exit.UNREACHABLE


class NotReady(CliError):
    exit = Exit.NOT_READY


class BastionEnded(CliError):
    exit = Exit.ENDED


class PluginMissing(CliError):
    exit = Exit.NO_PLUGIN


class PortTaken(CliError):
    exit = Exit.PORT_TAKEN


class PendingApproval(CliError):
    exit = Exit.PENDING
    approval_id: str = ""  # the request an approver must approve
    expires_at: str = ""  # when it expires unanswered (ISO 8601)


# The orchestrator's error codes (CONTRACT.md, "Responses"), and what each means here.
BY_CODE: Final[dict[str, type[CliError]]] = {
    "VALIDATION_ERROR": UsageError,
    "FORBIDDEN": Forbidden,
    "NOT_FOUND": NotFound,
    "LIMIT_EXCEEDED": LimitExceeded,
    "CAPACITY_UNAVAILABLE": NoCapacity,
    "CONFIGURATION_ERROR": CliError,
    "INTERNAL_ERROR": CliError,
}

_PLUGIN_DOCS: Final = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)


def plugin_install_hint(platform: str = sys.platform) -> str:
    """Where to get the Session Manager plugin, for this OS first."""
    by_os = {
        "darwin": "macOS: brew install --cask session-manager-plugin "
        f"(or the signed installer: {_PLUGIN_DOCS}#install-plugin-macos)",
        "linux": "Linux: the .deb or .rpm from "
        f"{_PLUGIN_DOCS}#install-plugin-linux (e.g. Debian/Ubuntu: "
        "sudo dpkg -i session-manager-plugin.deb)",
        "win32": f"Windows: the installer from {_PLUGIN_DOCS}#install-plugin-windows",
    }
    key = "linux" if platform.startswith("linux") else platform
    first = by_os.get(key)
    rest = [hint for name, hint in by_os.items() if name != key]
    lines = ([first] if first else []) + rest
    return "Install the Session Manager plugin, then run this again:\n  " + "\n  ".join(lines)
