"""The ``bastion`` command line: arguments, dispatch, and errors turned into exit codes.

Only the standard library is imported here; each command imports what it needs (boto3 on the
first signed request), so ``bastion --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from bastion_cli import __version__

if TYPE_CHECKING:
    from bastion_cli.ui import Ui

EXIT_CODES: Final = """\
exit codes:
  0   success (connect: the session ended normally or with Ctrl-C)
  1   unexpected error (the orchestrator's INTERNAL_ERROR / CONFIGURATION_ERROR)
  2   usage error, or the request was refused as invalid (VALIDATION_ERROR)
  3   not configured: run `bastion configure`
  4   AWS credentials missing or expired (SSO: aws sso login --profile …)
  5   not allowed (IAM refused the door or the session; FORBIDDEN)
  6   no active bastion (NOT_FOUND)
  7   limit reached (LIMIT_EXCEEDED, e.g. extend at the hard cap)
  8   no capacity (CAPACITY_UNAVAILABLE)
  9   the IAM door is unreachable (DNS, connection, timeout, TLS)
  10  not ready in time: the agent or the tunnel did not come up, or the tunnel closed
  11  the bastion expired or was destroyed during the session
  12  session-manager-plugin is not installed
  13  the local port is in use
  14  the create waits for an approver
  130 interrupted (Ctrl-C) before the session was open
"""

DESCRIPTION: Final = """\
Short-lived SSM-only bastions, from "I need the database" to a working tunnel.

  bastion configure --from-terraform cli_config.json   # once per environment
  bastion connect dev                                  # tunnel to the database
  bastion connect dev --shell                          # a shell on the bastion
"""


# (flags, keyword arguments of add_argument) per group of options.
Options = list[tuple[tuple[str, ...], dict[str, object]]]
COMMON: Final[Options] = [
    (("--profile",), {"help": "AWS profile to sign with (default: the config's, or AWS_PROFILE)"}),
    (("--region",), {"help": "AWS region of the deployment (default: the config's)"}),
    (("--config",), {"help": "config file (default: $BASTION_CONFIG, ~/.config/bastion/...)"}),
    (("-v", "--verbose"), {"action": "store_true", "help": "more detail; tracebacks on bugs"}),
]
SCRIPTED: Final[Options] = [
    (("--json",), {"action": "store_true", "help": "print the orchestrator's JSON answer"}),
]
TARGETED: Final[Options] = [
    (("--instance-id",), {"help": "a bastion other than your own (admins)"}),
]
CONNECT: Final[Options] = [
    (("--shell",), {"action": "store_true", "help": "open a shell on the bastion instead"}),
    (("--local-port",), {"type": "port", "help": "tunnel port (default: the database's, if free)"}),
    (("--hours",), {"type": "hours", "help": "lifetime of a new bastion (default: deployment's)"}),
    (("--reason",), {"help": "why you need it (on the bastion's tags and in the audit log)"}),
    (
        ("--wait",),
        {
            "type": "seconds",
            "default": 300.0,
            "metavar": "SECONDS",
            "help": "how long to wait for the agent and the tunnel (default: 300)",
        },
    ),
]
CONFIGURE: Final[Options] = [
    (
        ("--from-terraform",),
        {"metavar": "FILE", "help": "the module's cli_config output as JSON (- for stdin)"},
    ),
    (("--url",), {"help": "the module's iam_door_url"}),
    (("--project",), {"help": "the deployment's project name (informational)"}),
    (("--database",), {"help": "database name for the printed client command"}),
    (("--db-user",), {"help": "database user for the printed client command"}),
    (("--engine",), {"choices": ("postgres", "mysql"), "help": "client to print (default: port)"}),
    (("--default",), {"action": "store_true", "help": "make it the default environment"}),
    (("--show",), {"action": "store_true", "help": "print the configured environments"}),
]
COMMANDS: Final[list[tuple[str, str, list[Options]]]] = [
    ("connect", "create or reuse your bastion, wait until ready, open the tunnel", [CONNECT]),
    ("status", "show your bastion", [SCRIPTED, TARGETED]),
    ("extend", "push your bastion's expiry out (up to the hard cap)", [SCRIPTED, TARGETED]),
    ("destroy", "terminate your bastion now", [SCRIPTED, TARGETED]),
    ("list", "list the active bastions you may see", [SCRIPTED]),
    ("configure", "add or update an environment in the config file", [CONFIGURE]),
]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="bastion",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"bastion {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    types = {"port": _port, "hours": _hours, "seconds": _seconds}
    for name, text, groups in COMMANDS:
        sub = commands.add_parser(
            name,
            help=text,
            description=text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "env", nargs="?", metavar="ENV", help="environment (default: the config's default)"
        )
        for flags, options in [*COMMON, *(option for group in groups for option in group)]:
            kwargs: dict[str, Any] = dict(options)
            if "type" in kwargs:
                kwargs["type"] = types[str(kwargs["type"])]
            sub.add_argument(*flags, **kwargs)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from bastion_cli.errors import CliError, Exit
    from bastion_cli.ui import Ui

    ui = Ui()
    try:
        return int(run(args, ui))
    except CliError as error:
        if getattr(args, "json", False):
            import json

            ui.out(json.dumps(error.as_json(), indent=2))
        else:
            ui.error(error)
        return int(error.exit)
    except KeyboardInterrupt:
        ui.info("Interrupted.")
        return int(Exit.INTERRUPTED)
    except Exception as error:  # a bug: say so, keep the details for -v
        if args.verbose:
            raise
        ui.error(
            CliError(
                f"Unexpected error: {type(error).__name__}: {error}",
                "Run again with -v for the traceback and report it.",
            )
        )
        return int(Exit.ERROR)


def run(args: argparse.Namespace, ui: Ui) -> int:
    from bastion_cli import commands

    if args.command == "configure":
        return commands.configure(ui, args)
    door, aws, env = commands.door_for(args)
    if args.command == "connect":
        from bastion_cli.connect import Options, connect

        options = Options(
            shell=args.shell,
            local_port=args.local_port,
            hours=args.hours,
            reason=args.reason,
            wait=args.wait,
            verbose=args.verbose,
        )
        return connect(options, env, aws, ui)
    if args.command == "status":
        return commands.status(door, ui, instance_id=args.instance_id, as_json=args.json)
    if args.command == "extend":
        return commands.extend(door, ui, instance_id=args.instance_id, as_json=args.json)
    if args.command == "destroy":
        return commands.destroy(door, ui, instance_id=args.instance_id, as_json=args.json)
    return commands.list_(door, ui, as_json=args.json)


def _port(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return value


def _hours(text: str) -> float:
    try:
        value = float(text.removesuffix("h"))
    except ValueError:
        value = 0.0
    if not 0 < value <= 720:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours, e.g. 2 or 1.5")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


if __name__ == "__main__":
    sys.exit(main())
