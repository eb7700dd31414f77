"""What ``bastion connect`` prints once the tunnel is open: where it goes, the database
client's command line, and when the bastion expires."""

from __future__ import annotations

import shlex
from typing import Final

from bastion_cli.bastion import Bastion, PortForward, clock_time, describe_remaining
from bastion_cli.config import Environment
from bastion_cli.plugin_process import Tunnel
from bastion_cli.session import Request
from bastion_cli.ui import Ui

ENGINE_BY_PORT: Final = {5432: "postgres", 3306: "mysql"}


def show_ready(
    ui: Ui,
    env: Environment,
    bastion: Bastion,
    forward: PortForward,
    tunnel: Tunnel,
    *,
    verbose: bool,
) -> None:
    request = tunnel.started.request
    local_port = int((request.parameters or {})["localPortNumber"][0])
    ui.out(
        f"{ui.green}Tunnel open{ui.reset}: localhost:{local_port} → {forward.host}:"
        f"{forward.port} through {bastion.instance_id} ({forward.document})"
    )
    if verbose:
        ui.info(f"  same as: {aws_cli_equivalent(request, tunnel.region)}")
    ui.out("Connect with:")
    ui.out(f"  {ui.bold}{client_command(env, forward, local_port)}{ui.reset}")
    left = bastion.seconds_left
    when = f" (in {describe_remaining(left)})" if left is not None else ""
    ui.out(
        f"The bastion expires at {clock_time(bastion.expires_at)}{when}; you will be warned 30 "
        "minutes before. Ctrl-C ends the session."
    )


def client_command(env: Environment, forward: PortForward, local_port: int) -> str:
    engine = env.engine or ENGINE_BY_PORT.get(forward.port)
    if engine == "postgres":
        words = ["host=localhost", f"port={local_port}"]
        words += [f"dbname={env.database}"] if env.database else []
        words += [f"user={env.db_user}"] if env.db_user else []
        return 'psql "' + " ".join([*words, "sslmode=require"]) + '"'
    if engine == "mysql":
        # 127.0.0.1, not localhost: the mysql client takes "localhost" for its Unix socket.
        words = ["mysql", "-h", "127.0.0.1", "-P", str(local_port)]
        words += ["-u", env.db_user, "-p"] if env.db_user else []
        words += [env.database] if env.database else []
        return shlex.join(words)
    return f"any client to localhost:{local_port}"


def aws_cli_equivalent(request: Request, region: str) -> str:
    """The same session with the AWS CLI (for the curious, and for bug reports)."""
    import json

    words = ["aws", "ssm", "start-session", "--region", region, "--target", request.target]
    if request.document:
        words += ["--document-name", request.document]
    if request.parameters:
        words += ["--parameters", json.dumps(request.parameters, separators=(",", ":"))]
    return shlex.join(words)
