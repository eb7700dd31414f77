"""`make demo`: the whole bastion lifecycle against a local moto server, no AWS needed.

Starts moto on a free loopback port and a Slack stand-in that prints each message, provisions
what a deployment has (VPC, private subnet, security groups, instance profile, schedule group,
Slack secret), then drives the real handlers over real HTTP: create (the seed payload),
status, extend, the warning event, the termination event, a sweep, and the Slack door
(a forged request, a signed slash command, a button press, a destroy). The injected clock
moves forward instead of waiting hours. Exits 0 when every step did what it should.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Loopback only, dummy credentials: nothing here can reach AWS.
os.environ.update(
    AWS_ACCESS_KEY_ID="demo",
    AWS_SECRET_ACCESS_KEY="demo",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_LOG_LEVEL=os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
    POWERTOOLS_METRICS_DISABLED="true",
)

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret
BOLD, DIM, GREEN, RED, CYAN, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[36m", "\033[0m")
    if sys.stdout.isatty()
    else ("",) * 6
)


class DemoClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def travel_to(self, moment: datetime, why: str) -> None:
        self.now = moment
        print(f"\n{DIM}⏩ clock → {moment.isoformat()}  ({why}){RESET}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def step(title: str) -> None:
    print(f"\n{BOLD}{CYAN}▶ {title}{RESET}")


def show(response: dict[str, Any]) -> None:
    print(textwrap.indent(json.dumps(response, indent=2), "  "))


def check(condition: bool, what: str) -> None:
    print(f"  {GREEN}✓ {what}{RESET}" if condition else f"  {RED}✗ {what}{RESET}")
    if not condition:
        raise SystemExit(f"demo failed: {what}")


def print_slack(posted: Any) -> None:
    where = {
        "chat.postMessage": f"Slack → {posted.channel}",
        "webhook": "Slack webhook",
        "response_url": "Slack reply (response_url)",
    }.get(posted.endpoint, f"Slack {posted.endpoint}")
    print(f"  {BOLD}💬 {where}{RESET}: {posted.text}")
    for block in posted.body.get("blocks", []):
        if block.get("type") == "actions":
            labels = [e["text"]["text"] for e in block["elements"]]
            print(f"     [buttons: {' | '.join(labels)}]")


def main() -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's access log
    started = time.monotonic()
    from moto.server import ThreadedMotoServer

    from tests.support import moto_compat

    moto_compat.install()  # moto lacks one EC2 filter the sweep uses

    from tests.support.slack_standin import SlackStandIn

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    slack = SlackStandIn(on_message=print_slack).start()
    route_slack_hooks(slack)
    try:
        run(slack)
    finally:
        slack.stop()
        server.stop()
    print(
        f"\n{GREEN}{BOLD}Demo finished in {time.monotonic() - started:.1f}s: "
        f"the full lifecycle ran against moto at 127.0.0.1:{port}.{RESET}"
    )
    return 0


def route_slack_hooks(slack: Any) -> None:
    """The door only ever replies to https://hooks.slack.com/; in the demo that host is the
    local Slack stand-in, swapped in after every check on the URL has run."""
    from bastion_orchestrator.adapters.slack import notifier

    post = notifier._post_webhook
    notifier._post_webhook = lambda url, what, **m: post(slack.local(url), what, **m)


def provision(slack: Any) -> dict[str, str]:
    import boto3

    from tests.support.emulated import provision_deployment

    step("Provisioning a deployment in the emulator (what the Terraform module creates)")
    deployment = provision_deployment()
    secret = boto3.client("secretsmanager").create_secret(
        Name="docustack/dev/slack",
        SecretString=json.dumps({"bot_token": "xoxb-demo", "signing_secret": SIGNING_SECRET}),
    )["ARN"]
    env = {
        **deployment,
        "SLACK_SECRET_ARN": secret,
        "SLACK_CHANNEL": "#platform-bastions",
        "SLACK_API_URL": slack.api_url,
        # The module's logged documents, which its user policy requires (README, Connecting)
        "SESSION_DOCUMENT": "docustack-dev-bastion-session",
        "PORT_FORWARD_DOCUMENT": "docustack-dev-bastion-port-forward",
    }
    os.environ.update(env)
    for key in (
        "PROJECT_NAME",
        "ENVIRONMENT",
        "SUBNET_ID",
        "BASTION_SECURITY_GROUP_ID",
        "SCHEDULE_GROUP",
        "SLACK_CHANNEL",
        "PORT_FORWARD_DOCUMENT",
    ):
        print(f"  {key}={env[key]}")
    return env


def run(slack: Any) -> None:
    import boto3

    import auto_terminate
    import handler
    from tests.support import roots

    provision(slack)
    clock = DemoClock()
    roots.fresh()
    roots.use_clock(clock)

    class Context:
        function_name = "docustack-dev-orchestrator"
        memory_limit_in_mb = 128
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:demo"
        aws_request_id = "demo-request-0001"

        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    ctx: Any = Context()  # what Lambda passes; the handlers read these four attributes
    ec2 = boto3.client("ec2")
    scheduler = boto3.client("scheduler")

    def schedules() -> list[str]:
        return sorted(
            s["Name"]
            for s in scheduler.list_schedules(GroupName="docustack-dev-bastions")["Schedules"]
        )

    seed = json.loads((ROOT / "tests" / "events" / "create.json").read_text())
    step("create: the seed payload, unchanged (aws lambda invoke --payload file://create.json)")
    created = handler.lambda_handler(seed, ctx)
    show(created)
    check(created["success"], "bastion launched")
    iid = created["instance_id"]
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    check(instance["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 only")
    check(
        not instance["NetworkInterfaces"][0].get("Association", {}).get("PublicIp"), "no public IP"
    )
    check(len(schedules()) == 2, f"two one-shot schedules: {', '.join(schedules())}")

    step("create again: the same user gets the same bastion")
    again = handler.lambda_handler(seed, ctx)
    check(again["existing"] and again["instance_id"] == iid, "existing bastion returned")

    step("status (with the SSM agent's ping)")
    # moto has no ssm:DescribeInstanceInformation: a botocore Stubber answers on the SSM
    # client only, as the real API would for a bastion whose agent has registered.
    from botocore.stub import Stubber

    from tests.support.roots import clients

    print(f"  {DIM}(moto lacks ssm:DescribeInstanceInformation; a Stubber answers it){RESET}")
    with Stubber(clients.ssm()) as stub:
        stub.add_response(
            "describe_instance_information",
            {
                "InstanceInformationList": [
                    {"InstanceId": iid, "PingStatus": "Online", "PlatformName": "Amazon Linux"}
                ]
            },
        )
        status = handler.lambda_handler({"action": "status", "user_id": "U12345"}, ctx)
    show(status)
    check(
        status["state"] == "running" and status["ssm_status"] == "Online",
        "running, SSM agent online: ready for aws ssm start-session",
    )

    created_at = datetime.fromisoformat(created["created_at"])
    clock.travel_to(created_at + timedelta(hours=1), "an hour into the session")
    step("extend (+2 h)")
    extended = handler.lambda_handler(
        {"action": "extend", "instance_id": iid, "user_id": "U12345"}, ctx
    )
    show(extended)
    expires = datetime.fromisoformat(extended["expires_at"])
    check(expires == created_at + timedelta(hours=5), "expiry pushed to creation + 5 h")

    step("someone else tries to destroy it")
    forbidden = handler.lambda_handler(
        {"action": "destroy", "instance_id": iid, "user_id": "U66666"}, ctx
    )
    show(forbidden)
    check(forbidden["error"] == "FORBIDDEN", "refused: not the owner, not an admin")

    clock.travel_to(expires - timedelta(minutes=30), "the warning schedule fires")
    step("auto-terminator: warn")
    warned = auto_terminate.lambda_handler({"action": "warn", "instance_id": iid}, ctx)
    show(warned)
    check(warned["outcome"] == "warned", "requester warned, with Extend/Destroy buttons")
    repeat = auto_terminate.lambda_handler({"action": "warn", "instance_id": iid}, ctx)
    check(repeat["outcome"] == "already_warned", "a duplicate delivery notifies nobody")

    clock.travel_to(expires, "the termination schedule fires")
    step("auto-terminator: terminate")
    terminated = auto_terminate.lambda_handler({"action": "terminate", "instance_id": iid}, ctx)
    show(terminated)
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    check(state["State"]["Name"] in {"shutting-down", "terminated"}, "instance terminated")
    check(schedules() == [], "its schedules are gone")

    step("sweep: a bastion whose schedules were lost is still terminated")
    lost = handler.lambda_handler(
        {"action": "create", "user_id": "U777", "username": "dba.on.call"}, ctx
    )
    for name in schedules():
        scheduler.delete_schedule(Name=name, GroupName="docustack-dev-bastions")
    clock.travel_to(clock.now + timedelta(hours=3, minutes=5), "past its expiry")
    swept = auto_terminate.lambda_handler({"action": "sweep"}, ctx)
    show(swept)
    check(swept["terminated"] == 1, f"sweep terminated {lost['instance_id']}")

    queue = slack_round_trip(slack, clock, ctx)
    iam_door(ctx)
    approval_round(clock, ctx, queue)

    step("bad input is refused, nothing launched")
    bad = handler.lambda_handler({"action": "create", "user_id": "U1", "username": "rm -rf"}, ctx)
    show(bad)
    check(bad["error"] == "VALIDATION_ERROR", "VALIDATION_ERROR with the remedy")


def approval_round(clock: DemoClock, ctx: Any, queue: Any) -> None:
    """APPROVAL_REQUIRED: a create waits in the approval channel until another person approves."""
    import boto3

    from tests.support import roots
    from tests.support.slack_requests import button, slash_command

    post, run_async, arm = queue
    step(
        "the rules a prod deployment has, switched on here: APPROVAL_REQUIRED=true, approvers "
        "maria and sam, channel #prod-approvals"
    )
    boto3.client("dynamodb").create_table(
        TableName="docustack-dev-idempotency",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    os.environ.update(
        APPROVAL_REQUIRED="true",
        APPROVER_USER_IDS="U9999,U8888",
        APPROVAL_CHANNEL="#prod-approvals",
        IDEMPOTENCY_TABLE="docustack-dev-idempotency",
    )
    roots.fresh()
    roots.use_clock(clock)
    arm()

    step("Slack: jane asks for a bastion: /infra bastion create dev 2h INC-77 reconcile ledger")
    post(
        slash_command(
            "bastion create dev 2h INC-77 reconcile ledger", user_id="U2222", user_name="jane.dba"
        )
    )
    [asked] = run_async()
    check(
        asked.get("pending_approval") is True,
        f"nothing launched: request {asked.get('approval_id')} waits for an approver",
    )

    step("Slack: jane presses Approve on her own request")
    post(button("bastion_approve", asked["approval_id"], user_id="U2222"))
    [refused] = run_async()
    check(
        refused.get("error") == "FORBIDDEN" and "not an approver" in refused.get("message", ""),
        "refused where she pressed it: she is not an approver (and nobody approves their own "
        "request)",
    )

    step("Slack: maria (an approver) presses Approve")
    post(button("bastion_approve", asked["approval_id"], user_id="U9999", username="maria"))
    [approved] = run_async()
    check(
        approved.get("success") and approved.get("instance_id"),
        f"bastion {approved.get('instance_id')} launched once, tagged ApprovedBy=U9999",
    )
    step("Slack: sam (another approver) presses Approve too")
    post(button("bastion_approve", asked["approval_id"], user_id="U8888", username="sam"))
    [again] = run_async()
    check(
        again.get("approval_status") == "approved" and "already" in again.get("message", ""),
        f"{again.get('message')} No second bastion.",
    )
    step("Slack: jane presses Extend: past the 2 h that maria granted")
    iid = str(approved.get("instance_id"))
    post(button("bastion_extend", iid, user_id="U2222", username="jane.dba"))
    [extend] = run_async()
    check(
        extend.get("pending_approval") is True,
        f"nothing extended: request {extend.get('approval_id')} asks the approvers for 2 h more",
    )
    step("Slack: sam approves the extension")
    post(button("bastion_approve", extend["approval_id"], user_id="U8888", username="sam"))
    [extended] = run_async()
    check(
        extended.get("success") is True and extended.get("expires_at"),
        f"extended once, to {extended.get('expires_at')} (GrantedUntil, ExtensionApprovedBy=U8888)",
    )


def iam_door(ctx: Any) -> None:
    """The IAM door: SigV4-signed JSON actions; AWS says who the caller is."""
    import boto3

    import handler
    from tests.support.iam_requests import BOB_ARN, BOB_ID, iam_event

    step("IAM door: alice (SSO session) POSTs {'action': 'create'} to the AWS_IAM URL")
    response = handler.lambda_handler(iam_event({"action": "create", "reason": "INC-4711"}), ctx)
    body = json.loads(response["body"])
    print(f"  {DIM}HTTP {response['statusCode']}{RESET} {response['body'][:160]}")
    tags = {
        t["Key"]: t["Value"]
        for t in boto3.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [body["instance_id"]]}]
        )["Tags"]
    }
    check(
        response["statusCode"] == 200 and tags["RequestedByUserId"].endswith(":alice@example.com"),
        f"owned by {tags['RequestedByUserId']} (what the user policy matches to aws:userid)",
    )
    step("IAM door: bob tries to destroy alice's bastion")
    denied = handler.lambda_handler(
        iam_event(
            {"action": "destroy", "instance_id": body["instance_id"]},
            user_arn=BOB_ARN,
            user_id=BOB_ID,
        ),
        ctx,
    )
    print(f"  {DIM}HTTP {denied['statusCode']}{RESET} {denied['body'][:160]}")
    check(denied["statusCode"] == 403, "403 FORBIDDEN: not the owner, not an admin")


def slack_round_trip(slack: Any, clock: DemoClock, ctx: Any) -> Any:
    """The Slack door: signed Function URL requests in, ephemeral answers and async work."""
    import handler
    from tests.support.roots import clients
    from tests.support.slack_requests import button, function_url_event, slash_command

    queued: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        queued.append(json.loads(params["Payload"]))

    def accepted(**_: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        return AWSResponse("https://lambda", 202, HTTPHeaders(), None), {"StatusCode": 202}

    # moto cannot run this function asynchronously: the door's Invoke is answered here (202,
    # as Lambda queues it) and the payload is delivered to the handler below, as Lambda would.
    seen: dict[str, int] = {}

    def agent(params: dict[str, Any], **_: Any) -> Any:
        """moto has no ssm:DescribeInstanceInformation: answered here, for that operation
        only, as SSM would for a bastion whose agent registers a few seconds after launch."""
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        body = params["body"]  # the serialised request (SSM speaks JSON)
        [iid] = json.loads(body.decode() if isinstance(body, bytes) else body)["Filters"][0][
            "Values"
        ]
        seen[iid] = seen.get(iid, 0) + 1
        online = seen[iid] > 1
        items = (
            [
                {
                    "InstanceId": iid,
                    "PingStatus": "Online",
                    "RegistrationDate": clock() - timedelta(seconds=5),
                }
            ]
            if online
            else []
        )
        return AWSResponse("https://ssm", 200, HTTPHeaders(), None), {
            "InstanceInformationList": items
        }

    def arm() -> None:  # on the current clients (wiring.reset makes new ones)
        events = clients.lambda_().meta.events
        events.register("provide-client-params.lambda.Invoke", capture)
        events.register("before-call.lambda.Invoke", accepted)
        clients.ssm().meta.events.register("before-call.ssm.DescribeInstanceInformation", agent)

    arm()

    def post(body: str, secret: str | None = SIGNING_SECRET) -> dict[str, Any]:
        event = function_url_event(body, secret=secret, timestamp=int(clock().timestamp()))
        response = handler.lambda_handler(event, ctx)
        print(f"  {DIM}HTTP {response['statusCode']}{RESET} {response['body'][:160]}")
        return response

    def run_async() -> list[dict[str, Any]]:
        results = []
        while queued:
            job = queued.pop(0)
            sealed = job["continuation"]
            print(
                f"  {DIM}⚙ async self-invocation, sealed {sealed['signature'][:14]}…: "
                f"{json.dumps(sealed['job'])[:100]}…{RESET}"
            )
            results.append(handler.lambda_handler(job, ctx))
        return results

    # Back to the wall clock: EC2 stamps LaunchTime with real time, and the lifetime cap is
    # counted from it (a tampered CreatedAt tag cannot move it), so a new scenario starts now.
    clock.travel_to(
        datetime.now(UTC).replace(microsecond=0), "a second scenario, at the real time again"
    )

    step("Slack: a forged request (wrong signing secret)")
    forged = post(slash_command("bastion create dev"), secret="not-the-secret")
    check(forged["statusCode"] == 401 and not queued, "401, nothing queued, nothing launched")

    step("direct invoke: a well-formed continuation sealed with a guessed key")
    from bastion_orchestrator.doors.slack.sealing import seal

    job = {"slack_request": slash_command("bastion create dev", user_id="U6666")}
    refused = handler.lambda_handler(seal(job, "guessed-secret", clock()), ctx)
    show(refused)
    check(refused["error"] == "FORBIDDEN", "refused: this deployment did not produce it")

    step("Slack: /infra bastion create dev INC-42 slow queries (signed, base64 body)")
    started = time.monotonic()
    ack = post(
        slash_command(
            "bastion create dev INC-42 slow queries",
            user_id="U2222",
            user_name="jane.dba",
            response_url=slack.response_url,
        )
    )
    took = time.monotonic() - started
    check(
        ack["statusCode"] == 200 and len(queued) == 1,
        f"acknowledged in {took * 1000:.0f} ms; the launch continues asynchronously",
    )
    [created] = run_async()
    check(created["success"], f"bastion {created['instance_id']} launched for jane.dba")
    iid = created["instance_id"]

    clock.travel_to(clock.now + timedelta(hours=2, minutes=31), "jane's warning fires")
    import auto_terminate

    auto_terminate.lambda_handler({"action": "warn", "instance_id": iid}, ctx)

    step("Slack: jane presses Extend in the warning")
    press = post(
        button(
            "bastion_extend",
            iid,
            user_id="U2222",
            username="jane.dba",
            response_url=slack.response_url,
        )
    )
    check(press["statusCode"] == 200, "button acknowledged")
    [extended] = run_async()
    check(
        extended["success"] and extended["expires_at"] > created["expires_at"],
        f"extended to {extended.get('expires_at')}; message replaced",
    )

    step("Slack: /infra bastion destroy dev")
    post(
        slash_command(
            "bastion destroy dev",
            user_id="U2222",
            user_name="jane.dba",
            response_url=slack.response_url,
        )
    )
    [destroyed] = run_async()
    check(destroyed["success"], "destroyed; the channel is told")
    return post, run_async, arm


if __name__ == "__main__":
    raise SystemExit(main())
