"""What one Slack create holds, on moto (in-process) and a local Slack stand-in, warm.

Figures, not pass/fail (README, "Measured"): for each of ROUNDS users, the Slack
acknowledgement, its continuation (launch, "launching" by response_url and DM, three
readiness-check schedules) and one ``ready`` event of the auto-terminator, each timed with
``time.perf_counter`` after one warm-up round, with its AWS API calls. moto has no
``ssm:DescribeInstanceInformation``: it is answered on the SSM client (online), as in the
tests. Usage: python tools/bench/bench_readiness.py [rounds]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tools.bench.offline_aws import OFFLINE_AWS  # noqa: E402 (needs ROOT on the path)

os.environ.update(OFFLINE_AWS, POWERTOOLS_LOG_LEVEL="ERROR", POWERTOOLS_METRICS_NAMESPACE="Bench")
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ACCOUNT = "123456789012"


def provision(slack: Any) -> None:
    import boto3

    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/18")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="b", Description="b", VpcId=vpc)["GroupId"]
    boto3.client("iam").create_instance_profile(InstanceProfileName="docustack-dev-bastion")
    boto3.client("scheduler").create_schedule_group(Name="bastions")
    arn = boto3.client("secretsmanager").create_secret(
        Name="slack",
        SecretString=json.dumps(
            {"bot_token": "xoxb-b", "signing_secret": SECRET, "webhook_url": slack.webhook_url}
        ),
    )["ARN"]
    os.environ.update(
        PROJECT_NAME="docustack",
        ENVIRONMENT="dev",
        IAM_INSTANCE_PROFILE="docustack-dev-bastion",
        AUTO_TERMINATE_LAMBDA_ARN=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:t",
        SCHEDULER_ROLE_ARN=f"arn:aws:iam::{ACCOUNT}:role/s",
        SCHEDULE_GROUP="bastions",
        SUBNET_ID=subnet,
        BASTION_SECURITY_GROUP_ID=sg,
        AMI_ID="ami-12c6146b",
        SLACK_SECRET_ARN=arn,
        SLACK_API_URL=slack.api_url,
    )


def timed(call: Callable[..., Any], *args: Any, calls: Counter[str]) -> tuple[float, Any]:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(self: Any, operation: str, params: Any) -> Any:
        calls[f"{self.meta.service_model.service_name}.{operation}"] += 1
        return original(self, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", counted):
        started = time.perf_counter()
        result = call(*args)
        return time.perf_counter() - started, result


def main(rounds: int) -> None:
    from botocore.awsrequest import AWSResponse
    from moto import mock_aws

    import auto_terminate
    import handler
    from bastion_orchestrator.adapters.slack import notifier
    from tests.conftest import FakeLambdaContext
    from tests.support import roots
    from tests.support.roots import clients
    from tests.support.slack_requests import function_url_event, slash_command
    from tests.support.slack_standin import SlackStandIn

    slack = SlackStandIn().start()
    post = notifier._post_webhook
    notifier._post_webhook = lambda url, what, **m: post(slack.local(url), what, **m)
    queued: list[dict[str, Any]] = []
    times: dict[str, list[float]] = {"ack": [], "continuation": [], "ready check": []}
    calls: dict[str, Counter[str]] = {k: Counter() for k in times}
    with mock_aws():
        provision(slack)
        roots.fresh()
        lam, ssm = clients.lambda_(), clients.ssm()
        lam.meta.events.register(
            "provide-client-params.lambda.Invoke",
            lambda params, **_: queued.append(json.loads(params["Payload"])),
        )
        lam.meta.events.register(
            "before-call.lambda.Invoke",
            lambda **_: (AWSResponse("", 202, {}, None), {"StatusCode": 202}),  # type: ignore[arg-type]
        )
        ssm.meta.events.register(
            "before-call.ssm.DescribeInstanceInformation",
            lambda **_: (
                AWSResponse("", 200, {}, None),  # type: ignore[arg-type]
                {"InstanceInformationList": [{"PingStatus": "Online"}]},
            ),
        )
        for n in range(rounds + 1):  # round 0 warms every path up
            ctx = FakeLambdaContext().next()
            body = slash_command(
                "bastion create", user_id=f"U{n:05d}", response_url=slack.response_url
            )
            event = function_url_event(body, secret=SECRET, timestamp=int(time.time()))
            counters: dict[str, Counter[str]] = {k: Counter() for k in times}
            took_ack, _ = timed(handler.lambda_handler, event, ctx, calls=counters["ack"])
            job = queued.pop()
            took_job, created = timed(
                handler.lambda_handler, job, ctx, calls=counters["continuation"]
            )
            check = {"action": "ready", "instance_id": created["instance_id"], "attempt": 1}
            took_check, outcome = timed(
                auto_terminate.lambda_handler, check, ctx, calls=counters["ready check"]
            )
            assert outcome["outcome"] == "ready", outcome
            if not n:
                continue
            for name, took in (
                ("ack", took_ack),
                ("continuation", took_job),
                ("ready check", took_check),
            ):
                times[name].append(took)
                calls[name] += counters[name]
    slack.stop()
    print(f"One Slack create, warm, on moto; median of {rounds} rounds (after one warm-up)")
    for name, taken in times.items():
        per = ", ".join(f"{k} {v / rounds:g}" for k, v in sorted(calls[name].items()))
        print(f"  {name:<13} {statistics.median(taken) * 1000:6.0f} ms   AWS calls: {per}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
