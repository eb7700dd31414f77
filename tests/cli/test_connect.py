"""``bastion connect`` end to end: the real CLI process, the real handlers behind a SigV4-checking
Function URL stand-in, moto, and a stand-in session-manager-plugin that records what it got."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from tests.cli.conftest import PORT_FORWARD_DOCUMENT, RDS_ENDPOINT, SESSION_DOCUMENT
from tests.support.cli_runner import free_port
from tests.support.function_url_standin import ALICE

pytestmark = pytest.mark.integration


def test_connect_opens_the_database_tunnel_and_ctrl_c_ends_it(cli, door, plugin, deployment):
    # Given alice's config for dev and a bastion whose agent comes online on the 2nd poll
    door.agent.online_after = 2
    port = free_port()

    # When she runs `bastion connect dev`
    session = cli.start("connect", "dev", "--local-port", str(port), "--reason", "INC-4711")
    command = session.wait_for("psql")

    # Then the plugin was started with the session AWS gave her, for her bastion, through the
    # deployment's port-forward document, forwarding to the database
    (start,) = plugin.starts()
    argv = start["argv"]
    request = json.loads(argv[5])
    instance_id = deployment.running()[0]
    assert request == {
        "Target": instance_id,
        "DocumentName": PORT_FORWARD_DOCUMENT,
        "Parameters": {
            "host": [RDS_ENDPOINT],
            "portNumber": ["5432"],
            "localPortNumber": [str(port)],
        },
    }
    assert argv[1] == "AWS_SSM_START_SESSION_RESPONSE" and start["response_from_env"]
    assert set(start["response"]) == {"SessionId", "TokenValue", "StreamUrl"}
    assert argv[2:5] == ["us-east-1", "StartSession", ""]
    assert argv[6] == door.url  # the SSM endpoint the CLI's client used
    assert ("StartSession", request) in door.ssm_requests

    # and she sees progress, then a ready-to-paste client command for the tunnel
    assert (
        command.strip()
        == f'psql "host=localhost port={port} dbname=app user=alice sslmode=require"'
    )
    assert (
        f"Tunnel open: localhost:{port} → {RDS_ENDPOINT}:5432 through {instance_id}" in session.out
    )
    for phase in ("launched", "running", "agent online", "tunnel open"):
        assert phase in session.err
    # and the bastion is hers, with her reason
    tags = deployment.tags(instance_id)
    assert tags["RequestedByUserId"] == ALICE.user_id and tags["Reason"] == "INC-4711"

    # When she presses Ctrl-C
    session.process.send_signal(signal.SIGINT)

    # Then the session ends cleanly: the plugin was asked to stop, the CLI exits 0
    assert session.wait() == 0
    assert plugin.events(start["pid"]) == ["start", "SIGINT", "exit"]
    assert "Session closed" in session.err and "bastion destroy dev" in session.err
    assert deployment.state(instance_id) == "running"  # the bastion stays until it expires


def test_connect_reuses_the_bastion_and_counts_its_calls(cli, door, plugin, deployment):
    # Given a bastion alice already has, whose agent is online
    first = cli.start("connect", "dev", "--local-port", str(free_port()))
    first.wait_for("psql")
    first.process.send_signal(signal.SIGINT)
    assert first.wait() == 0
    door.calls.clear()

    # When she connects again
    again = cli.start("connect", "--local-port", str(free_port()))  # the default environment
    again.wait_for("psql")

    # Then the same bastion is reused, with one create, one status and one StartSession
    assert "reusing your bastion" in again.err
    assert len(deployment.running()) == 1
    assert door.door_calls() == ["create", "status"]
    assert door.ssm_calls() == ["StartSession"]
    again.process.send_signal(signal.SIGTERM)
    assert again.wait() == 0


def test_target_not_connected_and_a_plugin_that_exits_at_once_are_retried(cli, door, plugin):
    # Given Session Manager refuses the first StartSession (the agent is still registering),
    # and the plugin's first tunnel dies at once
    door.plan_start_session("TargetNotConnected", "ok")
    plugin.script("exit", "tunnel")

    session = cli.start("connect", "dev", "--local-port", str(free_port()))
    session.wait_for("psql")

    # Then both were retried: 3 StartSessions, the dead session terminated, 2 plugin starts
    assert door.ssm_calls() == ["StartSession", "StartSession", "TerminateSession", "StartSession"]
    assert [s["behaviour"] for s in plugin.starts()] == ["exit", "tunnel"]
    assert "TargetNotConnected; retrying" in session.err
    assert "exited; retrying" in session.err
    session.process.send_signal(signal.SIGINT)
    assert session.wait() == 0


def test_shell_opens_the_logged_session_document(cli, door, plugin, deployment):
    plugin.script("shell")

    result = cli.run("connect", "dev", "--shell")

    assert result.returncode == 0, result.stderr
    (start,) = plugin.starts()
    assert json.loads(start["argv"][5]) == {
        "Target": deployment.running()[0],
        "DocumentName": SESSION_DOCUMENT,
    }
    assert "shell session" in result.stderr


def test_the_bastion_expiring_mid_session_is_warned_then_ends_the_session(
    cli, door, plugin, deployment, clock, lambda_context
):
    from datetime import datetime, timedelta

    import auto_terminate

    session = cli.start("connect", "dev", "--local-port", str(free_port()))
    session.wait_for("psql")
    instance_id = deployment.running()[0]
    expires = datetime.fromisoformat(deployment.tags(instance_id)["ExpiresAt"])

    # When the clock reaches 29 minutes before expiry, the connected CLI warns
    clock.current = expires - timedelta(minutes=29)
    warning = session.wait_for("expires at", stream="stderr")
    assert "bastion extend dev" in warning

    # When the termination schedule fires, the CLI ends the session and says why
    clock.current = expires
    with door.lock:
        auto_terminate.lambda_handler(
            {"action": "terminate", "instance_id": instance_id}, lambda_context
        )
    assert session.wait(30) == 11
    assert "has ended" in session.err and "bastion connect dev" in session.err
    (start,) = plugin.starts()
    assert "SIGINT" in plugin.events(start["pid"])


def _unused(_: Any) -> None:
    pass


def test_in_a_protected_environment_connect_waits_for_approval_then_connects(
    cli, door, plugin, deployment, monkeypatch, idempotency_table, slack
):
    from bastion_orchestrator.domain.actor import Actor
    from models import Approve
    from tests.support import roots

    # Given approvals on (the CLI's caller is no approver: approvers are Slack users)
    monkeypatch.setenv("APPROVAL_REQUIRED", "true")
    monkeypatch.setenv("APPROVER_USER_IDS", "UAPPROVER1")
    monkeypatch.setenv("APPROVAL_CHANNEL", "C0APPROVALS")
    # UAPPROVER1 signs as no IAM principal: the orchestrator can tell them from the requester
    monkeypatch.setenv("APPROVER_IAM_PRINCIPALS", '{"UAPPROVER1": []}')
    roots.fresh()
    cli.extra_env["BASTION_APPROVAL_POLL"] = "0.5"
    door.agent.online_after = 1

    # When she runs `bastion connect dev`, it waits, saying so
    session = cli.start("connect", "dev", "--reason", "INC-77")
    session.wait_for("waiting for approval", stream="stderr")
    assert deployment.running() == []
    # And an approver approves her request in Slack
    [posted] = slack.to("C0APPROVALS")
    [approval_id] = {
        a["value"] for b in posted.body["blocks"] if b["type"] == "actions" for a in b["elements"]
    }
    with door.lock:  # one request at a time, as in one Lambda container (the CLI polls)
        decided = (
            roots.current()
            .dispatcher()
            .dispatch(
                Actor("slack", "UAPPROVER1"),
                Approve(action="approve", approval_id=approval_id),
                request_id="approval-in-slack",
            )
        )
    approved = roots.current().present(decided)
    assert approved["success"] is True
    # Then the CLI goes on to the tunnel on the approved bastion
    session.wait_for("psql")
    (start,) = plugin.starts()
    assert json.loads(start["argv"][5])["Target"] == approved["instance_id"]
    session.process.send_signal(signal.SIGINT)
    assert session.wait() == 0
