"""Session Manager sessions, started here and handed to ``session-manager-plugin``.

As the AWS CLI (``awscli/customizations/sessionmanager.py``) and basti do: ``StartSession``
through boto3 with the caller's credentials, then the plugin with

    session-manager-plugin <response> <region> StartSession <profile> <request JSON> <endpoint>

where ``<response>`` is ``{"SessionId", "TokenValue", "StreamUrl"}``. Plugins newer than
1.2.497.0 read it from the environment variable ``AWS_SSM_START_SESSION_RESPONSE`` when that
name is passed instead, which keeps the session token out of the process list; the version is
asked with ``--version`` first, as the AWS CLI does.

A port forward runs the plugin in its own process group with its output piped: the tunnel is
open when it prints ``Port N opened`` / ``Waiting for connections``; Ctrl-C reaches only this
process, which asks the plugin to stop (SIGINT: it terminates the session itself). A shell
inherits the terminal; user signals are ignored here meanwhile and belong to the plugin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from bastion_cli.aws import Aws, error_code
from bastion_cli.errors import CliError, Forbidden, PluginMissing, Unreachable, plugin_install_hint

PLUGIN: Final = "session-manager-plugin"
RESPONSE_ENV: Final = "AWS_SSM_START_SESSION_RESPONSE"
LAST_VERSION_WITHOUT_ENV: Final = (1, 2, 497, 0)
OPENED: Final = re.compile(r"opened for sessionid|waiting for connections", re.IGNORECASE)
PORT_IN_USE: Final = re.compile(
    r"address already in use|only one usage of each socket address", re.IGNORECASE
)
OPEN_TIMEOUT: Final = 30.0  # basti waits as long for the plugin to open the port
STOP_GRACE: Final = 5.0
_CREDENTIAL_CODES: Final = frozenset(
    {"ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException"}
)


class TargetNotConnected(Exception):
    """The agent is not connected to Session Manager yet: retried until the deadline."""


@dataclass(frozen=True)
class Plugin:
    path: str
    version: tuple[int, ...] | None

    @classmethod
    def find(cls) -> Plugin:
        path = shutil.which(PLUGIN)
        if path is None:
            raise PluginMissing(
                f"The Session Manager plugin ({PLUGIN}) is not installed or not on PATH.",
                plugin_install_hint(),
            )
        try:
            out = subprocess.run(  # noqa: S603 (the plugin found on PATH, fixed arguments)
                [path, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        parts = re.sub(r"\s+", "", out).split(".")
        version = tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None
        return cls(path, version)

    @property
    def reads_env(self) -> bool:
        return self.version is not None and self.version > LAST_VERSION_WITHOUT_ENV


@dataclass(frozen=True)
class Request:
    """The StartSession request: also what the plugin is told (and CloudTrail records)."""

    target: str
    document: str | None
    parameters: dict[str, list[str]] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"Target": self.target}
        if self.document:
            params["DocumentName"] = self.document
        if self.parameters:
            params["Parameters"] = self.parameters
        return params


@dataclass(frozen=True)
class Started:
    request: Request
    session_id: str
    response: dict[str, str]


def start(aws: Aws, request: Request) -> Started:
    """``ssm:StartSession``; ``TargetNotConnected`` is raised for the caller to retry."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    try:
        answer = aws.ssm.start_session(**request.params())
    except ClientError as e:
        code = error_code(e)
        message = str(e.response.get("Error", {}).get("Message", "")) or str(e)
        if code == "TargetNotConnected":
            raise TargetNotConnected(message) from e
        if code == "AccessDeniedException":
            document = request.document or "the default shell document"
            raise Forbidden(
                f"AWS does not let you start a session on {request.target} through "
                f"{document} ({message}).",
                "Your role or permission set needs the module's bastion_user_policy_json "
                "(ssm:StartSession on your own bastions through the module's documents). "
                "Check --profile: it must be the identity that created the bastion.",
            ) from e
        if code in _CREDENTIAL_CODES:
            raise aws.expired_token(message) from e
        if code == "InvalidDocument":
            raise CliError(
                f"The Session Manager document {request.document} does not exist in "
                f"{aws.region} ({message}).",
                "Check the environment's region (bastion configure --show); the platform "
                "team's module creates the document.",
            ) from e
        raise CliError(f"StartSession failed: {code}: {message}", "Retry in a minute.") from e
    except EndpointConnectionError as e:
        raise Unreachable(
            f"Session Manager in {aws.region} is unreachable ({e}).",
            "Check your network, VPN or proxy.",
        ) from e
    except BotoCoreError as e:
        raise aws.credentials_error(e) from e
    response = {k: str(answer[k]) for k in ("SessionId", "TokenValue", "StreamUrl")}
    return Started(request, response["SessionId"], response)


def terminate(aws: Aws, started: Started) -> None:
    """Best effort: a session whose plugin died must not linger on the agent."""
    with suppress(Exception):
        aws.ssm.terminate_session(SessionId=started.session_id)


def plugin_command(plugin: Plugin, aws: Aws, started: Started) -> tuple[list[str], dict[str, str]]:
    """The plugin's argv and environment (its argument contract: see the module docstring)."""
    env = dict(os.environ)
    response = json.dumps(started.response)
    if plugin.reads_env:
        env[RESPONSE_ENV] = response
        response = RESPONSE_ENV
    argv = [
        plugin.path,
        response,
        aws.region,
        "StartSession",
        aws.profile or "",
        json.dumps(started.request.params()),
        aws.ssm.meta.endpoint_url,
    ]
    return argv, env


class Outcome(Enum):
    OPEN = "open"
    EXITED = "exited"
    TIMEOUT = "timeout"
    PORT_IN_USE = "port in use"


@dataclass
class Tunnel:
    """A port-forwarding plugin process and what it printed."""

    process: subprocess.Popen[str]
    started: Started
    region: str
    wake: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    port_in_use: bool = False

    @classmethod
    def spawn(
        cls, plugin: Plugin, aws: Aws, started: Started, wake: threading.Event | None = None
    ) -> Tunnel:
        argv, env = plugin_command(plugin, aws, started)
        try:
            process = _popen(argv, env)
        except FileNotFoundError as e:
            raise PluginMissing(f"{plugin.path} is gone.", plugin_install_hint()) from e
        tunnel = cls(process, started, aws.region, wake or threading.Event())
        threading.Thread(target=tunnel._read, daemon=True).start()
        return tunnel

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if OPENED.search(line):
                self.opened.set()
            if PORT_IN_USE.search(line):
                self.port_in_use = True
        self.process.wait()
        self.exited.set()
        self.wake.set()

    def wait_open(self, timeout: float) -> Outcome:
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            if self.opened.wait(0.05):
                return Outcome.OPEN
            if self.exited.is_set():
                return Outcome.PORT_IN_USE if self.port_in_use else Outcome.EXITED
        return Outcome.TIMEOUT

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        """SIGINT (the plugin sends TerminateSession and exits), then SIGTERM, then SIGKILL."""
        for send in (self._interrupt, self.process.terminate, self.process.kill):
            if self.process.poll() is not None:
                break
            send()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_GRACE)
        code = self.process.wait()
        self.exited.wait(1)
        return code

    def _interrupt(self) -> None:
        if os.name == "nt":  # no SIGINT for another process group on Windows
            self.process.terminate()
        else:
            self.process.send_signal(signal.SIGINT)


def _popen(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 (the plugin found on PATH; our own arguments)
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # Ctrl-C comes to us; we stop the plugin cleanly
    )


def run_shell(plugin: Plugin, aws: Aws, started: Started) -> int:
    """The plugin on this terminal until the user leaves the shell; its exit code."""
    argv, env = plugin_command(plugin, aws, started)
    with _user_signals_ignored():
        return subprocess.call(argv, env=env)  # noqa: S603 (the plugin; our own arguments)


@contextmanager
def _user_signals_ignored() -> Iterator[None]:
    """As the AWS CLI does: Ctrl-C, Ctrl-\\ and Ctrl-Z belong to the remote shell."""
    names = ("SIGINT", "SIGQUIT", "SIGTSTP")
    wanted = [getattr(signal, n) for n in names if hasattr(signal, n)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP end the session cleanly instead of raising mid-step."""

    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for name in ("SIGINT", "SIGTERM", "SIGHUP"):
                if hasattr(signal, name):
                    sig = getattr(signal, name)
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum
        self.wake.set()


def backoff() -> Iterator[float]:
    """1, 2, 3, then every 5 seconds."""
    yield from (1.0, 2.0, 3.0)
    while True:
        yield 5.0


Sleep = Callable[[float], None]
