"""`make demo`'s and `make bench`'s CLI parts stay green (scripts/demo_cli.py and
tools/bench/bench_cli.py, each run alone on its own emulator)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )


def test_the_cli_demo_connects_end_to_end():
    result = run("scripts/demo_cli.py")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "✗" not in out and "Traceback" not in out + result.stderr
    for line in (
        "waiting for the SSM agent",
        "agent online",
        "tunnel open",
        "the tunnel command",
        "session-manager-plugin AWS_SSM_START_SESSION_RESPONSE us-east-1 StartSession",
        'psql "host=localhost port=',
        "session closed cleanly, exit 0",
        '"error": "NOT_FOUND"',
        "CLI demo finished",
    ):
        assert line in out, line


def test_the_cli_bench_reports_its_figures():
    result = run("tools/bench/bench_cli.py", "--runs", "1", "--connects", "1")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for line in ("import bastion_cli.main", "bastion --help (wall)", "HTTP calls: create"):
        assert line in result.stdout, line
