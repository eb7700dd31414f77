"""The real ``bastion`` CLI, run as a user runs it (a separate process, its own environment,
a stand-in ``session-manager-plugin`` on PATH), against the real handlers behind a local
Function URL stand-in that checks SigV4 (tests/support/function_url_standin.py), with moto
behind them."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401 (moto fixtures)
    aws,
    idempotency_table,
    slack,
)
from tests.support.cli_runner import Cli
from tests.support.function_url_standin import StandIn
from tests.support.plugin_standin import PluginStandIn

SESSION_DOCUMENT = "docustack-dev-bastion-session"
PORT_FORWARD_DOCUMENT = "docustack-dev-bastion-port-forward"
RDS_ENDPOINT = "docustack-dev.cluster-abc123.us-east-1.rds.amazonaws.com"


@pytest.fixture
def deployment(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    """The module's deployment: its logged shell and its pinned port-forward documents."""
    from tests.support import roots

    monkeypatch.setenv("SESSION_DOCUMENT", SESSION_DOCUMENT)
    monkeypatch.setenv("PORT_FORWARD_DOCUMENT", PORT_FORWARD_DOCUMENT)
    roots.fresh()
    return aws


@pytest.fixture
def door(deployment: Any, clock: Any) -> Iterator[StandIn]:
    standin = StandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def plugin(tmp_path: Path) -> PluginStandIn:
    return PluginStandIn(tmp_path / "plugin").install("tunnel")


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
