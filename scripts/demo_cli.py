"""`make demo`, the developer's part: `bastion connect dev` end to end on the emulator.

``cli_demo()`` is called by scripts/demo.py once its deployment is provisioned (the
contract's environment in ``os.environ``, an AWS backend in this process: its moto server).
It runs the real ``bastion`` CLI in its own process, as a developer would, against the real
handler behind the Function URL stand-in (SigV4 checked, ``authorizer.iam`` filled), with a
stand-in ``session-manager-plugin`` on PATH; the same stand-ins as tests/cli. It shows the
progress, the ready line, the tunnel command the plugin was started with, the client
command, a connection through the tunnel, Ctrl-C, then ``status`` and ``destroy``.

Alone (``python scripts/demo_cli.py``) it starts its own moto server and deployment.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SESSION_DOCUMENT = "docustack-dev-bastion-session"
PORT_FORWARD_DOCUMENT = "docustack-dev-bastion-port-forward"
TTY = sys.stdout.isatty()
BOLD, DIM, GREEN, RED, CYAN, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[36m", "\033[0m") if TTY else ("",) * 6
)


def _step(title: str) -> None:
    print(f"\n{BOLD}{CYAN}▶ {title}{RESET}")


def _check(condition: bool, what: str) -> None:
    print(f"  {GREEN}✓ {what}{RESET}" if condition else f"  {RED}✗ {what}{RESET}")
    if not condition:
        raise SystemExit(f"demo failed: {what}")


def cli_demo(
    *,
    step: Callable[[str], None] = _step,
    check: Callable[[bool, str], None] = _check,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """``bastion configure`` + ``bastion connect dev`` + Ctrl-C + ``status`` + ``destroy``.

    Sets the orchestrator's clock to ``clock`` (default: the system clock, so the new
    bastion's times match moto's launch time) and leaves it so.
    """
    from bastion_orchestrator.clock import system_clock
    from tests.support import roots
    from tests.support.cli_runner import Cli
    from tests.support.function_url_standin import Agent, StandIn
    from tests.support.plugin_standin import PluginStandIn

    roots.use_clock(clock or system_clock)
    with _documents(), tempfile.TemporaryDirectory(prefix="bastion-cli-demo-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        door = StandIn(agent=Agent(online_after=3)).start()
        plugin = PluginStandIn(Path(tmp) / "plugin").install("tunnel")
        cli = Cli(home, door, plugin, status_interval=2.0)
        try:
            _configure(cli, step, check)
            _connect(cli, door, plugin, step, check)
            _after(cli, step, check)
        finally:
            door.stop()


def _configure(cli: Any, step: Callable[[str], None], check: Callable[[bool, str], None]) -> None:
    step("bastion configure --from-terraform cli_config.json  (the module's cli_config output)")
    cli_config = {
        "environment": "dev",
        "project": "docustack",
        "region": "us-east-1",
        "url": cli.door.url,  # the IAM door's Function URL (here: the local stand-in)
    }
    path = cli.home / "cli_config.json"
    path.write_text(json.dumps(cli_config))
    print(f"  {DIM}{json.dumps(cli_config)}{RESET}")
    result = cli.run("configure", "--from-terraform", str(path), "--database", "app")
    _indent(result.stdout + result.stderr)
    check(result.returncode == 0, f"config written: {cli.config.name}")


def _connect(
    cli: Any,
    door: Any,
    plugin: Any,
    step: Callable[[str], None],
    check: Callable[[bool, str], None],
) -> None:
    from tests.support.cli_runner import free_port

    port = free_port()
    step(f"bastion connect dev --reason 'INC-4711 slow queries' --local-port {port}")
    print(f"  {DIM}(the SSM agent comes online on the 3rd status poll){RESET}")

    def echo(_stream: str, line: str) -> None:
        print(f"  {DIM}│{RESET} {line}")

    session = cli.start(
        "connect",
        "dev",
        "--reason",
        "INC-4711 slow queries",
        "--local-port",
        str(port),
        echo=echo,
        merged=True,
    )
    try:
        command = session.wait_for("psql", timeout=90).strip()
        ready = time.monotonic() - session.started
        (start,) = plugin.starts()
        argv = list(start["argv"])
        argv[0] = "session-manager-plugin"
        print(f"\n  {BOLD}the tunnel command{RESET} (what the plugin stand-in was started with):")
        print(f"    {shlex.join(argv)}")
        response = json.dumps(start["response"])[:72]
        print(f"    {DIM}with AWS_SSM_START_SESSION_RESPONSE={response}…{RESET}")
        request = json.loads(argv[5])
        check(
            request["DocumentName"] == PORT_FORWARD_DOCUMENT
            and request["Parameters"]["localPortNumber"] == [str(port)],
            f"StartSession through {PORT_FORWARD_DOCUMENT}, localhost:{port} → the database",
        )
        check(command.startswith(f'psql "host=localhost port={port}'), f"client command: {command}")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        time.sleep(0.3)
        connected = any(r["event"] == "connection" for r in plugin.records())
        check(connected, f"a client connected through localhost:{port}")
        calls = door.door_calls() + door.ssm_calls()
        check(True, f"ready in {ready:.1f}s with {len(calls)} HTTP calls: {', '.join(calls)}")

        step("Ctrl-C")
        session.process.send_signal(signal.SIGINT)
        code = session.wait(30)
        check(
            code == 0 and "SIGINT" in plugin.events(start["pid"]), "session closed cleanly, exit 0"
        )
    finally:
        session.kill()


def _after(cli: Any, step: Callable[[str], None], check: Callable[[bool, str], None]) -> None:
    step("bastion status dev")
    status = cli.run("status", "dev")
    _indent(status.stdout + status.stderr)
    check(status.returncode == 0 and "ready" in status.stdout, "still running until it expires")
    step("bastion destroy dev; bastion status dev --json")
    destroyed = cli.run("destroy", "dev")
    _indent(destroyed.stdout + destroyed.stderr)
    gone = cli.run("status", "dev", "--json")
    _indent(json.dumps(json.loads(gone.stdout)))
    check(
        destroyed.returncode == 0 and gone.returncode == 6,
        f"destroyed; status exits {gone.returncode} (no active bastion)",
    )


def _indent(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"  {DIM}│{RESET} {line}")


@contextmanager
def _documents() -> Iterator[None]:
    """The module's session documents, as its environment names them."""
    from tests.support import roots

    saved = {k: os.environ.get(k) for k in ("SESSION_DOCUMENT", "PORT_FORWARD_DOCUMENT")}
    os.environ.update(
        SESSION_DOCUMENT=SESSION_DOCUMENT, PORT_FORWARD_DOCUMENT=PORT_FORWARD_DOCUMENT
    )
    roots.fresh()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        roots.fresh()


def main() -> int:
    """Standalone: a moto server and a minimal deployment, then the CLI demo."""
    import logging

    from moto.server import ThreadedMotoServer

    from tests.support.cli_runner import free_port

    os.environ.update(
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        POWERTOOLS_LOG_LEVEL=os.environ.get("DEMO_LOG_LEVEL", "ERROR"),
        POWERTOOLS_METRICS_DISABLED="true",
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.monotonic()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    try:
        provision()
        cli_demo()
    finally:
        server.stop()
    print(f"\n{GREEN}{BOLD}CLI demo finished in {time.monotonic() - started:.1f}s.{RESET}")
    return 0


def provision() -> dict[str, str]:
    """What the Terraform module gives the orchestrator, in the emulator."""
    from tests.support.emulated import provision_deployment

    return provision_deployment()


if __name__ == "__main__":
    raise SystemExit(main())
