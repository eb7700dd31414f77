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
            "tools/bench/bench.py",
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


def test_cold_starts_are_measured_inside_the_cpu_share_of_the_modules_memory():
    """The bench's cold processes run inside a v1 cgroup cpu quota of memory/1769 of a core
    (Lambda's CPU share), not on a full core; the memory is the module's default."""
    from tools.bench import bench

    defaults = bench.module_memory()
    assert defaults["orchestrator_memory_size"] >= 128
    with bench.cpu_quota(256) as quota:
        if quota.directory is None:
            pytest.skip("no v1 cgroup cpu controller writable here (needs root)")
        assert (quota.directory / "cpu.cfs_quota_us").read_text().strip() == str(
            int(100_000 * 256 / 1769)
        )
        inside = subprocess.run(
            quota.command([sys.executable, "-c", "print(open('/proc/self/cgroup').read())"]),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    assert f"cpu:/{quota.directory.name}" in inside or f"cpu,cpuacct:/{quota.directory.name}" in (
        inside
    )
    assert not quota.directory.exists()  # removed once measured
