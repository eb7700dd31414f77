"""``bastion connect``: from "I need the database" to a working tunnel, one call per step.

Create (or reuse) the caller's bastion through the IAM door, wait until its SSM agent is
online, start the session and hand it to the plugin (``TargetNotConnected`` and a plugin
that exits at once are retried with backoff until the deadline), print the client command,
then stay: warn 30 minutes before expiry, end cleanly on Ctrl-C, and say so when the bastion
ends under the session.
"""

from __future__ import annotations

import os
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from bastion_cli import session
from bastion_cli.aws import Aws
from bastion_cli.bastion import Bastion, PortForward, clock_time, describe_remaining
from bastion_cli.config import Environment
from bastion_cli.door import Door
from bastion_cli.errors import (
    BastionEnded,
    CliError,
    Exit,
    NotFound,
    NotReady,
    PendingApproval,
    PortTaken,
)
from bastion_cli.session import Outcome, Plugin, Request, Started, StopSignals, Tunnel
from bastion_cli.ui import Progress, Ui

WARN_BEFORE_SECONDS: Final = 30 * 60  # the orchestrator's WARNING_MINUTES default
STATUS_INTERVAL: Final = 60.0  # how often a connected CLI asks for the bastion's status
NEW_INSTANCE_GRACE: Final = 15.0  # seconds a new bastion may be "not found" (EC2 consistency)
QUICK_EXIT: Final = 5.0  # a shell that fails sooner than this "closed at once"
ENGINE_BY_PORT: Final = {5432: "postgres", 3306: "mysql"}
AGENT_HINT: Final = (
    "The bastion's SSM agent cannot reach Session Manager. Usual causes: a subnet without NAT "
    "and without the ssm, ssmmessages and ec2messages endpoints (module: create_vpc_endpoints "
    "= true), 443 blocked from the bastion security group to them, or an instance profile "
    "without AmazonSSMManagedInstanceCore. `bastion status {env}` shows ssm_status; "
    "--wait SECONDS waits longer."
)


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


@dataclass
class Deadline:
    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.started + self.seconds - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0


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
    delays = session.backoff()
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
    delays = session.backoff()
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
    delays = session.backoff()
    while True:
        with ui.progress(since=deadline.started) as progress:
            started = start_when_connected(aws, request, progress, deadline)
            progress.done(f"shell session {started.session_id} (`exit` ends it)")
        began = time.monotonic()
        with Watch(door, bastion, ui, threading.Event(), raw_terminal=True):
            code = session.run_shell(plugin, aws, started)
        if code == 0 or time.monotonic() - began > QUICK_EXIT:
            return after_session(door, bastion)
        session.terminate(aws, started)
        if deadline.passed():
            raise NotReady(f"The shell session closed at once (plugin exit code {code}).")
        delay = next(delays)
        ui.warn(f"the session closed at once (exit code {code}); retrying in {delay:.0f}s")
        time.sleep(delay)


def show_ready(
    ui: Ui,
    env: Environment,
    bastion: Bastion,
    forward: PortForward,
    tunnel: Tunnel,
    *,
    verbose: bool,
) -> None:
    request = tunnel.started.request
    local_port = int((request.parameters or {})["localPortNumber"][0])
    ui.out(
        f"{ui.green}Tunnel open{ui.reset}: localhost:{local_port} → {forward.host}:"
        f"{forward.port} through {bastion.instance_id} ({forward.document})"
    )
    if verbose:
        ui.info(f"  same as: {aws_cli_equivalent(request, tunnel.region)}")
    ui.out("Connect with:")
    ui.out(f"  {ui.bold}{client_command(env, forward, local_port)}{ui.reset}")
    left = bastion.seconds_left
    when = f" (in {describe_remaining(left)})" if left is not None else ""
    ui.out(
        f"The bastion expires at {clock_time(bastion.expires_at)}{when}; you will be warned 30 "
        "minutes before. Ctrl-C ends the session."
    )


def stay_connected(door: Door, bastion: Bastion, tunnel: Tunnel, ui: Ui) -> Exit:
    """Until Ctrl-C, the plugin's exit or the bastion's end."""
    env = door.env
    with StopSignals(tunnel.wake) as signals, Watch(door, bastion, ui, tunnel.wake) as watch:
        while signals.received is None and not tunnel.exited.is_set() and watch.ended is None:
            tunnel.wake.wait(1.0)
    if watch.ended is not None:
        tunnel.stop()
        raise ended(watch.ended, env.name)
    if signals.received is not None:
        tunnel.stop()
        ui.info(
            f"Session closed. {bastion.instance_id} keeps running until "
            f"{clock_time(bastion.expires_at)}; `bastion destroy {env.name}` ends it now."
        )
        return Exit.OK
    after_session(door, bastion)  # raises BastionEnded when the bastion is gone
    raise NotReady(
        f"The tunnel closed (plugin exit code {tunnel.process.returncode}). Its last output:\n"
        f"{tunnel.output or '(none)'}",
        "Session Manager closes idle sessions (the document's idleSessionTimeout) and long "
        f"ones (maxSessionDuration). Run `bastion connect {env.name}` again to reopen it.",
    )


# ------------------------------------------------------------------ while connected
class Watch:
    """Polls ``status`` while connected: warns 30 minutes before expiry (again after an
    extend moves it), and notices when the bastion is gone."""

    def __init__(
        self,
        door: Door,
        bastion: Bastion,
        ui: Ui,
        wake: threading.Event,
        *,
        raw_terminal: bool = False,  # a shell's terminal: lines need their carriage return
    ) -> None:
        self.door, self.bastion, self.ui, self.wake = door, bastion, ui, wake
        self.raw_terminal = raw_terminal
        self.interval = float(os.environ.get("BASTION_STATUS_INTERVAL") or STATUS_INTERVAL)
        self.ended: Bastion | None = None
        self._warned_for: object = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self.check(self.bastion)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                answer = self.door.call("status", instance_id=self.bastion.instance_id)
            except NotFound:
                self.ended = self.bastion
            except CliError:
                continue  # a transient failure: the next poll tells
            else:
                current = Bastion.from_answer(answer)
                if current.gone:
                    self.ended = current
                else:
                    self.check(current)
            if self.ended is not None:
                self.wake.set()
                return

    def check(self, bastion: Bastion) -> None:
        left = bastion.seconds_left
        if left is None or left > WARN_BEFORE_SECONDS or bastion.expires_at == self._warned_for:
            return
        self._warned_for = bastion.expires_at
        text = (
            f"Bastion {bastion.instance_id} expires at {clock_time(bastion.expires_at)} "
            f"(in {describe_remaining(left)}); the session ends then. Extend it: "
            f"bastion extend {self.door.env.name}"
        )
        self.ui.warn(f"\r\n{text}\r" if self.raw_terminal else text)


def after_session(door: Door, bastion: Bastion) -> Exit:
    """Exit normally, unless the bastion itself is gone."""
    try:
        current = Bastion.from_answer(door.call("status", instance_id=bastion.instance_id))
    except NotFound:
        current = None
    except CliError:
        return Exit.OK
    if current is None or current.gone:
        raise ended(current or bastion, door.env.name)
    return Exit.OK


def ended(bastion: Bastion, env: str) -> BastionEnded:
    state = bastion.state or "gone"
    return BastionEnded(
        f"Bastion {bastion.instance_id} has ended ({state}): it expired at "
        f"{clock_time(bastion.expires_at)} or was destroyed. The session is over.",
        f"`bastion connect {env}` creates a new one; when warned, `bastion extend {env}` "
        "keeps it (up to the hard cap).",
    )


def interrupted(bastion: Bastion, env: Environment) -> CliError:
    error = CliError(
        "Interrupted.",
        f"{bastion.instance_id} keeps running until {clock_time(bastion.expires_at)}: "
        f"`bastion connect {env.name}` picks it up again, `bastion destroy {env.name}` ends it.",
    )
    error.exit = Exit.INTERRUPTED
    return error


# ------------------------------------------------------------------ ports and clients
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


def port_hint(port: str) -> str:
    return (
        f"Pick another with --local-port N, or leave --local-port out to get a free one "
        f"(`lsof -i :{port}` shows who holds it)."
    )


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


def client_command(env: Environment, forward: PortForward, local_port: int) -> str:
    engine = env.engine or ENGINE_BY_PORT.get(forward.port)
    if engine == "postgres":
        words = ["host=localhost", f"port={local_port}"]
        words += [f"dbname={env.database}"] if env.database else []
        words += [f"user={env.db_user}"] if env.db_user else []
        return 'psql "' + " ".join([*words, "sslmode=require"]) + '"'
    if engine == "mysql":
        # 127.0.0.1, not localhost: the mysql client takes "localhost" for its Unix socket.
        words = ["mysql", "-h", "127.0.0.1", "-P", str(local_port)]
        words += ["-u", env.db_user, "-p"] if env.db_user else []
        words += [env.database] if env.database else []
        return shlex.join(words)
    return f"any client to localhost:{local_port}"


def aws_cli_equivalent(request: Request, region: str) -> str:
    """The same session with the AWS CLI (for the curious, and for bug reports)."""
    import json

    words = ["aws", "ssm", "start-session", "--region", region, "--target", request.target]
    if request.document:
        words += ["--document-name", request.document]
    if request.parameters:
        words += ["--parameters", json.dumps(request.parameters, separators=(",", ":"))]
    return shlex.join(words)
