"""The moto example, applied once per test session: a moto server and ``terraform apply``.

``tests/terraform/conftest.py`` turns these into session-scoped fixtures shared by every
module of this directory (and the cloudsplaining check). Under pytest-xdist a session is one
worker, so at most one apply per worker runs.

The moto server runs in a child process, not in the test process: the integration tests'
``mock_aws`` resets moto's in-process backends whenever it starts, and a worker may run
integration test files between two terraform ones. A separate process keeps the applied
state for the whole session whatever runs in between.

``make test`` applies once for the whole run, in the background: ``python -m
tests.terraform.stack DIR`` (started by ``tests/support/early_stack.py`` when pytest starts)
brings up the moto server, applies, writes ``DIR/deployed.json`` (or ``DIR/failed.txt``) and
keeps the server up until its standard input closes. The one worker that runs this
directory waits for it (``wait``) instead of applying itself.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "terraform"
EXAMPLE = Path("examples") / "moto"
PLUGIN_DIR = os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins")
TERRAFORM = shutil.which(os.environ.get("TERRAFORM", "terraform"))
SOURCES = ("handler.py", "auto_terminate.py", "models.py", "bastion_orchestrator")
REGION = "us-east-1"

# Every variable of the contract: those Terraform did not set must not leak in from elsewhere.
CONTRACT_VARIABLES = [
    "PROJECT_NAME",
    "ENVIRONMENT",
    "IAM_INSTANCE_PROFILE",
    "AUTO_TERMINATE_LAMBDA_ARN",
    "SCHEDULER_ROLE_ARN",
    "WARNING_LAMBDA_ARN",
    "SCHEDULE_GROUP",
    "AMI_ID",
    "AMI_SSM_PARAMETER",
    "INSTANCE_TYPE",
    "SUBNET_ID",
    "SUBNET_IDS",
    "BASTION_SECURITY_GROUP_ID",
    "RDS_ENDPOINT",
    "RDS_PORT",
    "BASTION_LIFETIME_HOURS",
    "EXTEND_HOURS",
    "MAX_LIFETIME_HOURS",
    "WARNING_MINUTES",
    "MAX_BASTIONS_PER_USER",
    "ADMIN_USER_IDS",
    "ALLOWED_USER_IDS",
    "IDLE_MINUTES",
    "IDEMPOTENCY_TABLE",
    "SLACK_SECRET_ARN",
    "SLACK_CHANNEL",
    "SLACK_APP_ID",
    "SLACK_TEAM_ID",
    "SLACK_API_URL",
    "SLACK_NOTIFIER_LAMBDA_ARN",
    "ADMIN_PRINCIPAL_ARNS",
    "SESSION_DOCUMENT",
    "PORT_FORWARD_DOCUMENT",
    "BOOT_PROFILES",
    "BOOT_SCRIPT",
    "SNAPSHOT_ON_TERMINATE",
    "SESSION_SUDO",
    "SNAPSHOT_RETENTION_DAYS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def package(path: Path) -> Path:
    """A small deployment zip of the real sources (the dependencies are not needed by moto)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in SOURCES:
            source = ROOT / name
            files = sorted(source.rglob("*.py")) if source.is_dir() else [source]
            for file in files:
                if "__pycache__" not in file.parts:
                    zf.write(file, file.relative_to(ROOT).as_posix())
    return path


def terraform(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert TERRAFORM is not None
    env = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",  # no version check call home
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }
    # The moto provider block has its own dummy credentials; nothing else may leak in.
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        env.pop(key, None)
    result = subprocess.run(
        [TERRAFORM, f"-chdir={workdir}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr}")
    return result


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in a child process on a free local port; its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # moto, with the one EC2 filter it lacks and the sweep uses (tests/support/moto_compat.py)
    launch = (
        "import sys; from tests.support import moto_compat; moto_compat.install(); "
        "from moto.server import main; main(sys.argv[1:])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", launch, "-H", "127.0.0.1", "-p", str(port)],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Deployed:
    endpoint: str
    outputs: dict[str, Any]
    state: dict[str, Any]
    workdir: Path

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def environment(self, function_output: str) -> dict[str, str]:
        config = self.client("lambda").get_function_configuration(
            FunctionName=self.outputs[function_output]
        )
        return dict(config["Environment"]["Variables"])

    def resources(self, type_: str, mode: str = "managed") -> list[dict[str, Any]]:
        return [
            instance["attributes"]
            for resource in self.state["resources"]
            if resource["type"] == type_ and resource["mode"] == mode
            for instance in resource["instances"]
        ]

    def resource(self, address: str) -> list[dict[str, Any]]:
        """The instances of one resource, by its type and name (``aws_iam_role.bastion``)."""
        type_, name = address.split(".", 1)
        return [
            instance["attributes"]
            for resource in self.state["resources"]
            if resource["type"] == type_ and resource["name"] == name
            for instance in resource["instances"]
        ]


def apply(endpoint: str, base: Path) -> Deployed:
    """Applies a private copy of the module tree's moto example to the server at endpoint."""
    if TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH")
    # A private copy: no .terraform or state lands in the checkout.
    tree = base / "terraform"
    shutil.copytree(
        MODULE,
        tree,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
    )
    workdir = tree / EXAMPLE
    zipped = package(base / "bastion-orchestrator.zip")

    terraform(workdir, "init", "-backend=false", f"-plugin-dir={PLUGIN_DIR}", "-no-color")
    terraform(
        workdir,
        "apply",
        "-auto-approve",
        "-no-color",
        f"-var=endpoint={endpoint}",
        f"-var=package_path={zipped}",
    )
    raw = json.loads(terraform(workdir, "output", "-json").stdout)
    outputs = {k: v["value"] for k, v in raw.items()}
    state = json.loads((workdir / "terraform.tfstate").read_text())
    return Deployed(endpoint, outputs, state, workdir)


READY, FAILED = "deployed.json", "failed.txt"


def serve(base: Path) -> None:
    """Applies into base, says how it went there, and keeps the moto server up until the
    standard input closes (the pytest process that started it ended)."""
    try:
        with moto_server() as endpoint:
            deployed = apply(endpoint, base)
            ready = {
                "endpoint": endpoint,
                "outputs": deployed.outputs,
                "workdir": str(deployed.workdir),
            }
            (base / f"{READY}.part").write_text(json.dumps(ready))
            (base / f"{READY}.part").rename(base / READY)
            sys.stdin.read()
    except BaseException as error:  # pytest.fail and skip raise outcome exceptions
        if not (base / READY).exists():
            (base / FAILED).write_text(f"{type(error).__name__}: {error}")
        raise


@functools.cache  # one background stack per process, read once
def wait(base: Path, timeout: float = 900) -> Deployed:
    """The background apply's stack, once it is up (see ``serve``)."""
    deadline = time.monotonic() + timeout
    while not (base / READY).exists():
        if (base / FAILED).exists():
            pytest.fail(f"the background terraform apply failed:\n{(base / FAILED).read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the background terraform apply did not finish in {timeout:.0f} s")
        time.sleep(0.5)
    ready = json.loads((base / READY).read_text())
    workdir = Path(ready["workdir"])
    state = json.loads((workdir / "terraform.tfstate").read_text())
    return Deployed(ready["endpoint"], ready["outputs"], state, workdir)


def use(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """One function's deployed environment in os.environ, nothing else of the contract's."""
    from tests.support import roots

    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    roots.fresh()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
