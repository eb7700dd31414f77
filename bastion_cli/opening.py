"""Opening the session once the bastion is ready: ``StartSession``, then the plugin, for a
port forward or a shell. ``TargetNotConnected`` and a plugin that exits at once are retried
with backoff until the deadline."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Final

from bastion_cli import session
from bastion_cli.aws import Aws
from bastion_cli.bastion import Bastion, PortForward
from bastion_cli.door import Door
from bastion_cli.errors import Exit, NotReady, PortTaken
from bastion_cli.plugin_process import Outcome, Tunnel, backoff, run_shell
from bastion_cli.session import Plugin, Request, Started
from bastion_cli.ui import Progress, Ui
from bastion_cli.watch import Watch, after_session

QUICK_EXIT: Final = 5.0  # a shell that fails sooner than this "closed at once"
AGENT_HINT: Final = (
    "The bastion's SSM agent cannot reach Session Manager. Usual causes: a subnet without NAT "
    "and without the ssm, ssmmessages and ec2messages endpoints (module: create_vpc_endpoints "
    "= true), 443 blocked from the bastion security group to them, or an instance profile "
    "without AmazonSSMManagedInstanceCore. `bastion status {env}` shows ssm_status; "
    "--wait SECONDS waits longer."
)


@dataclass
class Deadline:
    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.started + self.seconds - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0


def tunnel_request(bastion: Bastion, forward: PortForward, local_port: int) -> Request:
    parameters = {
        "host": [forward.host],
        "portNumber": [str(forward.port)],
        "localPortNumber": [str(local_port)],
    }
    return Request(bastion.instance_id, forward.document, parameters)


def open_tunnel(
    aws: Aws, plugin: Plugin, request: Request, progress: Progress, deadline: Deadline
) -> Tunnel:
    """Start the session and the plugin until the port is open; retried while time is left."""
    delays = backoff()
    while True:
        progress.phase("opening tunnel", f"StartSession on {request.target}")
        started = start_when_connected(aws, request, progress, deadline)
        tunnel = Tunnel.spawn(plugin, aws, started)
        try:
            outcome = tunnel.wait_open(max(5.0, min(session.OPEN_TIMEOUT, deadline.left())))
        except BaseException:
            tunnel.stop()
            raise
        if outcome is Outcome.OPEN:
            progress.done(f"tunnel open (session {started.session_id})")
            return tunnel
        tunnel.stop()
        session.terminate(aws, started)
        local = (request.parameters or {}).get("localPortNumber", ["?"])[0]
        if outcome is Outcome.PORT_IN_USE:
            raise PortTaken(f"Local port {local} is in use.", port_hint(local))
        if deadline.passed():
            raise NotReady(
                f"The tunnel did not open: the plugin {outcome.value}. Its output:\n"
                f"{tunnel.output or '(none)'}",
                "Run again with -v; if it persists, check the Session Manager plugin version "
                "(session-manager-plugin --version) and the bastion's ssm_status.",
            )
        delay = next(delays)
        progress.phase("opening tunnel", f"the plugin {outcome.value}; retrying in {delay:.0f}s")
        time.sleep(delay)


def start_when_connected(
    aws: Aws, request: Request, progress: Progress, deadline: Deadline
) -> Started:
    """``StartSession``, retrying ``TargetNotConnected`` (the agent is still registering)."""
    delays = backoff()
    while True:
        try:
            return session.start(aws, request)
        except session.TargetNotConnected as e:
            if deadline.passed():
                raise NotReady(
                    f"Session Manager still says {request.target} is not connected ({e}).",
                    AGENT_HINT.format(env="ENV"),
                ) from e
            delay = next(delays)
            progress.phase("agent online", f"TargetNotConnected; retrying in {delay:.0f}s")
            time.sleep(max(0.1, min(delay, deadline.left())))


def open_shell(
    door: Door, aws: Aws, plugin: Plugin, bastion: Bastion, deadline: Deadline, *, ui: Ui
) -> Exit:
    """A shell through the deployment's (logged) session document, on this terminal."""
    request = Request(bastion.instance_id, bastion.shell_document)
    delays = backoff()
    while True:
        with ui.progress(since=deadline.started) as progress:
            started = start_when_connected(aws, request, progress, deadline)
            progress.done(f"shell session {started.session_id} (`exit` ends it)")
        began = time.monotonic()
        with Watch(door, bastion, ui, threading.Event(), raw_terminal=True):
            code = run_shell(plugin, aws, started)
        if code == 0 or time.monotonic() - began > QUICK_EXIT:
            return after_session(door, bastion)
        session.terminate(aws, started)
        if deadline.passed():
            raise NotReady(f"The shell session closed at once (plugin exit code {code}).")
        delay = next(delays)
        ui.warn(f"the session closed at once (exit code {code}); retrying in {delay:.0f}s")
        time.sleep(delay)


def port_hint(port: str) -> str:
    return (
        f"Pick another with --local-port N, or leave --local-port out to get a free one "
        f"(`lsof -i :{port}` shows who holds it)."
    )
