"""The real ``bastion`` CLI, run as a user runs it (a separate process, its own environment,
a stand-in ``session-manager-plugin`` on PATH), against the real handlers behind a local
Function URL stand-in that checks SigV4 (tests/support/function_url_standin.py), with moto
behind them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import aws  # noqa: F401 (the moto deployment fixture)
from tests.support.function_url_standin import ALICE, Identity, StandIn
from tests.support.plugin_standin import PluginStandIn

ROOT = Path(__file__).parents[2]
SESSION_DOCUMENT = "docustack-dev-bastion-session"
PORT_FORWARD_DOCUMENT = "docustack-dev-bastion-port-forward"
RDS_ENDPOINT = "docustack-dev.cluster-abc123.us-east-1.rds.amazonaws.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def deployment(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    """The module's deployment: its logged shell and its pinned port-forward documents."""
    from bastion_orchestrator.app import wiring

    monkeypatch.setenv("SESSION_DOCUMENT", SESSION_DOCUMENT)
    monkeypatch.setenv("PORT_FORWARD_DOCUMENT", PORT_FORWARD_DOCUMENT)
    wiring.reset()
    return aws


@pytest.fixture
def door(deployment: Any, clock: Any) -> Iterator[StandIn]:
    standin = StandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def plugin(tmp_path: Path) -> PluginStandIn:
    return PluginStandIn(tmp_path / "plugin").install("tunnel")


@dataclass
class Cli:
    """Runs ``python -m bastion_cli`` (what the ``bastion`` console script runs)."""

    home: Path
    door: StandIn
    plugin: PluginStandIn
    identity: Identity = ALICE
    extra_env: dict[str, str] = field(default_factory=dict)
    with_plugin: bool = True

    @property
    def config(self) -> Path:
        return self.home / "bastion.toml"

    def env(self) -> dict[str, str]:
        path = [str(self.plugin.bin)] if self.with_plugin else []
        env = {
            "PATH": os.pathsep.join([*path, "/usr/bin", "/bin"]),
            "HOME": str(self.home),
            "PYTHONPATH": str(ROOT),
            "BASTION_CONFIG": str(self.config),
            "BASTION_STATUS_INTERVAL": "0.3",
            "NO_COLOR": "1",
            # The caller's credentials, as `aws configure export-credentials` would set them.
            "AWS_ACCESS_KEY_ID": self.identity.access_key,
            "AWS_SECRET_ACCESS_KEY": self.identity.secret_key,
            # No real AWS files, no instance metadata, nothing but loopback.
            "AWS_CONFIG_FILE": str(self.home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_SSM": self.door.url,
            "AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL_SSO_OIDC": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
        }
        if self.identity.token:
            env["AWS_SESSION_TOKEN"] = self.identity.token
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v != ""}

    def configure(self, url: str | None = None, **extra: str) -> None:
        args = ["configure", "dev", "--url", url or self.door.url, "--region", "us-east-1"]
        for key, value in extra.items():
            args += [f"--{key.replace('_', '-')}", value]
        result = self.run(*args)
        assert result.returncode == 0, result.stderr

    def run(
        self, *args: str, timeout: float = 90, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bastion_cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env(),
            cwd=self.home,
            input=stdin,
        )

    def start(self, *args: str) -> Session:
        process = subprocess.Popen(
            [sys.executable, "-m", "bastion_cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.home,
        )
        return Session(process)


@dataclass
class Session:
    """A running ``bastion connect``: its output, read as it comes."""

    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        import threading

        for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr)):  # fmt: skip
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60, stream: str = "stdout") -> str:
        lines = self.stdout if stream == "stdout" else self.stderr
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            for line in list(lines):
                if text in line:
                    return line
            if self.process.poll() is not None and not any(text in x for x in lines):
                time.sleep(0.2)  # let the pumps drain
                if not any(text in x for x in lines):
                    break
            time.sleep(0.05)
        raise AssertionError(
            f"{text!r} not seen (exit {self.process.poll()}).\nstdout:\n"
            + "\n".join(self.stdout)
            + "\nstderr:\n"
            + "\n".join(self.stderr)
        )

    def wait(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout)
        time.sleep(0.1)
        return code

    @property
    def out(self) -> str:
        return "\n".join(self.stdout)

    @property
    def err(self) -> str:
        return "\n".join(self.stderr)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def cli(tmp_path: Path, door: StandIn, plugin: PluginStandIn) -> Iterator[Cli]:
    home = tmp_path / "home"
    home.mkdir()
    runner = Cli(home, door, plugin)
    runner.configure(database="app", db_user="alice")
    yield runner
    # A tunnel a test left running is stopped by its pid (never by name), unless it exited.
    exited = {r["pid"] for r in plugin.records() if r["event"] == "exit"}
    for record in plugin.starts():
        if record["pid"] not in exited:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record["pid"], signal.SIGTERM)
