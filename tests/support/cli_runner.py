"""Running the real ``bastion`` CLI as a user does: its own process, its own environment
(the caller's credentials, the config file, a stand-in ``session-manager-plugin`` first on
PATH), talking only to loopback: the Function URL stand-in for the IAM door and for SSM.
Shared by tests/cli, ``make demo`` (scripts/demo_cli.py) and ``make bench``
(tools/bench/bench_cli.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.function_url_standin import ALICE, Identity, StandIn
from tests.support.plugin_standin import PluginStandIn

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cli:
    """Runs ``python -m bastion_cli`` (what the ``bastion`` console script runs)."""

    home: Path
    door: StandIn
    plugin: PluginStandIn
    identity: Identity = ALICE
    extra_env: dict[str, str] = field(default_factory=dict)
    with_plugin: bool = True
    status_interval: float = 0.3

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
            "BASTION_STATUS_INTERVAL": str(self.status_interval),
            "NO_COLOR": "1",
            # The caller's credentials, as `aws configure export-credentials` would set them.
            "AWS_ACCESS_KEY_ID": self.identity.access_key,
            "AWS_SECRET_ACCESS_KEY": self.identity.secret_key,
            "AWS_SESSION_TOKEN": self.identity.token or "",
            # No real AWS files, no instance metadata, nothing but loopback.
            "AWS_CONFIG_FILE": str(self.home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_SSM": self.door.url,
            "AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL_SSO_OIDC": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
        }
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v != ""}

    def configure(self, url: str | None = None, **extra: str) -> None:
        args = ["configure", "dev", "--url", url or self.door.url, "--region", "us-east-1"]
        for key, value in extra.items():
            args += [f"--{key.replace('_', '-')}", value]
        result = self.run(*args)
        assert result.returncode == 0, result.stderr

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bastion_cli", *args]

    def run(
        self, *args: str, timeout: float = 90, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env(),
            cwd=self.home,
            input=stdin,
        )

    def start(self, *args: str, echo: Any = None, merged: bool = False) -> Session:
        """``merged``: stderr into stdout, in the order the user would see them."""
        process = subprocess.Popen(
            self.command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.home,
        )
        return Session(process, echo=echo)


@dataclass
class Session:
    """A running ``bastion connect``: its output, read as it comes (``echo`` sees each line)."""

    process: subprocess.Popen[str]
    echo: Any = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        pumps = [(self.process.stdout, self.stdout, "out")]
        if self.process.stderr is not None:
            pumps.append((self.process.stderr, self.stderr, "err"))
        self._threads = [
            threading.Thread(target=self._pump, args=pump, daemon=True) for pump in pumps
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: Any, lines: list[str], name: str) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if self.echo is not None:
                self.echo(name, line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60, stream: str = "stdout") -> str:
        lines = self.stdout if stream == "stdout" else self.stderr
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            for line in list(lines):
                if text in line:
                    return line
            if self.process.poll() is not None:
                for thread in self._threads:
                    thread.join(2)
                if not any(text in x for x in lines):
                    break
            time.sleep(0.02)
        raise AssertionError(
            f"{text!r} not seen (exit {self.process.poll()}).\nstdout:\n"
            + "\n".join(self.stdout)
            + "\nstderr:\n"
            + "\n".join(self.stderr)
        )

    def wait(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout)
        for thread in self._threads:
            thread.join(2)
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
