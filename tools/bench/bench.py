"""`make bench`: figures, not pass/fail, in about 5 minutes on the 2-core build machine.

1. AWS API calls per action against moto (in-process), counted on every botocore client in
   the process: ours, and any a library makes (a create without ``AMI_ID`` reads the image
   parameter through Powertools);
2. a create under injected throttling (a botocore ``before-send`` hook answers the first
   attempts with ``RequestLimitExceeded``/``ThrottlingException``): calls, attempts, retries
   and the backoff botocore would have slept;
3. the Lambda-like layout: Python 3.12, the package as ``make package`` builds it (with its
   bytecode; host wheels for pydantic-core's extension, the zip's is arm64) on ``sys.path``
   before a boto3-only directory, ``PYTHONDONTWRITEBYTECODE=1`` (``/var/task`` is read-only).
   Cold imports of each handler against ``import boto3``, and a cold Slack create ack, button
   ack, ``status`` and IAM-door ``status`` against their floors, each measured in paired fresh
   interpreters, alternating A/B and B/A, inside a v1 cgroup cpu quota of the CPU share Lambda
   gives the module's memory (``--memory``; 1,769 MB = 1 vCPU); the endpoint is
   ``tools/bench/fake_aws.py``;
4. sweeps of 2,500, 10,000 and 20,000 bastions against ``tools/bench/fake_aws.py`` (an
   EC2/Scheduler stand-in on the real wire protocols), each in a fresh interpreter like a
   cold Lambda, then the next run in the same (warm) one: API calls, wall and CPU time per
   thread, peak RSS, per-bastion cost;
5. the same sweep at about 300 bastions against a moto server, cross-checking the fake.

Usage: python tools/bench/bench.py [--sweep-fake 2500,10000,20000] [--sweep 300] [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast
from unittest import mock

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from tools.bench.fake_aws import FakeAws

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tools.bench.offline_aws import OFFLINE_AWS  # noqa: E402 (needs ROOT on the path)

os.environ.update(OFFLINE_AWS, POWERTOOLS_METRICS_DISABLED="true")
# Quiet unless told: the sweep on its memory runs its worker at the module's log level.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
ACCOUNT = "123456789012"
ENV = {
    "PROJECT_NAME": "docustack",
    "ENVIRONMENT": "dev",
    "IAM_INSTANCE_PROFILE": "docustack-dev-bastion",
    "AUTO_TERMINATE_LAMBDA_ARN": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:terminator",
    "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
    "SCHEDULE_GROUP": "bastions",
    "AMI_ID": "ami-0123456789abcdef0",
}
ORCHESTRATOR_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:docustack-dev-orchestrator"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret
FAKE_SWEEPS = (2500, 10_000, 20_000)
MOTO_SWEEP = 300
SOURCES = """\
Where the figures come from:
  moto (in-process)   API calls per action, the create under injected throttling
  Lambda-like layout  Python 3.12, the built package + a boto3-only directory, no bytecode
                      writes; AWS answered by tools/bench/fake_aws.py on 127.0.0.1
  fake endpoint       the large sweeps: tools/bench/fake_aws.py, a minimal EC2 + Scheduler
                      server speaking the real wire protocols (EC2 query/XML, Scheduler
                      REST-JSON), so boto3 serializes, pages and parses for real
  moto (server)       a small sweep of the same code, cross-checking the fake's figures
  Call counts, CPU and peak RSS are the application's own; wall times include the emulators'
  answers, not AWS's network."""


class _Ctx:
    function_name = "bench"
    memory_limit_in_mb = 128
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench"
    aws_request_id = "bench-0001"


def ctx() -> LambdaContext:
    """A Lambda context with what the handlers read."""
    return cast("LambdaContext", _Ctx())


def provision() -> None:
    import boto3

    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/18")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="b", Description="b", VpcId=vpc)["GroupId"]
    boto3.client("iam").create_instance_profile(InstanceProfileName="docustack-dev-bastion")
    boto3.client("scheduler").create_schedule_group(Name="bastions")
    os.environ.update(ENV, SUBNET_ID=subnet, BASTION_SECURITY_GROUP_ID=sg)


@contextmanager
def every_call() -> Iterator[tuple[Counter[str], Counter[str]]]:
    """Counts the API calls of every botocore client in the process (``_make_api_call``:
    paginators and Stubber-answered calls included), and those made on a client that is not
    one of ours (``clients.created()``), e.g. one a library built for itself."""
    from botocore.client import BaseClient

    from tests.support.roots import clients

    calls: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        name = f"{self.meta.service_model.service_name}.{operation_name}"
        calls[name] += 1
        if not any(self is ours for ours in clients.created()):
            outside[name] += 1
        return original(self, operation_name, api_params)

    with mock.patch.object(BaseClient, "_make_api_call", counted):
        yield calls, outside


def api_calls() -> None:
    from botocore.stub import Stubber
    from moto import mock_aws

    import handler
    from tests.support.roots import clients

    print(
        "\nAWS API calls per action, every client in the process counted (floor: create 4, "
        "status 1 + 1 SSM ping,\nextend 4, destroy 4; a create without AMI_ID + 1 SSM "
        "GetParameter, once per container)"
    )
    rows: list[tuple[str, Counter[str], Counter[str]]] = []
    with mock_aws():
        provision()
        fresh_root()

        def run(label: str, payload: dict[str, Any], stub_ssm: bool = False) -> Any:
            with every_call() as (calls, outside):
                if stub_ssm:  # moto has no DescribeInstanceInformation
                    with Stubber(clients.ssm()) as stub:
                        stub.add_response(
                            "describe_instance_information", {"InstanceInformationList": []}
                        )
                        result = handler.lambda_handler(payload, ctx())
                else:
                    result = handler.lambda_handler(payload, ctx())
            rows.append((label, calls, outside))
            return result

        iid = run("create", {"action": "create", "user_id": "U1", "username": "a"})["instance_id"]
        run("status", {"action": "status", "instance_id": iid}, stub_ssm=True)
        for action in ("extend", "destroy"):
            run(action, {"action": action, "instance_id": iid})
        # A cold container without AMI_ID: the image id comes from the public SSM parameter,
        # read by Powertools' SSMProvider (cached for an hour per container).
        os.environ.pop("AMI_ID")
        fresh_root()
        run("create, AMI_ID unset", {"action": "create", "user_id": "U2", "username": "b"})
        os.environ["AMI_ID"] = ENV["AMI_ID"]
        fresh_root()
    for label, counted, outside in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
        theirs = ", ".join(f"{k} {v}" for k, v in sorted(outside.items()))
        note = f"; on a client that is not ours: {theirs}" if theirs else ""
        print(f"  {label:<21} {sum(counted.values()):>2}   ({detail}{note})")


THROTTLE = {"ec2.RunInstances": 2, "scheduler.CreateSchedule": 2}  # attempts answered 400


class _Raw:
    """The raw body botocore reads from an ``AWSResponse`` (``stream()``)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def throttle_response(operation: str, url: str) -> Any:
    """What AWS sends when it throttles: EC2's query-protocol XML, Scheduler's REST-JSON."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    if operation.startswith("ec2."):
        body = (
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
            b"<Message>Request limit exceeded.</Message></Error></Errors>"
            b"<RequestID>bench-throttle</RequestID></Response>"
        )
        headers = {"Content-Type": "text/xml;charset=UTF-8"}
    else:
        body = json.dumps({"Message": "Rate exceeded"}).encode()
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": "ThrottlingException",
            "x-amzn-RequestId": "bench-throttle",
        }
    http_headers = HTTPHeaders()
    for key, value in headers.items():
        http_headers[key] = value
    return AWSResponse(url, 400, http_headers, _Raw(body))


def throttled_create() -> None:
    import boto3
    import botocore.endpoint
    from botocore.exceptions import ClientError
    from moto import mock_aws
    from moto.core.models import botocore_stubber

    import handler
    from bastion_orchestrator.adapters.aws.clients import error_code
    from tests.support.api_calls import counting
    from tests.support.roots import clients

    # As written in clients.py: read in a fresh interpreter, because botocore rewrites the dict
    # it is given ("max_attempts": n -> "total_max_attempts": n + 1) when a client is made.
    configured = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bastion_orchestrator.adapters.aws import clients; print(clients.RETRIES)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    plan = dict(THROTTLE)  # operation -> attempts still to answer with a throttle
    attempts: Counter[str] = Counter()
    slept: list[tuple[str, float]] = []
    last = [""]

    def before_send(request: Any, event_name: str, **kwargs: Any) -> Any:
        # before-send.<service id>.<Operation>, once per attempt (retries included)
        _, service, operation = event_name.split(".")
        key = f"{service.lower()}.{operation}"
        attempts[key] += 1
        last[0] = key
        if plan.get(key, 0) > 0:
            plan[key] -= 1
            return throttle_response(key, request.url)
        return botocore_stubber(event_name, request, **kwargs)  # moto answers the rest

    class RecordingTime:
        """``botocore.endpoint.time``: records the backoff instead of sleeping it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        def sleep(self, seconds: float) -> None:
            slept.append((last[0], seconds))

    print(
        "\nCreate under injected throttling (moto in-process; a before-send hook answers the "
        "first 2 attempts\nof RunInstances and of the first CreateSchedule with HTTP 400 "
        "RequestLimitExceeded / ThrottlingException,\nso botocore's standard retry loop "
        f"retries them; clients.RETRIES = {configured})"
    )
    with mock_aws():
        provision()
        fresh_root()
        # botocore calls *every* before-send handler and uses the first answer: beside moto's
        # handler, ours would answer 400 while moto still launched an instance per attempt.
        # So ours replaces moto's on the session our clients copy, and passes it the rest.
        events = clients.session().events
        events.unregister("before-send", cast(Any, botocore_stubber))
        events.register("before-send", before_send)
        try:
            with mock.patch.object(botocore.endpoint, "time", RecordingTime()):
                with counting() as calls:
                    started = time.perf_counter()
                    result = handler.lambda_handler(
                        {"action": "create", "user_id": "U1", "username": "a"}, ctx()
                    )
                    took = time.perf_counter() - started
                create_attempts, create_slept = Counter(attempts), list(slept)
                # and a call that stays throttled: where does botocore give up?
                attempts.clear()
                slept.clear()
                plan["ec2.DescribeInstances"] = 1000
                try:
                    clients.ec2().describe_instances(InstanceIds=["i-0123456789abcdef0"])
                    gave_up = "not throttled?"
                except ClientError as e:
                    gave_up = error_code(e) or "?"
                effective = getattr(clients.ec2().meta.config, "retries", None)
        finally:
            events.unregister("before-send", before_send)
            events.register("before-send", cast(Any, botocore_stubber))
        reservations = boto3.client("ec2").describe_instances(
            Filters=[
                {"Name": "tag:ManagedBy", "Values": ["bastion-orchestrator"]},
                {"Name": "tag:Project", "Values": [ENV["PROJECT_NAME"]]},
                {"Name": "tag:Environment", "Values": [ENV["ENVIRONMENT"]]},
            ]
        )["Reservations"]
        launched = [i["InstanceId"] for r in reservations for i in r["Instances"]]
        schedules = boto3.client("scheduler").list_schedules(GroupName=ENV["SCHEDULE_GROUP"])
        fresh_root()
    ok = result.get("success") is True and launched == [result.get("instance_id")]
    print(
        f"  {'OK' if ok else 'FAILED'}: success={result.get('success')}, "
        f"instance {result.get('instance_id') or result.get('error')}; the deployment now has "
        f"{len(launched)} instance(s) and {len(schedules['Schedules'])} schedule(s)"
    )
    print(
        f"  API calls {sum(calls.values())}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    )
    print(
        f"  attempts {sum(create_attempts.values())} incl. retries: "
        + ", ".join(
            f"{k} {v}" + (f" ({v - calls[k]} retries)" if v > calls[k] else "")
            for k, v in sorted(create_attempts.items())
        )
    )
    print(
        f"  backoff botocore would have slept: {sum(d for _, d in create_slept):.2f} s "
        f"({describe_sleeps(create_slept)}; jittered, varies per run); recorded, not slept: "
        f"the create itself took {took:.2f} s"
    )
    print(
        f"  a DescribeInstances throttled every time: {attempts['ec2.DescribeInstances']} "
        f"attempts, then {gave_up}; backoff {sum(d for _, d in slept):.2f} s "
        f"({describe_sleeps(slept)}); botocore's effective setting: {effective}"
    )
    if not ok:
        raise SystemExit("throttled create did not end with exactly one bastion")


def describe_sleeps(slept: list[tuple[str, float]]) -> str:
    per_op: dict[str, list[float]] = {}
    for op, seconds in slept:
        per_op.setdefault(op, []).append(seconds)
    return "; ".join(f"{k} " + " + ".join(f"{d:.2f}" for d in v) for k, v in per_op.items())


def fresh_root() -> None:
    """A new composition root: settings, use cases and clients made again, under the new mock."""
    from tests.support import roots

    roots.fresh()


# ------------------------------------------------------------------ Lambda-like layout
@dataclass(frozen=True)
class Layout:
    python: str  # a Python 3.12, the runtime's version
    task: Path  # the package as Lambda unpacks it into /var/task
    runtime: Path  # boto3 and its dependencies, as in the runtime's /var/runtime
    scratch: Path  # the interpreters' working directory and scripts


def _package_script() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("package_script", ROOT / "scripts" / "package.py")
    if spec is None or spec.loader is None:
        raise SystemExit("scripts/package.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runtime_python() -> str:
    finder = getattr(_package_script(), "find_runtime_python", None)
    if finder is not None:
        return str(finder())
    if os.environ.get("LAMBDA_PYTHON"):
        return os.environ["LAMBDA_PYTHON"]
    raise SystemExit("set LAMBDA_PYTHON to a Python 3.12 interpreter")


def pinned(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text.lower().startswith(f"{name}=="):
            return text
    raise SystemExit(f"{name} is not pinned in requirements.txt")


def _quiet(command: list[str], **kwargs: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}... failed:\n{done.stdout}\n{done.stderr}")


def build_layout(base: Path) -> Layout:
    """The zip `make package` builds, unpacked, beside a boto3-only directory. The zip's
    pydantic-core extension is arm64: the host's (same version, for 3.12) goes beside it."""
    python = runtime_python()
    archive = base / "bastion-orchestrator.zip"
    _quiet([sys.executable, str(ROOT / "scripts" / "package.py"), "--output", str(archive)])
    task = base / "task"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(task)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]
    host = base / "host"
    _quiet([*pip, str(host), "--no-deps", "--no-compile", pinned("pydantic-core")])
    for extension in (host / "pydantic_core").glob("*.so"):
        shutil.copy2(extension, task / "pydantic_core" / extension.name)
    runtime = base / "runtime"
    _quiet([*pip, str(runtime), "--no-compile", pinned("boto3"), pinned("botocore")])
    # The runtime's boto3 comes compiled: so is this one, or the floor would be the slower.
    _quiet([python, "-m", "compileall", "-q", "-j", "0", str(runtime)])
    scratch = base / "scratch"
    scratch.mkdir()
    return Layout(python, task, runtime, scratch)


def layout_env(layout: Layout, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{layout.task}{os.pathsep}{layout.runtime}",
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only
        "PYTHONNOUSERSITE": "1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        **extra,
    }


# Seconds: the whole process as its parent saw it (interpreter start to the answer), the
# measured part inside it (from before the first import), and the CPU the process used.
Sample = tuple[float, float, float]
WHOLE, INSIDE, CPU = 0, 1, 2

# Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU ("Configure
# Lambda function memory", AWS Lambda Developer Guide). A single-threaded cold start gains
# nothing above one vCPU.
MB_PER_VCPU: Final = 1769
CGROUP_CPU: Final = Path("/sys/fs/cgroup/cpu")  # the v1 cpu controller
SLACK_TIMEOUT: Final = 3.0  # Slack shows an error when the answer is later than this
COLD_TARGET: Final = 2.0  # issue 18: each cold Slack answer within 2 s, whole process


@dataclass(frozen=True)
class Quota:
    """The CPU share of a Lambda function of ``memory_mb``, as a v1 cgroup cpu quota; a run
    joins it before it execs (``command``). ``directory`` None: no quota (not root, or no v1
    cpu controller here); figures are then on a full core and say so."""

    memory_mb: int
    directory: Path | None

    @property
    def share(self) -> float:
        return min(1.0, self.memory_mb / MB_PER_VCPU)

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the quota: a shell joins the cgroup, then execs it (its
        children inherit the cgroup), with no ``preexec_fn`` in a threaded parent."""
        if self.directory is None:
            return argv
        join = 'echo $$ > "$0" && exec "$@"'
        return ["/bin/sh", "-c", join, str(self.directory / "cgroup.procs"), *argv]

    def label(self) -> str:
        where = (
            f"cgroup cpu quota {int(100_000 * self.share)}/100000 us"
            if self.directory
            else "NO QUOTA (needs root and the v1 cpu controller): a full core flatters these"
        )
        return f"{self.memory_mb} MB = {self.share:.3f} vCPU; {where}"


@contextmanager
def cpu_quota(memory_mb: int) -> Iterator[Quota]:
    directory = CGROUP_CPU / f"bastion-bench-{memory_mb}-{os.getpid()}"
    share = min(1.0, memory_mb / MB_PER_VCPU)
    try:
        directory.mkdir()
        (directory / "cpu.cfs_period_us").write_text("100000")
        (directory / "cpu.cfs_quota_us").write_text(str(int(100_000 * share)))
    except OSError:
        yield Quota(memory_mb, None)
        return
    try:
        yield Quota(memory_mb, directory)
    finally:
        directory.rmdir()


def module_timeout(name: str) -> int:
    text = (ROOT / "terraform" / "variables.tf").read_text()
    found = re.search(rf'variable "{name}" {{.*?default\s*=\s*(\d+)', text, re.DOTALL)
    return int(found.group(1)) if found else 0


def module_memory() -> dict[str, int]:
    """The memory the module configures for each function (variables.tf defaults)."""
    text = (ROOT / "terraform" / "variables.tf").read_text()
    sizes = {}
    for name in ("orchestrator_memory_size", "slack_memory_size", "auto_terminate_memory_size"):
        found = re.search(rf'variable "{name}" {{.*?default\s*=\s*(\d+)', text, re.DOTALL)
        if found:
            sizes[name] = int(found.group(1))
    return sizes


def verdict(seconds: float, *, slack: bool = True) -> str:
    if not slack:  # the CLI waits up to 75 s; a person at a terminal notices far sooner
        return f"{seconds:.2f} s (no Slack deadline: the CLI waits)"
    if seconds <= COLD_TARGET:
        return f"fits ({seconds:.2f} s <= {COLD_TARGET:g} s target, Slack's {SLACK_TIMEOUT:g} s)"
    if seconds <= SLACK_TIMEOUT:
        return f"OVER the {COLD_TARGET:g} s target, inside Slack's {SLACK_TIMEOUT:g} s"
    return f"SLACK TIMES OUT ({seconds:.2f} s > {SLACK_TIMEOUT:g} s)"


def paired(rounds: int, runners: dict[str, Callable[[], Sample]]) -> dict[str, list[Sample]]:
    """Each round runs every variant once; the order alternates (A B C, then C B A), so drift
    and warm-up of the machine fall on every variant alike."""
    samples: dict[str, list[Sample]] = {name: [] for name in runners}
    names = list(runners)
    for n in range(rounds):
        for name in names if n % 2 == 0 else names[::-1]:
            samples[name].append(runners[name]())
    return samples


def ratio(samples: dict[str, list[Sample]], name: str, base: str, part: int) -> str:
    """The median [min-max] of the per-round ratios name/base, of wall (0) or CPU (1) time."""
    ratios = [a[part] / b[part] for a, b in zip(samples[name], samples[base], strict=True)]
    return f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"


def ms(samples: list[Sample], part: int) -> str:
    return f"{median(samples, part) * 1000:5.0f} ms"


def median(samples: list[Sample], part: int) -> float:
    return statistics.median(s[part] for s in samples)


def cold_imports(layout: Layout, rounds: int, quota: Quota) -> None:
    def measure(module: str) -> Callable[[], Sample]:
        code = (
            "import time; t, c = time.perf_counter(), time.process_time(); "
            f"import {module}; print(time.perf_counter() - t, time.process_time() - c)"
        )

        def one() -> Sample:
            started = time.perf_counter()
            done = subprocess.run(
                quota.command([layout.python, "-c", code]),
                capture_output=True,
                text=True,
                check=True,
                cwd=layout.scratch,
                env=layout_env(layout),
            )
            whole = time.perf_counter() - started
            wall, cpu = done.stdout.strip().splitlines()[-1].split()
            return whole, float(wall), float(cpu)

        return one

    modules = ("boto3", "handler", "auto_terminate")
    samples = paired(rounds, {m: measure(m) for m in modules})
    print(
        f"\n  Cold imports ({rounds} paired rounds, order alternating): medians, and the median "
        "[range] of the per-round ratios"
    )
    base = samples["boto3"]
    print(f"    import boto3           {ms(base, INSIDE)} wall, {ms(base, CPU)} CPU   floor")
    for module in modules[1:]:
        mine = samples[module]
        print(
            f"    import {module:<15} {ms(mine, INSIDE)} wall, {ms(mine, CPU)} CPU   "
            f"{ratio(samples, module, 'boto3', INSIDE)} wall, "
            f"{ratio(samples, module, 'boto3', CPU)} CPU   (target <= 1.05x)"
        )


# Runs in the Lambda-like layout (Python 3.12, stdlib + the layout only): one cold request,
# timed from before the first import to the response.
SLACK_WORKER = """\
import json, os, sys, time

mode, event_path, out_path = sys.argv[1:4]
with open(event_path) as f:
    event = json.load(f)


class Context:
    function_name = "docustack-dev-orchestrator"
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    invoked_function_arn = "%(arn)s"
    aws_request_id = "bench-cold"
    log_group_name = "/aws/lambda/docustack-dev-orchestrator"
    log_stream_name = "bench"


if mode.endswith("@snap"):
    # What a snapshot would hold (SnapStart): every module of ours imported and the clients
    # made at init; the measured request starts after it, as after a restore (whose own
    # duration AWS does not publish and nothing here can emulate).
    import importlib, pkgutil

    import handler
    import bastion_orchestrator

    for module in pkgutil.walk_packages(bastion_orchestrator.__path__, "bastion_orchestrator."):
        importlib.import_module(module.name)
    for service in ("secretsmanager", "lambda", "ec2", "ssm", "scheduler"):
        handler.ROOT.clients.client(service)
    open(out_path + ".restored", "w").close()
started, cpu_started = time.perf_counter(), time.process_time()
if not mode.endswith("floor"):
    import handler

    imported = time.perf_counter()
    response = handler.lambda_handler(event, Context())
    ok = response.get("statusCode") == 200
    answer = response.get("body", "")
    done, cpu = time.perf_counter(), time.process_time() - cpu_started
    # The same request again, in the now warm container, once the bench has counted the cold
    # request's calls (it answers the .cold file with a .go file).
    open(out_path + ".cold", "w").close()
    while not os.path.exists(out_path + ".go"):
        time.sleep(0.005)
    warm_started = time.perf_counter()
    ok = ok and handler.lambda_handler(event, Context()).get("statusCode") == 200
    warm = time.perf_counter() - warm_started
else:
    import base64, hashlib, hmac

    import boto3

    imported = time.perf_counter()
    ok, answer, warm = True, "", 0.0
    if mode != "iam-floor":  # the IAM door has no secret: AWS verified the caller
        secret = json.loads(
            boto3.client("secretsmanager").get_secret_value(
                SecretId=os.environ["SLACK_SECRET_ARN"]
            )["SecretString"]
        )
        body = base64.b64decode(event["body"]).decode()
        stamp = event["headers"]["x-slack-request-timestamp"]
        key = secret["signing_secret"].encode()
        mac = hmac.new(key, f"v0:{stamp}:{body}".encode(), hashlib.sha256)
        ok = hmac.compare_digest("v0=" + mac.hexdigest(), event["headers"]["x-slack-signature"])
    if mode == "create-floor":
        boto3.client("lambda").invoke(
            FunctionName=Context.invoked_function_arn, InvocationType="Event", Payload=b"{}"
        )
    else:
        owner = "AROAEXAMPLEDEVROLE01:alice@example.com" if mode == "iam-floor" else "U12345"
        user = [{"Name": "tag:RequestedByUserId", "Values": [owner]}]
        found = boto3.client("ec2").describe_instances(Filters=user)["Reservations"]
        iid = found[0]["Instances"][0]["InstanceId"]
        boto3.client("ssm").describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [iid]}]
        )
    done, cpu = time.perf_counter(), time.process_time() - cpu_started
with open(out_path, "w") as f:
    result = {"total": done - started, "cpu": cpu, "import": imported - started, "ok": ok,
              "warm": warm}
    json.dump({**result, "answer": answer}, f)
"""


# Each cold request, the door it comes through, and the floor it is held against: the same
# AWS calls with bare boto3 (create ack and button: HMAC, GetSecretValue, Invoke; status:
# HMAC, GetSecretValue, DescribeInstances, DescribeInstanceInformation; the IAM door's status
# needs no secret).
COLD_REQUESTS: Final = {
    "create": ("Slack create ack", "create-floor"),
    "button": ("Slack button ack (Extend)", "create-floor"),
    "status": ("Slack status", "status-floor"),
    "iam": ("IAM door status (the CLI)", "iam-floor"),
}


def cold_event(mode: str, iid: str) -> dict[str, Any]:
    from tests.support.iam_requests import iam_event
    from tests.support.slack_requests import button, function_url_event, slash_command

    mode = mode.removesuffix("@snap")
    if mode.startswith("iam"):
        return iam_event({"action": "status", "instance_id": iid})
    body = (
        button("bastion_extend", iid)
        if mode == "button"
        else slash_command("bastion create" if mode.startswith("create") else "bastion status")
    )
    return function_url_event(body, secret=SIGNING_SECRET, timestamp=int(time.time()))


def answered(mode: str, calls: Counter[str], result: dict[str, Any], iid: str) -> bool:
    """The cold request did its job: an ack queued its job (one Invoke), a status named it."""
    if not result.get("ok"):
        return False
    if mode.removesuffix("@snap") in ("create", "button"):
        return calls["lambda.Invoke"] == 1
    return mode.endswith("floor") or iid in result["answer"]


def cold_requests(layout: Layout, rounds: int, quota: Quota) -> None:
    from tools.bench.fake_aws import FakeAws, instance_ids

    script = layout.scratch / "slack_cold.py"
    script.write_text(SLACK_WORKER % {"arn": ORCHESTRATOR_ARN})
    now = datetime.now(UTC).replace(microsecond=0)
    with FakeAws(account=ACCOUNT) as fake:
        secret_arn = fake.add_secret(
            "docustack/dev/slack",
            json.dumps({"signing_secret": SIGNING_SECRET, "bot_token": "xoxb-bench"}),
        )
        slack_iid, iam_iid = instance_ids(2)
        for iid, owner in (
            (slack_iid, "U12345"),
            (iam_iid, "AROAEXAMPLEDEVROLE01:alice@example.com"),
        ):
            tags = {**bastion_tags(1, now), "RequestedByUserId": owner}
            fake.add_instance(iid, tags, launch_time=now - timedelta(hours=1))
        env = layout_env(
            layout,
            AWS_ENDPOINT_URL=fake.url,
            SUBNET_ID="subnet-0123456789abcdef0",
            BASTION_SECURITY_GROUP_ID="sg-0123456789abcdef0",
            SLACK_SECRET_ARN=secret_arn,
            POWERTOOLS_SERVICE_NAME="bastion-orchestrator",
            POWERTOOLS_METRICS_NAMESPACE="BastionOrchestrator",
            **ENV,
        )
        calls: dict[str, Counter[str]] = {}
        warm: dict[str, list[float]] = {}

        def measure(mode: str) -> Callable[[], Sample]:
            iid = iam_iid if mode.startswith("iam") else slack_iid

            def one() -> Sample:
                event_path, out_path = layout.scratch / "event.json", layout.scratch / "out.json"
                event_path.write_text(json.dumps(cold_event(mode, iid)))
                cold, go = Path(f"{out_path}.cold"), Path(f"{out_path}.go")
                for stale in (out_path, cold, go):
                    stale.unlink(missing_ok=True)
                before = Counter(fake.requests)
                started = time.perf_counter()
                process = subprocess.Popen(
                    quota.command(
                        [layout.python, str(script), mode, str(event_path), str(out_path)]
                    ),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=layout.scratch,
                    env=env,
                )
                restored = Path(f"{out_path}.restored")
                restored.unlink(missing_ok=True)
                if mode.endswith("@snap"):  # timed from the "restore", not from exec
                    while not restored.exists() and process.poll() is None:
                        time.sleep(0.002)
                    started = time.perf_counter()
                    before = Counter(fake.requests)
                if not mode.endswith("floor"):  # count the cold calls, then let the warm run
                    while not cold.exists() and process.poll() is None:
                        time.sleep(0.002)
                    whole = time.perf_counter() - started
                    calls[mode] = Counter(fake.requests) - before
                    go.touch()
                stdout, stderr = process.communicate(timeout=300)
                if mode.endswith("floor"):
                    whole = time.perf_counter() - started
                    calls[mode] = Counter(fake.requests) - before
                result = json.loads(out_path.read_text()) if process.returncode == 0 else {}
                if not answered(mode, calls[mode], result, iid):
                    raise SystemExit(f"cold {mode} failed:\n{stdout[-3000:]}\n{stderr}")
                warm.setdefault(mode, []).append(result.get("warm", 0.0))
                return whole, float(result["total"]), float(result["cpu"])

            return one

        floors = {floor for _, floor in COLD_REQUESTS.values()}
        modes = [*COLD_REQUESTS, *sorted(floors), *SNAPPED]
        samples = paired(rounds, {m: measure(m) for m in modes})
    report_cold(samples, calls, warm, rounds)
    report_snapped(samples)


SNAPPED: Final = ("create@snap", "status@snap")


def report_snapped(samples: dict[str, list[Sample]]) -> None:
    """SnapStart's lever, measured as far as it can be here: the request after a restore."""
    line = ", ".join(
        f"{COLD_REQUESTS[m.removesuffix('@snap')][0].removeprefix('Slack ')} "
        f"{ms(samples[m], WHOLE).strip()} (CPU {ms(samples[m], CPU).strip()})"
        for m in SNAPPED
    )
    print(
        f"    after a snapshot restore (SnapStart: imports and clients made at init; the "
        f"restore itself not included, AWS publishes no figure): {line}"
    )


def report_cold(
    samples: dict[str, list[Sample]],
    calls: dict[str, Counter[str]],
    warm: dict[str, list[float]],
    rounds: int,
) -> None:
    print(
        f"\n  Cold requests ({rounds} paired rounds; medians): the whole process, from exec to "
        "the answer (what Slack waits for),\n  then inside the handler from its first import, "
        "then CPU; the ratio is to the floor's whole process"
    )
    for mode, (name, floor) in COLD_REQUESTS.items():
        mine, base = samples[mode], samples[floor]
        api = ", ".join(f"{k.split('.')[1]} {v}" for k, v in sorted(calls[mode].items()))
        print(
            f"    {name:<27} {ms(mine, WHOLE)} whole, {ms(mine, INSIDE)} in handler, "
            f"{ms(mine, CPU)} CPU; max {max(w for w, _, _ in mine) * 1000:.0f} ms; "
            f"{verdict(median(mine, WHOLE), slack=mode != 'iam')}\n"
            f"      floor {ms(base, WHOLE)} whole; ratio {ratio(samples, mode, floor, WHOLE)}; "
            f"warm again {statistics.median(warm[mode]) * 1000:.0f} ms; calls: {api}"
        )


def lambda_like(rounds: int, memories: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as tmp:
        started = time.perf_counter()
        layout = build_layout(Path(tmp))
        print(
            f"\n(Lambda-like layout built in {time.perf_counter() - started:.0f} s: "
            f"`make package`'s zip + host pydantic-core extension | boto3-only dir; "
            f"{Path(layout.python).name} {layout.python})"
        )
        default = module_memory().get("orchestrator_memory_size")
        for memory in memories:
            with cpu_quota(memory) as quota:
                what = "the module's default" if memory == default else "not the default"
                print(f"\nCold starts at {quota.label()} ({what})")
                cold_imports(layout, rounds, quota)
                cold_requests(layout, rounds, quota)


# ------------------------------------------------------------------ sweeps
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bastion_tags(n: int, now: datetime, *, expired: bool | None = None) -> dict[str, str]:
    """The sweep's fleet: by default every even bastion expired 5 minutes ago, every odd one
    has 2 h left."""
    dead = n % 2 == 0 if expired is None else expired
    expires = now - timedelta(minutes=5) if dead else now + timedelta(hours=2)
    return {
        "ManagedBy": "bastion-orchestrator",
        "Project": ENV["PROJECT_NAME"],
        "Environment": ENV["ENVIRONMENT"],
        "RequestedByUserId": f"U{n}",
        "CreatedAt": (now - timedelta(hours=3)).isoformat(),
        "ExpiresAt": expires.isoformat(),
    }


def run_worker(
    now: datetime, emulator: str, env: dict[str, str], quota: Quota | None = None
) -> list[dict[str, Any]]:
    """Sweeps in a fresh interpreter, like a cold Lambda (inside ``quota``'s CPU share when
    given); IDLE_MINUTES stays unset."""
    child_env = {k: v for k, v in {**os.environ, **env}.items() if k != "IDLE_MINUTES"}
    argv = [sys.executable, __file__, "--sweep-worker", now.isoformat(), emulator]
    worker = subprocess.run(
        quota.command(argv) if quota else argv,
        capture_output=True,
        text=True,
        check=False,
        env=child_env,
    )
    if worker.returncode != 0:
        raise SystemExit(f"sweep worker failed:\n{worker.stdout}\n{worker.stderr}")
    runs: list[dict[str, Any]] = []
    logged = 0  # the function's own log lines (Powertools' JSON) before each run's line
    for line in worker.stdout.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "run" in record and "calls" in record:
            runs.append({**record, "log_lines": logged})
            logged = 0
        else:
            logged += 1
    return runs


def populate(fake: FakeAws, count: int, now: datetime, *, expired: bool | None) -> None:
    from tools.bench.fake_aws import instance_ids

    prefix = f"{ENV['PROJECT_NAME']}-{ENV['ENVIRONMENT']}-"
    for n, iid in enumerate(instance_ids(count)):
        fake.add_instance(
            iid,
            bastion_tags(n, now, expired=expired),
            launch_time=now - timedelta(hours=3),
            private_ip=f"10.0.{n // 250 % 256}.{n % 250 + 4}",
        )
        for kind in ("warning", "termination"):
            fake.add_schedule(
                f"{prefix}{iid}-{kind}", ENV["SCHEDULE_GROUP"], created=now - timedelta(hours=3)
            )


def sweep_on_fake(
    count: int,
    *,
    expired: bool | None = None,
    quota: Quota | None = None,
    log_level: str = "ERROR",
) -> list[dict[str, Any]]:
    from tools.bench.fake_aws import FakeAws

    now = datetime.now(UTC).replace(microsecond=0)
    with FakeAws(account=ACCOUNT) as fake:
        populate(fake, count, now, expired=expired)
        runs = run_worker(
            now,
            "fake",
            {
                **ENV,
                "AWS_ENDPOINT_URL": fake.url,
                "SUBNET_ID": "subnet-0123456789abcdef0",
                "BASTION_SECURITY_GROUP_ID": "sg-0123456789abcdef0",
                "POWERTOOLS_LOG_LEVEL": log_level,
            },
            quota,
        )
        wire = sum(fake.requests.values())
    counted = sum(sum(r["calls"].values()) for r in runs)
    if wire != counted:
        raise SystemExit(f"the endpoint saw {wire} requests, the worker counted {counted}")
    return runs


def _calls(run: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.')[1]} {v:,}" for k, v in sorted(run["calls"].items()))


def _summary(run: dict[str, Any]) -> str:
    return (
        f"{sum(run['calls'].values()):,} calls ({_calls(run)}); {run['wall']:.1f} s wall, "
        f"{run['cpu']:.1f} s CPU; deleted {run['deleted']:,}, left {run.get('left', 0):,}, "
        f"listed {'yes' if run.get('listed') else 'no'}"
    )


def _threads(run: dict[str, Any]) -> str:
    main = run["main"]
    in_calls = " + ".join(f"{k} {v:.2f} s" for k, v in sorted(main["in_calls"].items()))
    pool = run["pool"]
    return (
        f"    wall {run['wall']:.2f} s = main thread: {in_calls or 'no calls'}"
        f" + waiting for the {pool['threads']} delete threads {main['pool_wait']:.2f} s"
        f" + its own work {main['rest']:.2f} s\n"
        f"    CPU  {run['cpu']:.2f} s = main thread {main['cpu']:.2f} s "
        f"({main['cpu_in_calls']:.2f} s inside boto3 calls) + delete threads "
        f"{pool['cpu']:.2f} s ({pool['calls']:,} calls, {pool['cpu_in_calls']:.2f} s inside "
        f"them; {pool['wall_in_calls']:.2f} s of call wall time over {main['pool_wall']:.2f} s)"
    )


def sweeps_fake(sizes: list[int]) -> None:
    print(
        "\nSweeps against the fake endpoint, each in a fresh interpreter (a cold Lambda), "
        "then the next run\n15 minutes later in the same (warm) one. Half the bastions "
        "expired 5 minutes ago; two schedules each."
    )
    table = []
    for count in sizes:
        runs = sweep_on_fake(count)
        first = runs[0]
        print(f"\n  {count:,} bastions, {2 * count:,} schedules: {_summary(first)}")
        print(_threads(first))
        print(f"    next run: {_summary(runs[1])}")
        table.append((count, first))
    memory = module_memory().get("auto_terminate_memory_size", 0)
    print(
        "\n  per bastion (cold run)   calls   CPU      wall     peak RSS (the auto-terminator "
        f"has {memory} MB)"
    )
    for count, run in table:
        calls = sum(run["calls"].values())
        print(
            f"  {count:>7,} bastions       {calls / count:.3f}   {run['cpu'] / count * 1e6:4.0f} µs"
            f"   {run['wall'] / count * 1e6:4.0f} µs   {run['rss']:.0f} MiB "
            f"(after imports {run['rss_imports']:.0f} MiB)"
        )
    if len(table) > 1:
        (small, a), (large, b) = table[-2], table[-1]
        extra = large - small
        added = sum(b["calls"].values()) - sum(a["calls"].values())
        print(
            f"  from {small:,} to {large:,}: +{added:,} calls, +{b['cpu'] - a['cpu']:.1f} s CPU, "
            f"i.e. {(b['cpu'] - a['cpu']) / extra * 1e6:.0f} µs CPU and {added / extra:.3f} calls "
            "per additional bastion (linear; the deletions are capped, so the per-bastion "
            "figures above fall as the fleet grows)"
        )
    steady = 10_000 if 10_000 in sizes else sizes[-1]
    runs = sweep_on_fake(steady, expired=False)
    print(
        f"\n  steady state, {steady:,} live bastions and their {2 * steady:,} schedules, nothing "
        f"expired:\n    cold: {_summary(runs[0])}\n    warm: {_summary(runs[1])}"
    )


def sweep_on_its_memory(count: int) -> None:
    """The sweep as the module deploys it: the auto-terminator's memory as a CPU quota, and
    its log level (Powertools' default, INFO, unless the module sets one), against the
    function's timeout; logs go to a pipe, as Lambda's to CloudWatch."""
    memory = module_memory().get("auto_terminate_memory_size", 256)
    timeout = module_timeout("auto_terminate_timeout")
    with cpu_quota(memory) as quota:
        print(f"\n  {count:,} bastions on the auto-terminator's memory ({quota.label()}):")
        for level in ("INFO", "WARNING"):
            run = sweep_on_fake(count, quota=quota, log_level=level)[0]
            margin = timeout / run["wall"] if run["wall"] else float("inf")
            print(
                f"    POWERTOOLS_LOG_LEVEL={level:<7} {run['wall']:5.1f} s wall, "
                f"{run['cpu']:4.1f} s CPU, {run.get('log_lines', 0):,} log lines; timeout "
                f"{timeout} s: {margin:.1f}x margin"
            )


def sweep_moto(count: int) -> None:
    import boto3

    port = free_port()
    server = subprocess.Popen(  # moto in its own process, so its memory is not ours
        [
            sys.executable,
            "-c",
            # with the one EC2 filter moto lacks and the sweep uses (tests/support/moto_compat)
            f"from tests.support import moto_compat; moto_compat.install(); "
            f"from moto.server import ThreadedMotoServer as S; import time; "
            f"s=S(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); time.sleep(3600)",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        provision()
        now = datetime.now(UTC).replace(microsecond=0)
        ec2, scheduler = boto3.client("ec2"), boto3.client("scheduler")

        def launch(n: int) -> str:
            # one instance per reservation: moto pages by reservations, AWS by instances
            tags = [{"Key": k, "Value": v} for k, v in bastion_tags(n, now).items()]
            iid: str = ec2.run_instances(
                ImageId="ami-0123456789abcdef0",
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],  # type: ignore[list-item,misc]
            )["Instances"][0]["InstanceId"]
            for kind in ("warning", "termination"):
                scheduler.create_schedule(
                    Name=f"docustack-dev-{iid}-{kind}",
                    GroupName="bastions",
                    ScheduleExpression="at(2030-01-01T00:00:00)",
                    FlexibleTimeWindow={"Mode": "OFF"},
                    Target={
                        "Arn": ENV["AUTO_TERMINATE_LAMBDA_ARN"],
                        "RoleArn": ENV["SCHEDULER_ROLE_ARN"],
                    },
                )
            return iid

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(launch, range(count)))
        setup = time.perf_counter() - started
        runs = run_worker(now, "moto", {})
        print(
            f"\nSweep of {count:,} bastions ({count // 2:,} expired, {2 * count:,} schedules) "
            f"in a fresh interpreter against a moto server (set up in {setup:.0f} s)"
        )
        print(f"  cold: {_summary(runs[0])}\n  next: {_summary(runs[1])}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        os.environ.pop("AWS_ENDPOINT_URL", None)


def peak_rss_mib() -> float:
    """VmHWM: this process's peak resident set (ru_maxrss would carry the parent's over)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class ThreadTimes:
    """Wall and CPU time inside boto3 calls, per thread (botocore ``before-call`` and
    ``after-call`` run in the calling thread), and the main thread's wait for the delete pool
    (the reaper's ``_run``), so that the main thread's parts add up to the wall time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.reset()

    def reset(self) -> None:
        self.main_wall: Counter[str] = Counter()
        self.main_cpu = 0.0
        self.main_in_pool = 0.0  # main-thread call time spent while the pool was running
        self.pool_wall = 0.0
        self.pool_calls = 0
        self.pool_call_wall = 0.0
        self.pool_call_cpu = 0.0
        self.pool_threads: set[int] = set()
        self.in_pool = False

    def before(self, **_: Any) -> None:
        self.local.start = (time.perf_counter(), time.thread_time())

    def after(self, model: Any, **_: Any) -> None:
        wall_start, cpu_start = self.local.start
        wall, cpu = time.perf_counter() - wall_start, time.thread_time() - cpu_start
        if threading.current_thread() is threading.main_thread():
            self.main_wall[model.name] += wall
            self.main_cpu += cpu
            if self.in_pool:
                self.main_in_pool += wall
            return
        with self.lock:
            self.pool_calls += 1
            self.pool_call_wall += wall
            self.pool_call_cpu += cpu
            self.pool_threads.add(threading.get_ident())

    def around_pool(self, run: Callable[..., int]) -> Callable[..., int]:
        def timed(*args: Any) -> int:
            started, self.in_pool = time.perf_counter(), True
            try:
                return run(*args)
            finally:
                self.in_pool = False
                self.pool_wall += time.perf_counter() - started

        return timed


def fixed_clock(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def sweep_worker(now_iso: str, emulator: str) -> None:
    """Runs in a fresh interpreter, like a cold Lambda: a sweep, then the next one 15 minutes
    later in the same (warm) process. One JSON line per run."""
    from botocore.config import Config

    import auto_terminate
    from bastion_orchestrator.usecases import schedule_cleanup
    from tests.support import roots
    from tests.support.api_calls import counting
    from tests.support.roots import clients

    if emulator == "moto":
        # moto renders a page of instances far slower than AWS; against moto only, allow
        # reads longer than the production timeout. The fake endpoint gets the real config.
        from bastion_orchestrator.adapters.aws import clients as aws

        aws.boto_config = lambda: Config(retries=dict(aws.RETRIES), read_timeout=300)  # type: ignore[assignment,arg-type]
    times = ThreadTimes()
    schedule_cleanup._run = times.around_pool(schedule_cleanup._run)
    clients.session().events.register("before-call", times.before)
    clients.session().events.register("after-call", times.after)
    rss_imports = peak_rss_mib()
    for n, minutes in enumerate((20, 35)):
        roots.use_clock(fixed_clock(datetime.fromisoformat(now_iso) + timedelta(minutes=minutes)))
        times.reset()
        started, cpu_started = time.perf_counter(), time.process_time()
        main_cpu_started = time.thread_time()
        with counting() as calls:
            result = auto_terminate.lambda_handler({"action": "sweep"}, ctx())
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        main_cpu = time.thread_time() - main_cpu_started
        main_calls = sum(times.main_wall.values())
        pool_wait = times.pool_wall - times.main_in_pool
        run = {
            "run": n,
            "checked": result["checked"],
            "terminated": result["terminated"],
            "deleted": result["schedules_deleted"],
            "left": result.get("schedules_left", 0),
            "listed": result.get("schedules_listed", True),
            "calls": dict(calls),
            "wall": wall,
            "cpu": cpu,
            "rss": peak_rss_mib(),
            "rss_imports": rss_imports,
            "main": {
                "in_calls": dict(times.main_wall),
                "pool_wait": pool_wait,
                "pool_wall": times.pool_wall,
                "rest": wall - main_calls - pool_wait,
                "cpu": main_cpu,
                "cpu_in_calls": times.main_cpu,
            },
            "pool": {
                "threads": len(times.pool_threads),
                "calls": times.pool_calls,
                "cpu": cpu - main_cpu,
                "cpu_in_calls": times.pool_call_cpu,
                "wall_in_calls": times.pool_call_wall,
            },
        }
        print(json.dumps(run), flush=True)


def memories(wanted: str) -> list[int]:
    if wanted.strip():
        return [int(m) for m in wanted.split(",") if m.strip()]
    default = module_memory().get("orchestrator_memory_size", MB_PER_VCPU)
    return list(dict.fromkeys([default, MB_PER_VCPU]))


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--sweep-worker":
        sweep_worker(sys.argv[2], sys.argv[3])
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sweep-fake",
        default=",".join(map(str, FAKE_SWEEPS)),
        help="bastions in the fake-endpoint sweeps, comma-separated ('' to skip)",
    )
    parser.add_argument(
        "--sweep", type=int, default=MOTO_SWEEP, help="bastions in the moto sweep (0: skip)"
    )
    parser.add_argument("--rounds", type=int, default=9, help="paired rounds of cold starts")
    parser.add_argument("--skip", default="", help="sections to skip: calls,throttle,lambda")
    parser.add_argument(
        "--memory",
        default="",
        help="function memory sizes (MB) to measure cold starts at, comma-separated "
        "(default: the module's default orchestrator memory, and 1769 = 1 vCPU)",
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    started = time.perf_counter()
    print(SOURCES)
    if "calls" not in skip:
        api_calls()
    if "throttle" not in skip:
        throttled_create()
    if "lambda" not in skip:
        lambda_like(args.rounds, memories(args.memory))
    sizes = [int(n) for n in args.sweep_fake.split(",") if n.strip()]
    if sizes:
        sweeps_fake(sizes)
        sweep_on_its_memory(10_000 if 10_000 in sizes else sizes[-1])
    if args.sweep:
        sweep_moto(args.sweep)
    print(f"\n`make bench` took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
