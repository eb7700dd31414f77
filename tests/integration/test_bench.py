"""`make bench`'s sweeps stay runnable: the same code, tiny sizes, against the fast fake
endpoint and a moto server (a missing moto compatibility step once broke only the bench)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]


def test_the_bench_sweeps_run_and_terminate_the_expired_half():
    # When the bench sweeps 50 bastions on the fake endpoint and 20 on moto
    result = subprocess.run(
        [
            sys.executable,
            "scripts/bench.py",
            "--skip",
            "calls,throttle,lambda",
            "--sweep-fake",
            "50",
            "--sweep",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    # Then both finish, and the moto sweep terminated the ten expired bastions
    assert result.returncode == 0, result.stderr[-3000:]
    assert "against a moto server" in result.stdout
    assert "TerminateInstances 1" in result.stdout and "deleted 20" in result.stdout
