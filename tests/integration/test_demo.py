"""`make demo` stays green: the script runs the lifecycle on a moto server and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]


def test_demo_runs_the_whole_lifecycle():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "✗" not in out and "Traceback" not in out + result.stderr
    for line in (
        "bastion launched",
        "requester warned",
        "instance terminated",
        "sweep terminated",
        "Demo finished",
    ):
        assert line in out
