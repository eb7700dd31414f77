"""`make bench`: figures, not pass/fail. Prints

1. AWS API calls per action (create, status, extend, destroy) against moto;
2. a create under injected throttling (moto in-process; a botocore ``before-send`` hook
   answers the first attempts with ``RequestLimitExceeded``/``ThrottlingException``):
   calls, attempts, retries and the backoff botocore would have slept;
3. cold import time of each handler against a bare ``import boto3`` (fresh interpreters);
4. a sweep of N bastions (default 10,000) against ``tests/support/fake_aws.py``, a small
   EC2/Scheduler stand-in on the real wire protocols, run in a fresh interpreter like a cold
   Lambda: API calls, wall time, peak RSS;
5. the same sweep at a smaller size (default 2,000) against a moto server, which checks the
   calls against a fuller emulator but is far too slow for 10,000 (~20 s per page).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from unittest import mock

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_DISABLED="true",
)
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


def api_calls() -> None:
    from botocore.stub import Stubber
    from moto import mock_aws

    import handler
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.aws import clients
    from tests.support.api_calls import counting

    print(
        "\nAWS API calls per action (floor: create 4, status 1 (+1 SSM ping), extend 4, destroy 4)"
    )
    with mock_aws():
        provision()
        wiring.reset()
        rows = []
        with counting() as calls:
            iid = handler.lambda_handler(
                {"action": "create", "user_id": "U1", "username": "a"}, ctx()
            )["instance_id"]
        rows.append(("create", calls))
        with counting() as calls, Stubber(clients.ssm()) as stub:
            stub.add_response("describe_instance_information", {"InstanceInformationList": []})
            handler.lambda_handler({"action": "status", "instance_id": iid}, ctx())
        calls["ssm.DescribeInstanceInformation (stubbed)"] += 1
        rows.append(("status", calls))
        for action in ("extend", "destroy"):
            with counting() as calls:
                handler.lambda_handler({"action": action, "instance_id": iid}, ctx())
            rows.append((action, calls))
        for action, counted in rows:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
            print(f"  {action:<8} {sum(counted.values()):>2}   ({detail})")


# 2,000 against moto takes ~4 min on the 2-core build machine (~20 s per 200-instance
# DescribeInstances page); the whole bench then takes ~5 minutes.
MOTO_SWEEP = 2000
SOURCES = """\
Where the figures come from:
  moto (in-process)   API calls per action, the create under injected throttling
  fake endpoint       the large sweep: tests/support/fake_aws.py, a minimal EC2 + Scheduler
                      server on 127.0.0.1 speaking the real wire protocols (EC2 query/XML,
                      Scheduler REST-JSON), so boto3 serializes, pages and parses for real;
                      moto needs ~20 s per DescribeInstances page at a few thousand instances,
                      so 10,000 bastions against it would take over an hour
  moto (server)       a smaller sweep of the same code, cross-checking the fake's figures
  Call counts and peak RSS are the application's own; wall times are the emulators', not AWS's."""
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
    from bastion_orchestrator.aws import clients
    from tests.support.api_calls import counting

    # As written in clients.py: read in a fresh interpreter, because botocore rewrites the dict
    # it is given ("max_attempts": n -> "total_max_attempts": n + 1) when a client is made.
    configured = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bastion_orchestrator.aws import clients; print(clients.RETRIES)",
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
        wiring_reset()
        # botocore calls *every* before-send handler and uses the first answer: beside moto's
        # handler, ours would answer 400 while moto still launched an instance per attempt.
        # So ours replaces moto's on the session our clients copy, and passes it the rest.
        events = clients._session().events
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
                    gave_up = clients.error_code(e) or "?"
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
        wiring_reset()
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


def wiring_reset() -> None:
    """Forget settings, use cases and clients (the next ones are made under the new mock)."""
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.aws import clients

    wiring.reset()
    clients.reset()


def import_time(runs: int) -> None:
    def measure(module: str) -> float:
        code = (
            f"import time,sys; sys.path.insert(0, {str(ROOT)!r}); t=time.perf_counter(); "
            f"import {module}; print(time.perf_counter()-t)"
        )
        samples = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd="/",
                ).stdout
            )
            for _ in range(runs)
        ]
        return statistics.median(samples)

    print(f"\nCold import time (median of {runs} fresh interpreters; target <= 1.3x boto3)")
    base = measure("boto3")
    print(f"  import boto3           {base * 1000:7.1f} ms   1.00x")
    for module in ("handler", "auto_terminate"):
        took = measure(module)
        print(f"  import {module:<15} {took * 1000:7.1f} ms   {took / base:.2f}x")
    print("  and to a first EC2 client (what a request that reaches AWS pays):")
    base = measure("boto3; boto3.client('ec2', region_name='us-east-1')")
    print(f"  boto3 + ec2 client     {base * 1000:7.1f} ms   1.00x")
    for module in ("handler", "auto_terminate"):
        took = measure(f"{module}; from bastion_orchestrator.aws import clients; clients.ec2()")
        print(f"  {module + ' + ec2 client':<22} {took * 1000:7.1f} ms   {took / base:.2f}x")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bastion_tags(n: int, now: datetime) -> dict[str, str]:
    """The sweep's fleet: every even bastion expired 5 minutes ago, every odd one has 2 h."""
    expires = now - timedelta(minutes=5) if n % 2 == 0 else now + timedelta(hours=2)
    return {
        "ManagedBy": "bastion-orchestrator",
        "Project": ENV["PROJECT_NAME"],
        "Environment": ENV["ENVIRONMENT"],
        "RequestedByUserId": f"U{n}",
        "CreatedAt": (now - timedelta(hours=3)).isoformat(),
        "ExpiresAt": expires.isoformat(),
    }


def run_worker(now: datetime, emulator: str, env: dict[str, str]) -> str:
    """One sweep in a fresh interpreter, like a cold Lambda; IDLE_MINUTES stays unset."""
    child_env = {k: v for k, v in {**os.environ, **env}.items() if k != "IDLE_MINUTES"}
    worker = subprocess.run(
        [sys.executable, __file__, "--sweep-worker", now.isoformat(), emulator],
        capture_output=True,
        text=True,
        check=False,
        env=child_env,
    )
    if worker.returncode != 0:
        raise SystemExit(f"sweep worker failed:\n{worker.stdout}\n{worker.stderr}")
    return textwrap.indent(worker.stdout.rstrip(), "  ")


def sweep_fake(count: int) -> None:
    from tests.support.fake_aws import FakeAws, instance_ids

    now = datetime.now(UTC).replace(microsecond=0)
    prefix = f"{ENV['PROJECT_NAME']}-{ENV['ENVIRONMENT']}-"
    with FakeAws(account=ACCOUNT) as fake:
        for n, iid in enumerate(instance_ids(count)):
            fake.add_instance(
                iid,
                bastion_tags(n, now),
                launch_time=now - timedelta(hours=3),
                private_ip=f"10.0.{n // 250}.{n % 250 + 4}",
            )
            for kind in ("warning", "termination"):
                fake.add_schedule(
                    f"{prefix}{iid}-{kind}",
                    ENV["SCHEDULE_GROUP"],
                    created=now - timedelta(hours=3),
                )
        output = run_worker(
            now,
            "fake",
            {
                **ENV,
                "AWS_ENDPOINT_URL": fake.url,
                "SUBNET_ID": "subnet-0123456789abcdef0",
                "BASTION_SECURITY_GROUP_ID": "sg-0123456789abcdef0",
            },
        )
        states = Counter(i.state for i in fake.instances.values())
        left = len(fake.schedules)
        wire = dict(sorted(fake.requests.items()))
        url = fake.url
        sizes = ", ".join(f"{k} x{v:,}" for k, v in sorted(fake.page_sizes.items()))
    print(
        f"\nSweep of {count:,} bastions ({count // 2:,} expired, {2 * count:,} schedules) in a "
        f"fresh process against the fake endpoint ({url})"
    )
    print(output)
    print(
        f"  the endpoint saw {sum(wire.values()):,} requests: "
        + ", ".join(f"{k} {v:,}" for k, v in wire.items())
    )
    print(f"  page sizes asked (MaxResults): {sizes}")
    print(
        "  and holds afterwards: "
        + ", ".join(f"{v:,} {k}" for k, v in sorted(states.items()))
        + f" instances, {left:,} schedules"
    )


def sweep(count: int) -> None:
    import boto3

    port = free_port()
    server = subprocess.Popen(  # moto in its own process, so its memory is not ours
        [
            sys.executable,
            "-c",
            f"from moto.server import ThreadedMotoServer as S; import time; "
            f"s=S(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); time.sleep(3600)",
        ],
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

        print(
            f"\n  (setting up {count:,} bastions and {2 * count:,} schedules in moto...)",
            flush=True,
        )
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(launch, range(count)))
        output = run_worker(now, "moto", {})
        print(
            f"\nSweep of {count:,} bastions ({count // 2:,} expired, {2 * count:,} schedules) "
            "in a fresh process against a moto server"
        )
        print(output)
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


def sweep_worker(now_iso: str, emulator: str) -> None:
    """Runs in a fresh interpreter, like a cold Lambda: one sweep, measured."""
    from botocore.config import Config

    import auto_terminate
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.aws import clients
    from tests.support.api_calls import counting

    if emulator == "moto":
        # moto renders a page of instances far slower than AWS; against moto only, allow
        # reads longer than the production timeout. The fake endpoint gets the real config.
        clients.boto_config = lambda: Config(retries=dict(clients.RETRIES), read_timeout=300)  # type: ignore[assignment,arg-type]
    wiring.set_clock(lambda: datetime.fromisoformat(now_iso) + timedelta(minutes=20))
    spent: dict[str, float] = {}
    started_at: dict[str, float] = {}

    def before(model: Any, **_: Any) -> None:
        started_at[model.name] = time.perf_counter()

    def after(model: Any, **_: Any) -> None:
        spent[model.name] = (
            spent.get(model.name, 0.0) + time.perf_counter() - started_at[model.name]
        )

    clients._session().events.register("before-call", before)
    clients._session().events.register("after-call", after)
    # RSS, not tracemalloc: tracing every allocation would itself double the footprint.
    baseline = peak_rss_mib()
    started = time.perf_counter()
    with counting() as calls:
        result = auto_terminate.lambda_handler({"action": "sweep"}, ctx())
    took = time.perf_counter() - started
    rss = peak_rss_mib()
    print(
        f"checked {result['checked']:,}, terminated {result['terminated']:,}, "
        f"schedules deleted {result['schedules_deleted']:,}"
    )
    print(
        f"API calls {sum(calls.values()):,}: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(calls.items()))
    )
    print(
        f"wall time {took:.1f} s, of which inside boto3 calls (request, emulator, parsing): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(spent.items()))
    )
    print(
        f"peak RSS of the whole process {rss:.0f} MiB (after imports {baseline:.0f} MiB; "
        "the Lambda has 128 MB)"
    )


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--sweep-worker":
        sweep_worker(sys.argv[2], sys.argv[3])
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sweep-fake", type=int, default=10_000, help="bastions in the fake-endpoint sweep"
    )
    parser.add_argument(
        "--sweep", type=int, default=MOTO_SWEEP, help="bastions in the moto sweep (0: skip)"
    )
    parser.add_argument("--import-runs", type=int, default=7)
    args = parser.parse_args()
    print(SOURCES)
    api_calls()
    throttled_create()
    import_time(args.import_runs)
    if args.sweep_fake:
        sweep_fake(args.sweep_fake)
    if args.sweep:
        sweep(args.sweep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
