"""While connected: poll the bastion's status, warn before it expires, and notice when it
has ended under the session."""

from __future__ import annotations

import os
import threading
from typing import Final

from bastion_cli.bastion import Bastion, clock_time, describe_remaining
from bastion_cli.door import Door
from bastion_cli.errors import BastionEnded, CliError, Exit, NotFound, NotReady
from bastion_cli.plugin_process import StopSignals, Tunnel
from bastion_cli.ui import Ui

WARN_BEFORE_SECONDS: Final = 30 * 60  # the orchestrator's WARNING_MINUTES default
STATUS_INTERVAL: Final = 60.0  # how often a connected CLI asks for the bastion's status


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
