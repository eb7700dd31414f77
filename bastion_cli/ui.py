"""What the user sees: results on stdout, progress, warnings and errors on stderr.

On a terminal the progress line redraws in place (phase + elapsed time, ticking while a
request is in flight); otherwise each change of phase is one line, so logs and tests read it.
Colour only on a terminal, and never with ``NO_COLOR``.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from bastion_cli.errors import CliError


def _tty(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb"


class Ui:
    def __init__(
        self,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.clock = clock
        self.live = _tty(self.stderr)
        colour = self.live and _tty(self.stdout) and "NO_COLOR" not in os.environ
        self.bold, self.dim, self.green, self.yellow, self.red, self.reset = (
            ("\033[1m", "\033[2m", "\033[32m", "\033[33m", "\033[31m", "\033[0m")
            if colour
            else ("",) * 6
        )
        self._lock = threading.Lock()
        self._progress: Progress | None = None

    def out(self, text: str = "") -> None:
        with self._lock:
            self._clear_line()
            print(text, file=self.stdout, flush=True)

    def info(self, text: str) -> None:
        with self._lock:
            self._clear_line()
            print(text, file=self.stderr, flush=True)

    def warn(self, text: str) -> None:
        self.info(f"{self.yellow}⚠ {text}{self.reset}")

    def error(self, error: CliError) -> None:
        self.info(f"{self.red}✗ {error.message}{self.reset}")
        if error.remedy:
            self.info(f"  → {error.remedy}")

    def progress(self, since: float | None = None) -> Progress:
        return Progress(self, since)

    def _clear_line(self) -> None:
        if self.live and self._progress is not None:
            self.stderr.write("\r\033[K")


class Progress:
    """``with ui.progress() as p: p.phase("launching", "i-…")``: elapsed time is shown from
    the moment the block starts."""

    SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, ui: Ui, since: float | None = None) -> None:
        self.ui = ui
        self.since = since
        self.started = ui.clock() if since is None else since
        self.name = ""
        self.detail = ""
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        self.started = self.ui.clock() if self.since is None else self.since
        self.ui._progress = self
        if self.ui.live:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self.ui._lock:
            self.ui._clear_line()
            self.ui._progress = None

    @property
    def elapsed(self) -> float:
        return self.ui.clock() - self.started

    def phase(self, name: str, detail: str = "") -> None:
        if (name, detail) == (self.name, self.detail):
            return
        self.name, self.detail = name, detail
        if not self.ui.live:
            text = f"{name}: {detail}" if detail else name
            print(f"  [{self.elapsed:6.1f}s] {text}", file=self.ui.stderr, flush=True)

    def done(self, text: str) -> None:
        """A finished step, kept on screen."""
        ui = self.ui
        with ui._lock:
            ui._clear_line()
            print(
                f"  {ui.green}✓{ui.reset} {text} {ui.dim}({self.elapsed:.1f}s){ui.reset}",
                file=ui.stderr,
                flush=True,
            )

    def _tick(self) -> None:
        ui = self.ui
        for frame in itertools.cycle(self.SPINNER):
            if self._stop.wait(0.1):
                return
            with ui._lock:
                detail = f" {ui.dim}{self.detail}{ui.reset}" if self.detail else ""
                ui.stderr.write(
                    f"\r\033[K{frame} {ui.bold}{self.name}{ui.reset}{detail} "
                    f"{ui.dim}{self.elapsed:5.1f}s{ui.reset}"
                )
                ui.stderr.flush()
