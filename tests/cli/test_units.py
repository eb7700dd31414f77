"""The CLI's pieces, in process and fast: the config file, reading the contract's answers, the
client command, ports, the plugin's argument contract, errors by type, and a lean import."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.error
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bastion_cli import config as cfg
from bastion_cli import connect
from bastion_cli.aws import Aws
from bastion_cli.bastion import Bastion, PortForward
from bastion_cli.door import Door
from bastion_cli.errors import (
    CliError,
    CredentialsError,
    Exit,
    Forbidden,
    NotConfigured,
    PendingApproval,
    Unreachable,
    UsageError,
    plugin_install_hint,
)
from bastion_cli.session import Plugin, Request, Started, plugin_command

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
ENV = cfg.Environment("dev", "https://abc.lambda-url.us-east-1.on.aws/", "us-east-1")
CREATED = {
    "success": True,
    "instance_id": "i-0123456789abcdef0",
    "expires_at": "2026-11-21T15:00:00+00:00",
    "existing": False,
    "connection": {
        "terminal": "aws ssm start-session --target i-0123456789abcdef0 --region us-east-1 "
        "--document-name docustack-dev-bastion-session",
        "port_forward": "aws ssm start-session --target i-0123456789abcdef0 --region us-east-1 "
        "--document-name docustack-dev-bastion-port-forward --parameters "
        '\'{"host":["db.cluster-abc.us-east-1.rds.amazonaws.com"],"portNumber":["3306"],'
        '"localPortNumber":["3306"]}\'',
    },
}


# ------------------------------------------------------------------ the config file
def test_the_config_round_trips_and_quotes_values(tmp_path):
    path = tmp_path / "nested" / "config.toml"
    env = cfg.Environment(
        "dev",
        "https://abc.lambda-url.us-east-1.on.aws/",
        "us-east-1",
        profile='we"ird',
        database="app",
    )
    cfg.save(cfg.Config(path, {"dev": env}, "dev"))

    loaded = cfg.load(path)

    assert loaded.environments == {"dev": env} and loaded.default == "dev"
    assert loaded.environment(None) == env


def test_the_only_environment_is_the_default_and_several_need_a_name(tmp_path):
    one = cfg.Config(tmp_path / "c.toml", {"dev": ENV})
    assert one.environment(None) == ENV
    two = cfg.Config(
        tmp_path / "c.toml", {"dev": ENV, "prod": cfg.Environment("prod", ENV.url, ENV.region)}
    )
    with pytest.raises(UsageError, match="Several are configured"):
        two.environment(None)
    with pytest.raises(NotConfigured, match="'qa' is not configured"):
        two.environment("qa")


def test_a_broken_config_file_says_so(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(NotConfigured, match="Cannot read"):
        cfg.load(path)
    path.write_text('[environments.dev]\nurl = "ftp://x"\nregion = "us-east-1"\n')
    with pytest.raises(NotConfigured, match="incomplete or invalid"):
        cfg.load(path)


def test_the_config_path_honours_bastion_config_and_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("BASTION_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert cfg.default_path() == tmp_path / "bastion" / "config.toml"
    monkeypatch.setenv("BASTION_CONFIG", "/etc/bastion.toml")
    assert cfg.default_path() == Path("/etc/bastion.toml")


@pytest.mark.parametrize(
    "url",
    ["http://abc.lambda-url.us-east-1.on.aws/", "ftp://x/", "https://", "abc.on.aws"],
)
def test_signed_requests_go_only_over_https_or_to_loopback(url):
    with pytest.raises(UsageError):
        cfg.check_url(url)
    assert cfg.check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"


# ------------------------------------------------------------------ the contract's answers
def test_the_documents_host_and_port_come_from_the_connection_commands():
    bastion = Bastion.from_answer(CREATED)

    assert bastion.shell_document == "docustack-dev-bastion-session"
    assert bastion.forward == PortForward(
        "docustack-dev-bastion-port-forward", "db.cluster-abc.us-east-1.rds.amazonaws.com", 3306
    )
    assert bastion.expires_at == datetime(2026, 11, 21, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "ready"),
    [
        ({"ready": True, "ssm_status": "ConnectionLost"}, True),  # `ready` decides when present
        ({"ready": False, "ssm_status": "Online"}, False),
        ({"ssm_status": "Online"}, True),  # an orchestrator without `ready`
        ({"ssm_status": "NotRegistered"}, False),
        ({}, False),
    ],
)
def test_ready_is_the_orchestrators_ready_else_the_agent_online(fields, ready):
    assert Bastion.from_answer({**CREATED, **fields}).ready is ready


def test_without_a_database_there_is_no_forward_and_connect_says_use_shell():
    answer = {**CREATED, "connection": {"terminal": "aws ssm start-session --target i-1"}}
    bastion = Bastion.from_answer(answer)

    assert bastion.forward is None and bastion.shell_document is None
    with pytest.raises(CliError, match="names no database") as raised:
        connect.port_forward(bastion, ENV)
    assert "bastion connect dev --shell" in raised.value.remedy


# ------------------------------------------------------------------ client command and ports
@pytest.mark.parametrize(
    ("engine", "port", "expected"),
    [
        (None, 5432, 'psql "host=localhost port=15432 dbname=app user=alice sslmode=require"'),
        (None, 3306, "mysql -h 127.0.0.1 -P 15432 -u alice -p app"),
        (
            "postgres",
            6543,
            'psql "host=localhost port=15432 dbname=app user=alice sslmode=require"',
        ),
        (None, 1521, "any client to localhost:15432"),
    ],
)
def test_the_client_command(engine, port, expected):
    env = cfg.Environment(
        "dev", ENV.url, ENV.region, database="app", db_user="alice", engine=engine
    )
    forward = PortForward("doc", "db.example.com", port)

    assert connect.client_command(env, forward, 15432) == expected


def test_the_local_port_is_the_databases_if_free_else_plus_10000_else_any(monkeypatch):
    taken: set[int] = set()
    monkeypatch.setattr(connect, "port_free", lambda port: port not in taken)
    assert connect.choose_port(5432) == 5432
    taken.add(5432)
    assert connect.choose_port(5432) == 15432
    taken.add(15432)
    assert connect.choose_port(5432) not in {5432, 15432}


def test_port_free_sees_a_listener():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not connect.port_free(port)
        with pytest.raises(Exception, match="in use"):
            connect.free_or_fail(port)


# ------------------------------------------------------------------ the plugin's argv
class _Ssm:
    class meta:
        endpoint_url = "https://ssm.us-east-1.amazonaws.com"


def _started() -> Started:
    request = Request("i-0123456789abcdef0", "doc", {"localPortNumber": ["15432"]})
    return Started(
        request, "alice-1", {"SessionId": "alice-1", "TokenValue": "t", "StreamUrl": "wss://x"}
    )


@pytest.mark.parametrize(
    ("version", "via_env"), [((1, 2, 707, 0), True), ((1, 2, 497, 0), False), (None, False)]
)
def test_the_plugin_gets_the_response_by_env_when_it_is_new_enough(version, via_env):
    aws = Aws(region="us-east-1", profile="dev")
    aws.__dict__["ssm"] = _Ssm()  # the cached client

    argv, env = plugin_command(Plugin("/bin/smp", version), aws, _started())

    response = json.loads(env["AWS_SSM_START_SESSION_RESPONSE"] if via_env else argv[1])
    assert response == {"SessionId": "alice-1", "TokenValue": "t", "StreamUrl": "wss://x"}
    assert (argv[1] == "AWS_SSM_START_SESSION_RESPONSE") is via_env
    assert argv[2:5] == ["us-east-1", "StartSession", "dev"]
    assert json.loads(argv[5]) == {
        "Target": "i-0123456789abcdef0",
        "DocumentName": "doc",
        "Parameters": {"localPortNumber": ["15432"]},
    }
    assert argv[6] == "https://ssm.us-east-1.amazonaws.com"


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_the_install_hint_puts_this_os_first(platform):
    first = plugin_install_hint(platform).splitlines()[1].strip()
    assert first.startswith({"linux": "Linux", "darwin": "macOS", "win32": "Windows"}[platform])


# ------------------------------------------------------------------ credentials by type
def test_each_botocore_credentials_error_says_what_to_do():
    from botocore import exceptions as b

    aws = Aws(region="us-east-1", profile="dev-sso")
    cases = {
        b.SSOTokenLoadError(
            error_msg="Token for corp does not exist"
        ): "aws sso login --profile dev-sso",
        b.UnauthorizedSSOTokenError(): "aws sso login --profile dev-sso",
        b.TokenRetrievalError(
            provider="sso", error_msg="expired"
        ): "aws sso login --profile dev-sso",
        b.ProfileNotFound(profile="dev-sso"): "aws configure list-profiles",
        b.NoCredentialsError(): "pass --profile",
        b.CredentialRetrievalError(provider="custom-process", error_msg="boom"): "~/.aws/config",
    }
    for error, remedy in cases.items():
        mapped = aws.credentials_error(error)
        assert isinstance(mapped, CredentialsError) and mapped.exit == Exit.CREDENTIALS
        assert remedy in mapped.remedy, (error, mapped.remedy)


# ------------------------------------------------------------------ the door's answers
class _Canned:
    """A loopback server answering scripted (status, body) pairs in order."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = deque(answers)
        self.bodies: list[dict[str, Any]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                canned.bodies.append(json.loads(self.rfile.read(length)))
                status, body = canned.answers.popleft()
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def door(self) -> Door:
        env = cfg.Environment(
            "dev", f"http://127.0.0.1:{self.server.server_address[1]}/", "us-east-1"
        )
        return Door(env, Aws(region="us-east-1"), sleep=lambda _: None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (403, {"Message": "Forbidden"}, Forbidden, "iam_door_invoke_policy_json"),
        (
            403,
            {"Message": "The security token included in the request is expired"},
            CredentialsError,
            "aws sso login",
        ),
        (502, {"Message": "Internal Server Error"}, CliError, "HTTP 502"),
        (
            200,
            {"success": True, "pending_approval": True, "message": "waits"},
            PendingApproval,
            "waits",
        ),
        (404, {"success": False, "error": "NOT_FOUND", "message": "none"}, CliError, "none"),
        (403, b"<html>not json</html>", Forbidden, "not json"),
    ],
)
def test_door_answers_become_typed_errors(status, body, error, text):
    canned = _Canned((status, body))
    try:
        with pytest.raises(error) as raised:
            canned.door().call("status")
    finally:
        canned.close()
    assert text in raised.value.message + raised.value.remedy


def test_429_is_retried_and_the_body_is_the_action():
    canned = _Canned((429, {"Message": "Rate exceeded"}), (200, {"success": True, "bastions": []}))
    try:
        door = canned.door()
        assert door.call("list") == {"success": True, "bastions": []}
    finally:
        canned.close()
    assert door.calls == 2 and canned.bodies == [{"action": "list"}] * 2


def test_a_dns_failure_is_unreachable_and_names_the_host(monkeypatch):
    def no_dns(*_: Any, **__: Any) -> Any:
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr("urllib.request.urlopen", no_dns)
    with pytest.raises(Unreachable, match=r"cannot resolve abc\.lambda-url\.us-east-1\.on\.aws"):
        Door(ENV, Aws(region="us-east-1")).call("status")


# ------------------------------------------------------------------ the expiry warning
class _Ui:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, text: str) -> None:
        self.warnings.append(text)


def test_the_warning_comes_once_per_expiry_and_again_after_an_extend():
    door: Any = type("D", (), {"env": ENV})()
    ui = _Ui()
    watch = connect.Watch(door, Bastion.from_answer(CREATED), ui, threading.Event())  # type: ignore[arg-type]

    def at(expires: str, left: int) -> Bastion:
        return Bastion.from_answer(
            {**CREATED, "expires_at": expires, "time_remaining_seconds": left}
        )

    watch.check(at("2026-11-21T15:00:00+00:00", 3600))
    watch.check(at("2026-11-21T15:00:00+00:00", 1700))
    watch.check(at("2026-11-21T15:00:00+00:00", 1000))
    watch.check(at("2026-11-21T17:00:00+00:00", 8000))  # extended
    watch.check(at("2026-11-21T17:00:00+00:00", 1500))

    assert len(ui.warnings) == 2
    assert "expires at 15:00 UTC (in 28 min)" in ui.warnings[0]
    assert "bastion extend dev" in ui.warnings[0]


# ------------------------------------------------------------------ lean
def test_the_cli_imports_nothing_of_the_lambda_nor_boto3_to_start():
    code = (
        "import sys, bastion_cli.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'boto3', 'botocore', 'pydantic', 'aws_lambda_powertools', 'bastion_orchestrator', "
        "'models', 'handler'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"


def test_the_console_script_is_declared():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"bastion": "bastion_cli.main:main"}
