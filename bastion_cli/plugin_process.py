"""The plugin's process: a port forward in its own process group, read until it says the
tunnel is open (``Tunnel``), or a shell on the terminal (``run_shell``); the signals that stop
them, and the backoff between attempts."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bastion_cli.aws import Aws
from bastion_cli.errors import PluginMissing, plugin_install_hint
from bastion_cli.session import OPENED, PORT_IN_USE, STOP_GRACE, Plugin, Started, plugin_command


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
