"""Every failure says what to do, and exits with its own code (docs/cli.md: exit codes). The real
CLI process against the real handlers; each fault is made where it happens for real."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.cli_runner import free_port
from tests.support.function_url_standin import ALICE, BOB

pytestmark = pytest.mark.integration


def launched(door) -> bool:
    return "create" in door.door_calls()


def test_the_plugin_missing_is_named_with_the_install_link_and_nothing_is_launched(cli, door):
    cli.with_plugin = False

    result = cli.run("connect", "dev")

    assert result.returncode == 12
    assert "session-manager-plugin) is not installed" in result.stderr
    assert "session-manager-working-with-install-plugin.html#install-plugin-linux" in result.stderr
    assert "macOS: brew install --cask session-manager-plugin" in result.stderr
    assert not launched(door)


def test_a_taken_local_port_fails_before_anything_is_launched(cli, door):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        result = cli.run("connect", "dev", "--local-port", str(port))

    assert result.returncode == 13
    assert f"Local port {port} is in use" in result.stderr
    assert "--local-port" in result.stderr and f"lsof -i :{port}" in result.stderr
    assert not launched(door)


def _sso_profile(home: Path, *, legacy: bool, token_expires: str | None) -> None:
    """An IAM Identity Center profile, and its cached token (expired) or none at all."""
    start_url = "https://corp.awsapps.com/start"
    if legacy:
        profile = f"sso_start_url = {start_url}\nsso_region = us-east-1\n"
        cache_key = start_url
    else:
        profile = "sso_session = corp\n"
        cache_key = "corp"
    (home / "aws-config").write_text(
        "[profile dev-sso]\n"
        f"{profile}sso_account_id = 123456789012\nsso_role_name = Developer\n"
        "region = us-east-1\n\n"
        f"[sso-session corp]\nsso_start_url = {start_url}\nsso_region = us-east-1\n"
    )
    if token_expires is not None:
        cache = home / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True)
        token = {"startUrl": start_url, "region": "us-east-1", "accessToken": "expired"}
        name = hashlib.sha1(cache_key.encode()).hexdigest()
        (cache / f"{name}.json").write_text(json.dumps({**token, "expiresAt": token_expires}))


@pytest.mark.parametrize(
    ("legacy", "token_expires"),
    [
        (False, None),  # never logged in: SSOTokenLoadError
        (False, "2020-01-01T00:00:00Z"),  # sso-session token expired: TokenRetrievalError
        (True, "2020-01-01T00:00:00Z"),  # legacy profile expired: UnauthorizedSSOTokenError
    ],
    ids=["not-logged-in", "sso-session-expired", "legacy-sso-expired"],
)
def test_an_expired_sso_session_says_aws_sso_login(cli, door, legacy, token_expires):
    # Given a developer whose credentials come from an SSO profile that has expired
    _sso_profile(cli.home, legacy=legacy, token_expires=token_expires)
    cli.extra_env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}

    result = cli.run("connect", "dev", "--profile", "dev-sso")

    assert result.returncode == 4, result.stderr
    assert "Run: aws sso login --profile dev-sso" in result.stderr
    assert not launched(door)


def test_expired_session_credentials_refused_by_aws_say_how_to_refresh(cli, door):
    door.identities[ALICE.access_key] = replace(ALICE, expired=True)

    result = cli.run("status", "dev")

    assert result.returncode == 4
    assert "security token included in the request is expired" in result.stderr
    assert "aws sso login --profile default" in result.stderr


def test_no_credentials_at_all(cli, door):
    cli.extra_env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}

    result = cli.run("status", "dev")

    assert result.returncode == 4
    assert "No AWS credentials found" in result.stderr


def test_a_forged_signature_is_refused_by_the_door(cli, door):
    # Given the right key id with the wrong secret: the stand-in recomputes the signature
    cli.identity = replace(ALICE, secret_key="not-alices-secret")

    result = cli.run("status", "dev")

    assert result.returncode == 4
    assert "signature we calculated does not match" in result.stderr
    assert door.calls[-1].status == 403 and door.calls[-1].identity is None


def test_iam_refusing_the_door_names_the_invoke_policy(cli, door):
    door.identities[ALICE.access_key] = replace(ALICE, may_invoke=False)

    result = cli.run("connect", "dev", "--local-port", str(free_port()))

    assert result.returncode == 5
    assert "IAM does not let you call the dev IAM door (Forbidden)" in result.stderr
    assert "iam_door_invoke_policy_json" in result.stderr


def test_iam_refusing_the_session_names_the_user_policy(cli, door, plugin):
    door.identities[ALICE.access_key] = replace(ALICE, may_start_session=False)

    result = cli.run("connect", "dev", "--local-port", str(free_port()))

    assert result.returncode == 5
    assert "AWS does not let you start a session on i-" in result.stderr
    assert "bastion_user_policy_json" in result.stderr
    assert plugin.starts() == []


def test_forbidden_by_the_orchestrator(cli, door, deployment, plugin):
    # Given alice's bastion
    plugin.script("shell")
    assert cli.run("connect", "dev", "--shell").returncode == 0
    instance_id = deployment.running()[0]
    # When bob (another signed caller, not an admin) asks for it by id
    cli.identity = BOB

    result = cli.run("destroy", "dev", "--instance-id", instance_id)

    assert result.returncode == 5
    assert "FORBIDDEN" not in result.stderr  # the message, not the code, is for people
    assert "owner or an admin" in result.stderr
    assert deployment.state(instance_id) == "running"


def test_no_capacity(cli, door):
    from tests.support.faults import Injector, ec2_error, injected
    from tests.support.roots import clients

    faults = Injector().fail("RunInstances", ec2_error("InsufficientInstanceCapacity"), 99)
    with injected(clients.ec2(), faults, []):
        result = cli.run("connect", "dev", "--local-port", str(free_port()))

    assert result.returncode == 8
    assert "capacity" in result.stderr.lower() and "retry in a few minutes" in result.stderr


def test_the_door_unreachable(cli):
    cli.configure(url=f"http://127.0.0.1:{free_port()}/")  # nothing listens there

    result = cli.run("status", "dev")

    assert result.returncode == 9
    assert "IAM door is unreachable: 127.0.0.1 refused the connection" in result.stderr
    assert "VPN or proxy" in result.stderr


def _door_that_hangs_up() -> tuple[socket.socket, threading.Thread]:
    """A listener that takes each request and closes the connection without a word: a door
    whose function crashed before answering (or a proxy that cut it), not a network fault."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_door_that_hangs_up_is_not_called_a_network_problem(cli):
    listener, _ = _door_that_hangs_up()
    with listener:
        cli.configure(url=f"http://127.0.0.1:{listener.getsockname()[1]}/")

        result = cli.run("status", "dev")

    assert result.returncode == 1, result.stderr
    assert "accepted the request but closed the connection without answering" in result.stderr
    assert "not a VPN or DNS problem" in result.stderr
    assert "unreachable" not in result.stderr and "check your network" not in result.stderr


def test_a_door_whose_function_crashes_says_so(cli, door, monkeypatch):
    def crash(*_args, **_kwargs):
        raise FileNotFoundError("a fixture the stand-in needed")

    monkeypatch.setattr(door, "_door_answer", crash)

    result = cli.run("status", "dev")

    assert result.returncode == 1, result.stderr
    assert "The orchestrator failed to answer (HTTP 502" in result.stderr
    assert "unreachable" not in result.stderr


def test_an_environment_not_configured(cli):
    result = cli.run("connect", "prod")

    assert result.returncode == 3
    assert "Environment 'prod' is not configured" in result.stderr
    assert "bastion configure prod --url URL --region REGION" in result.stderr


def test_nothing_configured(cli):
    cli.config.unlink()

    result = cli.run("connect")

    assert result.returncode == 3
    assert "No environments are configured" in result.stderr
    assert "bastion configure --from-terraform" in result.stderr


def test_an_agent_that_never_comes_online_times_out_with_the_probable_causes(cli, door):
    door.agent.online_after = 10**6

    result = cli.run("connect", "dev", "--wait", "2", "--local-port", str(free_port()))

    assert result.returncode == 10
    assert "SSM agent is not online" in result.stderr and "NotRegistered" in result.stderr
    assert "ssmmessages" in result.stderr and "AmazonSSMManagedInstanceCore" in result.stderr


def test_target_not_connected_past_the_deadline(cli, door, plugin):
    door.plan_start_session("TargetNotConnected")

    result = cli.run("connect", "dev", "--wait", "0", "--local-port", str(free_port()))

    assert result.returncode == 10, result.stderr
    assert "still says" in result.stderr and "not connected" in result.stderr
    assert plugin.starts() == []
