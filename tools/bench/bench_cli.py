"""`make bench`, the CLI's part: how fast `bastion` starts, and what `bastion connect` costs
from the command to a ready tunnel on the emulator.

``cli_bench()`` prints three figures (`make bench` runs it after tools/bench/bench.py;
alone: ``python tools/bench/bench_cli.py [--runs N] [--connects N]``):

- cold import of ``bastion_cli.main``: ``python -X importtime``'s cumulative time, median of
  fresh interpreters, against a bare ``python -c pass`` start;
- wall time of ``bastion --help`` (``python -m bastion_cli --help``, the console script's
  code), median;
- ``bastion connect dev`` until the client command is printed, against the real handler behind
  the Function URL stand-in (moto's ``mock_aws`` in this process, the stand-in plugin on
  PATH): HTTP calls (IAM door + SSM) and wall time, with the SSM agent online at the first
  status poll and at the third. Each run starts from no bastion (the previous one is
  destroyed first, outside the measurement).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def cli_bench(runs: int = 7, connects: int = 3) -> dict[str, float]:
    figures: dict[str, float] = {}
    print(f"\nbastion CLI cold start (median of {runs} fresh interpreters)")
    base = _median(runs, lambda: _wall([sys.executable, "-c", "pass"]))
    imported = _median(runs, _import_time)
    helped = _median(runs, lambda: _wall([sys.executable, "-m", "bastion_cli", "--help"]))
    print(f"  python -c pass            {base * 1000:7.1f} ms  (the interpreter alone)")
    print(f"  import bastion_cli.main   {imported * 1000:7.1f} ms  (-X importtime, cumulative)")
    print(f"  bastion --help (wall)     {helped * 1000:7.1f} ms")
    figures.update(python_ms=base * 1000, import_ms=imported * 1000, help_ms=helped * 1000)

    print(f"\nbastion connect dev → ready, on the emulator (median of {connects})")
    with _emulator():
        for online_after in (1, 3):
            calls, seconds = _connect_runs(connects, online_after)
            label = "agent online at once " if online_after == 1 else "agent online 3rd poll"
            print(f"  {label}  {seconds:5.2f} s   {calls}")
            figures[f"connect_s_agent_{online_after}"] = seconds
    return figures


def _import_time() -> float:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bastion_cli.main"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    line = next(x for x in reversed(result.stderr.splitlines()) if x.endswith("bastion_cli.main"))
    cumulative_us = int(re.split(r"\s*\|\s*", line.split(":", 1)[1].strip())[1])
    return cumulative_us / 1e6


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, cwd=ROOT)
    return time.perf_counter() - started


def _median(runs: int, measure: Callable[[], float]) -> float:
    return float(statistics.median(measure() for _ in range(runs)))


def _connect_runs(runs: int, online_after: int) -> tuple[str, float]:
    from tests.support.cli_runner import Cli, free_port
    from tests.support.function_url_standin import Agent, StandIn
    from tests.support.plugin_standin import PluginStandIn

    timings: list[float] = []
    described = ""
    with tempfile.TemporaryDirectory(prefix="bastion-cli-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        door = StandIn().start()
        plugin = PluginStandIn(Path(tmp) / "plugin").install("tunnel")
        cli = Cli(home, door, plugin, status_interval=60)
        try:
            cli.configure(database="app")
            for _ in range(runs):
                cli.run("destroy", "dev")  # from no bastion (not measured)
                door.agent = Agent(online_after=online_after)
                door.calls.clear()
                session = cli.start("connect", "dev", "--local-port", str(free_port()))
                session.wait_for("psql", timeout=120)
                timings.append(time.monotonic() - session.started)
                door_calls, ssm_calls = door.door_calls(), door.ssm_calls()
                described = (
                    f"{len(door_calls) + len(ssm_calls)} HTTP calls: "
                    f"{', '.join(_counted(door_calls))} (IAM door) + "
                    f"{', '.join(_counted(ssm_calls))} (SSM)"
                )
                session.process.send_signal(signal.SIGINT)
                session.wait(30)
            cli.run("destroy", "dev")
        finally:
            door.stop()
    return described, statistics.median(timings)


def _counted(names: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [f"{n} x{c}" if c > 1 else n for n, c in counts.items()]


@contextmanager
def _emulator() -> Iterator[None]:
    """moto in this process, a deployment in it, dummy credentials; the environment restored
    afterwards."""
    from moto import mock_aws

    saved = dict(os.environ)
    from tools.bench.offline_aws import OFFLINE_AWS

    os.environ.update(
        OFFLINE_AWS,
        POWERTOOLS_LOG_LEVEL="ERROR",
        POWERTOOLS_METRICS_DISABLED="true",
        SESSION_DOCUMENT="docustack-dev-bastion-session",
        PORT_FORWARD_DOCUMENT="docustack-dev-bastion-port-forward",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            from bastion_orchestrator.clock import system_clock
            from tests.support import roots
            from tests.support.emulated import provision_deployment

            roots.use_clock(system_clock)
            provision_deployment()
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from tests.support import roots

        roots.fresh()
        roots.fresh()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per figure")
    parser.add_argument("--connects", type=int, default=3, help="connect runs per agent case")
    args = parser.parse_args()
    cli_bench(args.runs, args.connects)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
