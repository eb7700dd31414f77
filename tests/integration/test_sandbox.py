"""`make sandbox` (tools/sandbox.py): it comes up, answers what docs/sandbox.md tells a reader
to type (the invoke helper, signed Slack requests, the bastion CLI), and stops cleanly on
Ctrl-C. Loopback only."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_runner import Session

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]


def test_sandbox_answers_by_hand_and_stops_on_ctrl_c(tmp_path):
    state = tmp_path / "sandbox"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "sandbox.py"), "--dir", str(state)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    sandbox = Session(process)

    def shell(command: str) -> subprocess.CompletedProcess[str]:
        """As a reader would, in another terminal: `source .sandbox/env`, then the command."""
        return subprocess.run(
            ["bash", "-c", f'source "{state}/env" && {command}'],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
            cwd=ROOT,
        )

    try:
        sandbox.wait_for("Sandbox ready", timeout=90)
        created = shell("invoke file://tests/events/create.json")
        assert created.returncode == 0, created.stderr
        instance_id = json.loads(created.stdout)["instance_id"]

        helped = shell("infra bastion help")
        assert helped.returncode == 0, helped.stderr
        assert "HTTP 200" in helped.stdout and "/infra bastion create" in helped.stdout
        status = shell("infra bastion status dev")  # U12345, the seed payload's user
        assert "HTTP 200" in status.stdout and instance_id in status.stdout
        forged = shell("infra --secret not-the-secret bastion help")
        assert forged.returncode == 1 and "HTTP 401" in forged.stdout

        # A slow verb: acknowledged, then done by the async self-invocation, told in Slack.
        slow = shell("infra --user U2222 --name jane.dba bastion create dev 1h INC-1 poking")
        assert "HTTP 200" in slow.stdout and "Launching" in slow.stdout
        sandbox.wait_for("Slack reply (response_url): Bastion i-", timeout=30)

        cli = shell(f'bastion configure --from-terraform "{state}/cli_config.json" && bastion list')
        assert cli.returncode == 0, cli.stdout + cli.stderr
        # Signed as alice (the sandbox's keys): the IAM door shows her none of the others'.
        assert "No active bastions in dev" in cli.stdout
    finally:
        process.send_signal(signal.SIGINT)
        code = sandbox.wait(30)

    assert code == 0, sandbox.out[-2000:] + sandbox.err[-3000:]
    assert "Traceback" not in sandbox.err, sandbox.err[-3000:]
    assert "Sandbox stopped." in sandbox.out
    assert not state.exists()
