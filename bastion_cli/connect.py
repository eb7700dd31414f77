"""``bastion connect``: from "I need the database" to a working tunnel, one call per step.

Create (or reuse) the caller's bastion through the IAM door, wait until its SSM agent is
online, start the session and hand it to the plugin (``TargetNotConnected`` and a plugin
that exits at once are retried with backoff until the deadline), print the client command,
then stay: warn 30 minutes before expiry, end cleanly on Ctrl-C, and say so when the bastion
ends under the session.

This module runs the steps up to a ready bastion and picks the local port; ``opening`` starts
the session, ``instructions`` prints how to use it, ``watch`` keeps an eye on it meanwhile.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from bastion_cli.aws import Aws
from bastion_cli.bastion import Bastion, PortForward, clock_time
from bastion_cli.config import Environment
from bastion_cli.door import Door
from bastion_cli.errors import CliError, Exit, NotFound, NotReady, PendingApproval, PortTaken
from bastion_cli.instructions import client_command, show_ready
from bastion_cli.opening import (
    AGENT_HINT,
    Deadline,
    open_shell,
    open_tunnel,
    port_hint,
    tunnel_request,
)
from bastion_cli.session import Plugin
from bastion_cli.ui import Progress, Ui
from bastion_cli.watch import Watch, ended, stay_connected

# Named here too, where the CLI's tests have always found them.
__all__ = [
    "Options",
    "Watch",
    "choose_port",
    "client_command",
    "connect",
    "free_or_fail",
    "port_forward",
    "port_free",
]

NEW_INSTANCE_GRACE: Final = 15.0  # seconds a new bastion may be "not found" (EC2 consistency)


@dataclass(frozen=True)
class Options:
    shell: bool = False
    local_port: int | None = None
    hours: float | None = None
    reason: str | None = None
    wait: float = 300.0
    verbose: bool = False


# Seconds between status polls while an approval request waits (BASTION_APPROVAL_POLL).
APPROVAL_POLL_SECONDS = float(os.environ.get("BASTION_APPROVAL_POLL", "10"))


def connect(opts: Options, env: Environment, aws: Aws, ui: Ui) -> Exit:
    plugin = Plugin.find()  # before anything is launched
    local_port = free_or_fail(opts.local_port)  # a taken --local-port fails now, too
    door = Door(env, aws)
    deadline = Deadline(opts.wait)
    bastion: Bastion | None = None
    try:
        with ui.progress() as progress:
            bastion = create_or_reuse(door, opts, progress)
            bastion = wait_until_ready(door, bastion, progress, deadline)
        if opts.shell:
            return open_shell(door, aws, plugin, bastion, deadline, ui=ui)
        forward = port_forward(bastion, env)
        request = tunnel_request(bastion, forward, local_port or choose_port(forward.port))
        with ui.progress(since=deadline.started) as progress:
            tunnel = open_tunnel(aws, plugin, request, progress, deadline)
    except KeyboardInterrupt:
        if bastion is None:
            raise
        raise interrupted(bastion, env) from None
    try:
        show_ready(ui, env, bastion, forward, tunnel, verbose=opts.verbose)
        return stay_connected(door, bastion, tunnel, ui)
    finally:
        tunnel.stop()  # whatever ends this, the plugin (in its own process group) goes too


# ------------------------------------------------------------------ the steps
def create_or_reuse(door: Door, opts: Options, progress: Progress) -> Bastion:
    progress.phase("launching", "asking the orchestrator for your bastion")
    fields: dict[str, object] = {}
    if opts.hours is not None:
        fields["hours"] = opts.hours
    if opts.reason:
        fields["reason"] = opts.reason
    try:
        answer = door.call("create", **fields)
    except PendingApproval as pending:  # a protected environment: an approver must say yes
        answer = wait_for_approval(door, pending, progress)
    bastion = Bastion.from_answer(answer)
    expires = f"expires {clock_time(bastion.expires_at)}"
    if bastion.existing:
        note = "; --hours applies to new bastions: `bastion extend`" if opts.hours else ""
        progress.done(f"reusing your bastion {bastion.instance_id} ({expires}{note})")
    else:
        progress.done(f"bastion {bastion.instance_id} launched ({expires})")
    return bastion


def wait_for_approval(door: Door, pending: PendingApproval, progress: Progress) -> dict[str, Any]:
    """Wait, with progress, until the request is approved (the bastion then exists) or it
    expires. Polls the read-only ``status``: asking ``create`` again would be harmless while
    the request waits, but would post a new request once it was denied."""
    from datetime import datetime

    progress.phase("waiting for approval", f"request {pending.approval_id}: {pending.message}")
    try:
        until = datetime.fromisoformat(pending.expires_at).timestamp()
    except ValueError:
        until = time.time() + 30 * 60
    while time.time() < until:
        time.sleep(max(0.1, min(APPROVAL_POLL_SECONDS, until - time.time())))
        try:
            answer = door.call("status")
        except NotFound:
            continue
        progress.done(f"request {pending.approval_id} approved")
        return answer
    raise PendingApproval(
        f"Request {pending.approval_id} was not approved in time: an approver denied it, or "
        "nobody answered before it expired. Nothing was launched.",
        "See the approval channel in Slack; ask again with `bastion connect`, or ask an "
        "approver directly.",
    )


def wait_until_ready(
    door: Door, bastion: Bastion, progress: Progress, deadline: Deadline
) -> Bastion:
    """Polls ``status`` until ``ready`` (the SSM agent is online)."""
    delays = iter((0.5, 1.0, 1.5, 2.0, 3.0))
    while True:
        try:
            bastion = Bastion.from_answer(door.call("status", instance_id=bastion.instance_id))
        except NotFound:
            # EC2 reads are eventually consistent: a bastion just launched may not show yet.
            if progress.elapsed > NEW_INSTANCE_GRACE or deadline.passed():
                raise
            time.sleep(1.0)
            continue
        if bastion.gone:
            raise ended(bastion, door.env.name)
        if bastion.ready:
            progress.done(f"running, agent online: {bastion.instance_id} is ready")
            return bastion
        if bastion.state == "running":
            progress.phase("running", f"waiting for the SSM agent ({bastion.ssm_status})")
        else:
            progress.phase("launching", f"{bastion.instance_id} is {bastion.state or 'pending'}")
        if deadline.passed():
            raise NotReady(
                f"{bastion.instance_id} is {bastion.state} but its SSM agent is not online "
                f"after {progress.elapsed:.0f} s (ssm_status {bastion.ssm_status}).",
                AGENT_HINT.format(env=door.env.name),
            )
        time.sleep(max(0.1, min(next(delays, 5.0), deadline.left())))


def port_forward(bastion: Bastion, env: Environment) -> PortForward:
    if bastion.forward is None:
        raise CliError(
            f"The {env.name} deployment names no database (RDS_ENDPOINT): there is nothing to "
            "forward.",
            f"Use `bastion connect {env.name} --shell` for a shell on the bastion.",
        )
    return bastion.forward


def interrupted(bastion: Bastion, env: Environment) -> CliError:
    error = CliError(
        "Interrupted.",
        f"{bastion.instance_id} keeps running until {clock_time(bastion.expires_at)}: "
        f"`bastion connect {env.name}` picks it up again, `bastion destroy {env.name}` ends it.",
    )
    error.exit = Exit.INTERRUPTED
    return error


# ------------------------------------------------------------------ the local port
def port_free(port: int) -> bool:
    """Whether the plugin could listen on localhost:port (as Go does: SO_REUSEADDR on POSIX,
    so a port in TIME_WAIT counts as free, one with a listener does not)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name != "nt":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_or_fail(port: int | None) -> int | None:
    if port is not None and not port_free(port):
        raise PortTaken(f"Local port {port} is in use.", port_hint(str(port)))
    return port


def choose_port(database_port: int) -> int:
    """The database's own port if free, else that + 10000, else any free port."""
    for candidate in _candidates(database_port):
        if port_free(candidate):
            return candidate
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _candidates(port: int) -> Iterator[int]:
    yield port
    if port + 10000 <= 65535:
        yield port + 10000
