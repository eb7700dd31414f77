"""``bastion status | extend | destroy | list`` (with ``--json`` and their exit codes) and
``bastion configure``, through the real CLI process and the real handlers."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def bastion(cli, plugin, deployment) -> str:
    """Alice's bastion, made by the CLI (a shell session that ends at once)."""
    plugin.script("shell")
    result = cli.run("connect", "dev", "--shell", "--hours", "2")
    assert result.returncode == 0, result.stderr
    return str(deployment.running()[0])


def test_status_without_a_bastion_exits_6_and_json_says_why(cli, door):
    human = cli.run("status", "dev")
    scripted = cli.run("status", "dev", "--json")

    assert human.returncode == 6 and scripted.returncode == 6
    assert "You have no active bastion in dev" in human.stderr
    assert "bastion connect dev" in human.stderr
    answer = json.loads(scripted.stdout)
    assert answer["success"] is False and answer["error"] == "NOT_FOUND"
    assert answer["exit_code"] == 6 and answer["remedy"]


def test_status_of_a_ready_bastion(cli, bastion):
    human = cli.run("status", "dev")
    scripted = cli.run("status", "--json")

    assert human.returncode == 0 and scripted.returncode == 0
    assert f"dev: {bastion} running, ready" in human.stdout
    assert "bastion connect dev" in human.stdout
    answer = json.loads(scripted.stdout)
    assert answer["instance_id"] == bastion and answer["ready"] is True
    assert 0 < answer["time_remaining_seconds"] <= 2 * 3600  # --hours 2


def test_extend_until_the_hard_cap_then_exit_7(cli, bastion, monkeypatch):
    from tests.support import roots

    monkeypatch.setenv("MAX_LIFETIME_HOURS", "3")
    roots.fresh()

    capped = cli.run("extend", "dev")
    again = cli.run("extend", "dev", "--json")

    assert capped.returncode == 0, capped.stderr
    assert f"Extended {bastion}" in capped.stdout and "last extension" in capped.stderr
    assert again.returncode == 7
    assert json.loads(again.stdout)["error"] == "LIMIT_EXCEEDED"


def test_in_a_protected_environment_extend_past_the_grant_waits_for_an_approver(
    cli, bastion, deployment, monkeypatch, idempotency_table, slack
):
    from tests.support import roots

    # Given the deployment became protected after her bastion was launched
    monkeypatch.setenv("APPROVAL_REQUIRED", "true")
    monkeypatch.setenv("APPROVER_USER_IDS", "UAPPROVER1")
    monkeypatch.setenv("APPROVAL_CHANNEL", "C0APPROVALS")
    roots.fresh()
    before = deployment.tags(bastion)["ExpiresAt"]

    result = cli.run("extend", "dev")

    assert result.returncode == 14, result.stderr
    assert f"extending {bastion} by 2 h" in result.stderr
    assert "bastion status dev` shows the new expiry" in result.stderr
    assert deployment.tags(bastion)["ExpiresAt"] == before


def test_destroy_then_status_and_list(cli, bastion, deployment):
    listed = cli.run("list", "dev", "--json")
    assert listed.returncode == 0
    assert [b["instance_id"] for b in json.loads(listed.stdout)["bastions"]] == [bastion]
    table = cli.run("list", "dev")
    assert table.stdout.splitlines()[0].split() == [
        "INSTANCE",
        "STATE",
        "EXPIRES",
        "REQUESTED",
        "BY",
    ]

    destroyed = cli.run("destroy", "dev")
    again = cli.run("destroy", "dev", "--instance-id", bastion, "--json")

    assert destroyed.returncode == 0 and f"Destroyed {bastion}" in destroyed.stdout
    assert again.returncode == 0 and json.loads(again.stdout)["already_terminated"] is True
    assert deployment.state(bastion) in {"shutting-down", "terminated"}
    assert cli.run("status", "dev").returncode == 6
    assert cli.run("status", "dev", "--instance-id", bastion).returncode == 6
    assert "No active bastions in dev" in cli.run("list", "dev").stdout


def test_invalid_arguments_exit_2(cli):
    assert cli.run("connect", "dev", "--hours", "0").returncode == 2
    assert cli.run("connect", "dev", "--local-port", "70000").returncode == 2
    refused = cli.run("status", "dev", "--instance-id", "i-nothex")
    assert refused.returncode == 2
    assert "instance_id" in refused.stderr


# ------------------------------------------------------------------ configure
def test_configure_from_the_modules_cli_config_output(cli):
    # `terraform output -json` (every output), piped in
    outputs = {
        "cli_config": {
            "sensitive": False,
            "type": ["object", {}],
            "value": {
                "environment": "staging",
                "project": "docustack",
                "region": "eu-west-1",
                "url": "https://abcdefghij.lambda-url.eu-west-1.on.aws/",
            },
        },
        "iam_door_url": {"value": "https://abcdefghij.lambda-url.eu-west-1.on.aws/"},
    }
    result = cli.run(
        "configure", "--from-terraform", "-", "--profile", "stg", stdin=json.dumps(outputs)
    )

    assert result.returncode == 0, result.stderr
    assert "Next: bastion connect staging" in result.stdout
    text = cli.config.read_text()
    assert '[environments.staging]\nurl = "https://abcdefghij.lambda-url.eu-west-1.on.aws/"' in text
    assert 'region = "eu-west-1"' in text and 'profile = "stg"' in text
    assert 'default = "dev"' in text  # the first environment stays the default
    shown = cli.run("configure", "--show")
    assert "dev (default): http://127.0.0.1" in shown.stdout
    assert "staging: https://abcdefghij" in shown.stdout and "profile=stg" in shown.stdout


def test_configure_from_a_cli_config_file_and_the_default(cli, tmp_path):
    path = tmp_path / "cli_config.json"
    path.write_text(
        json.dumps(
            {
                "environment": "prod",
                "project": "docustack",
                "region": "us-east-1",
                "url": "https://x.lambda-url.us-east-1.on.aws/",
            }
        )
    )

    result = cli.run("configure", "--from-terraform", str(path), "--default")

    assert result.returncode == 0
    assert 'default = "prod"' in cli.config.read_text()


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["configure", "qa"], None, "needs --url"),
        (
            ["configure", "qa", "--url", "http://example.com/", "--region", "us-east-1"],
            None,
            "not an IAM door URL",
        ),
        (
            ["configure", "qa", "--url", "https://x.on.aws/", "--region", "mars"],
            None,
            "not an AWS region",
        ),
        (
            ["configure", "--from-terraform", "-"],
            '{"environment": "dev", "region": "us-east-1", "url": null}',
            "no IAM door",
        ),
        (["configure", "--from-terraform", "-"], "not json", "not JSON"),
        (["configure", "--from-terraform", "/nonexistent.json"], None, "Cannot read"),
    ],
)
def test_configure_refuses_what_would_not_work(cli, args, stdin, expected):
    result = cli.run(*args, stdin=stdin)

    assert result.returncode == 2
    assert expected in result.stderr
