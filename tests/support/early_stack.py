"""``--terraform-early``: one terraform apply for the whole run, started when pytest starts.

The moto example's apply spends most of its 75 s in the AWS provider's fixed waits (S3
lifecycle and SQS attribute consistency polls), not in CPU. With this option the pytest
process that starts the run (the xdist controller, or the only process without xdist) starts
``python -m tests.terraform.stack DIR`` at once, so the apply overlaps the rest of the suite;
the session fixtures of ``tests/terraform`` wait for it instead of applying.

Under xdist every module of ``tests/terraform`` becomes one work unit, scheduled last, so one
worker (and one moto server) runs them all: two workers on one server would see each other's
bastions. ``make test`` passes the option with ``--dist loadfile``; with any other
distribution the option is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from tests.terraform import stack

OPTION = "--terraform-early"
KEY = "terraform_early_dir"
UNIT = "tests/terraform"


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION,
        action="store_true",
        help="apply the terraform moto example once, in the background, from the start",
    )


def directory(config: pytest.Config) -> Path | None:
    """Where the background apply reports, in this process (controller or worker)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        value = workerinput.get(KEY)
        return Path(value) if value else None
    value = getattr(config, "_terraform_early_dir", None)
    return Path(value) if value else None


class Plugin:
    """Registered in the process that starts the run, when the option is given."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="terraform-early-"))
        self.process: subprocess.Popen[bytes] | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if stack.TERRAFORM is None:
            return  # the fixtures skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.terraform.stack", str(self.base)],
            cwd=stack.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        session.config._terraform_early_dir = str(self.base)  # type: ignore[attr-defined]

    def pytest_sessionfinish(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()  # the stack's moto server stops
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.base, ignore_errors=True)  # the module copy and its state

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[KEY] = str(self.base)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        from xdist.scheduler import LoadFileScheduling

        class TerraformTogether(LoadFileScheduling):  # type: ignore[misc]  # xdist is untyped
            """Files are units, except that tests/terraform is one unit, always the last."""

            def __init__(self, config: pytest.Config, log: Any) -> None:
                super().__init__(config, log)
                self.workqueue = _TerraformLast()

            def _split_scope(self, nodeid: str) -> str:
                if nodeid.startswith(f"{UNIT}/"):
                    return UNIT
                return str(super()._split_scope(nodeid))

        return TerraformTogether(config, log)


class _TerraformLast(OrderedDict[str, dict[str, bool]]):
    def __setitem__(self, key: str, value: dict[str, bool]) -> None:
        super().__setitem__(key, value)
        if UNIT in self and key != UNIT:
            self.move_to_end(UNIT)


def configure(config: pytest.Config) -> None:
    if not config.getoption(OPTION) or hasattr(config, "workerinput"):
        return
    distributed = config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses")
    if distributed and config.getoption("dist") != "loadfile":
        raise pytest.UsageError(f"{OPTION} needs --dist loadfile (one worker runs {UNIT})")
    config.pluginmanager.register(Plugin(), "terraform-early")
