"""`make bench`: figures, not pass/fail. Prints

1. AWS API calls per action (create, status, extend, destroy) against moto;
2. cold import time of each handler against a bare ``import boto3`` (fresh interpreters);
3. a sweep of N bastions (default 2,000) against a moto server in another process, run in a
   fresh interpreter like a cold Lambda: API calls, wall time, peak RSS.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


class Ctx:
    function_name = "bench"
    memory_limit_in_mb = 128
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench"
    aws_request_id = "bench-0001"


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
                {"action": "create", "user_id": "U1", "username": "a"}, Ctx()
            )["instance_id"]
        rows.append(("create", calls))
        with counting() as calls, Stubber(clients.ssm()) as stub:
            stub.add_response("describe_instance_information", {"InstanceInformationList": []})
            handler.lambda_handler({"action": "status", "instance_id": iid}, Ctx())
        calls["ssm.DescribeInstanceInformation (stubbed)"] += 1
        rows.append(("status", calls))
        for action in ("extend", "destroy"):
            with counting() as calls:
                handler.lambda_handler({"action": action, "instance_id": iid}, Ctx())
            rows.append((action, calls))
        for action, counted in rows:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
            print(f"  {action:<8} {sum(counted.values()):>2}   ({detail})")


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
            expires = now - timedelta(minutes=5) if n % 2 == 0 else now + timedelta(hours=2)
            tags = [
                {"Key": k, "Value": v}
                for k, v in {
                    "ManagedBy": "bastion-orchestrator",
                    "Project": "docustack",
                    "Environment": "dev",
                    "RequestedByUserId": f"U{n}",
                    "CreatedAt": (now - timedelta(hours=3)).isoformat(),
                    "ExpiresAt": expires.isoformat(),
                }.items()
            ]
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
        worker = subprocess.run(
            [sys.executable, __file__, "--sweep-worker", now.isoformat()],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "SUBNET_ID": os.environ["SUBNET_ID"]},
        )
        print(
            f"\nSweep of {count:,} bastions ({count // 2:,} expired, {2 * count:,} schedules) "
            "in a fresh process against a moto server"
        )
        print(textwrap.indent(worker.stdout.rstrip(), "  "))
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


def sweep_worker(now_iso: str) -> None:
    """Runs in a fresh interpreter, like a cold Lambda: one sweep, measured."""
    from botocore.config import Config

    import auto_terminate
    from bastion_orchestrator.app import wiring
    from bastion_orchestrator.aws import clients
    from tests.support.api_calls import counting

    # moto renders a page of instances far slower than AWS; against the emulator only,
    # allow reads longer than the production 10 s.
    clients.boto_config = lambda: Config(retries=clients.RETRIES, read_timeout=300)  # type: ignore[assignment,arg-type]
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
        result = auto_terminate.lambda_handler({"action": "sweep"}, Ctx())
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
        f"wall time {took:.1f} s, of which waiting on the emulator: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(spent.items()))
    )
    print(
        f"peak RSS of the whole process {rss:.0f} MiB (after imports {baseline:.0f} MiB; "
        "the Lambda has 128 MB)"
    )


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--sweep-worker":
        sweep_worker(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep", type=int, default=2000, help="bastions in the sweep")
    parser.add_argument("--import-runs", type=int, default=7)
    args = parser.parse_args()
    api_calls()
    import_time(args.import_runs)
    sweep(args.sweep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
