"""`make sandbox`: a deployment on a local moto server, left running for you to try by hand.

It provisions what `make demo` provisions (VPC, private subnet, bastion security group,
instance profile, schedule group, Slack secret), plus the idempotency table the module
creates by default, then serves on 127.0.0.1 only, every part backed by the real
``handler.lambda_handler`` and ``auto_terminate.lambda_handler``:

- the public Slack Function URL: each HTTP request becomes the payload-2.0 event Lambda
  builds; the handler checks Slack's signature itself, as it does in AWS;
- the ``AWS_IAM`` Function URL: tests/support/function_url_standin.py, which checks SigV4
  as AWS does and fills ``requestContext.authorizer.iam`` before calling the handler;
- the Lambda Invoke API (``AWS_ENDPOINT_URL_LAMBDA``): ``aws lambda invoke``, boto3, and the
  Slack door's own asynchronous self-invocations run the handlers here;
- SSM (``AWS_ENDPOINT_URL_SSM``): moto's, plus what moto lacks: the agent's ping (online
  ``AGENT_DELAY`` after launch), an empty session history, and StartSession/TerminateSession
  for the ``bastion`` CLI (answered by the IAM Function URL stand-in);
- a Slack stand-in that prints every message the functions send.

moto fires no schedules: a thread delivers the due one-shot schedules (warnings, terminations,
readiness checks) every few seconds and runs the sweep every ``--sweep-every`` seconds.
Ctrl-C (or SIGTERM) stops every server and exits 0. How to use it: docs/sandbox.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import http.client
import importlib
import json
import os
import queue
import re
import shutil
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGION: Final = "us-east-1"
ACCOUNT: Final = "123456789012"
ORCHESTRATOR: Final = "docustack-dev-orchestrator"
TERMINATOR: Final = "docustack-dev-auto-terminate"  # tests/support/emulated.py's TERMINATOR_ARN
FUNCTIONS: Final = {ORCHESTRATOR: "handler", TERMINATOR: "auto_terminate"}
SCHEDULE_GROUP: Final = "docustack-dev-bastions"
IDEMPOTENCY_TABLE: Final = "docustack-dev-idempotency"
SIGNING_SECRET: Final = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret
# moto takes any keys; the IAM Function URL stand-in takes these as alice (an SSO developer).
KEY_ID: Final = "sandbox"
SECRET_KEY: Final = "sandbox"
AGENT_DELAY: Final = timedelta(seconds=15)  # a real agent registers 30-60 s after launch
SCHEDULE_POLL_SECONDS: Final = 5
INVOKE_PATH: Final = re.compile(r"/2015-03-31/functions/(?P<function>[^/]+)/invocations")
AT: Final = re.compile(r"at\((?P<when>[0-9T:-]+)\)")

Answer = tuple[int, dict[str, str], bytes]  # status, headers, body
Route = Callable[[str, str, dict[str, str], bytes], Answer]  # method, path, headers, body


def product_internals(slack: Any) -> None:
    """The ONE place the sandbox reaches into the product's internals (the package is being
    restructured: change it here). Everything else is environment variables and the two
    ``lambda_handler`` entry points; tests/support (provision_deployment, the Function URL
    stand-in) keeps its own uses.

    Slack replies to a request's ``response_url`` go only to https://hooks.slack.com/ (the
    product checks the address before posting). Here that host is the Slack stand-in, swapped
    in after the check, as `make demo` does: without it a reply would leave loopback.
    """
    from bastion_orchestrator.adapters.slack import notifier

    post = notifier._post_webhook
    notifier._post_webhook = lambda url, what, **message: post(slack.local(url), what, **message)


@dataclass
class Context:
    """What Lambda passes to a handler; the Slack door enqueues to ``invoked_function_arn``."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def function_name(reference: str) -> str:
    """``name``, ``name:qualifier`` or an ARN, as Invoke and Scheduler targets take it."""
    parts = reference.split(":")
    return parts[6] if reference.startswith("arn:") and len(parts) > 6 else parts[0]


def serve(route: Route) -> ThreadingHTTPServer:
    """An HTTP server on a free loopback port, answering every request with ``route``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, extra, payload = route(self.command, self.path, headers, body)
            except Exception:
                traceback.print_exc()  # the function's log; the caller gets Lambda's 502
                status, extra, payload = 502, {}, b'{"Message": "Internal Server Error"}'
            self.send_response(status)
            lowered = {name.lower(): value for name, value in extra.items()}
            for name, value in {"content-type": "application/json", **lowered}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.do_POST()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stop(server: Any) -> None:
    if isinstance(server, ThreadingHTTPServer):
        server.shutdown()
        server.server_close()
    else:
        server.stop()


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _json(status: int, body: Any, **headers: str) -> Answer:
    return status, headers, json.dumps(body).encode()


def _lambda_error(status: int, code: str, message: str) -> Answer:
    return _json(status, {"Type": "User", "message": message}, **{"x-amzn-ErrorType": code})


def say(text: str) -> None:
    print(text, flush=True)


def print_slack(posted: Any) -> None:
    where = {
        "chat.postMessage": f"Slack → {posted.channel}",
        "chat.update": f"Slack (message updated in {posted.channel})",
        "webhook": "Slack webhook",
        "response_url": "Slack reply (response_url)",
    }.get(posted.endpoint, f"Slack {posted.endpoint}")
    say(f"💬 {where}: {posted.text}")
    for block in posted.body.get("blocks") or []:
        if block.get("type") == "actions":
            buttons = [
                f"{e['text']['text']}: press {e.get('action_id', '')} {e.get('value', '')}"
                for e in block.get("elements", [])
            ]
            say(f"   [buttons: {' | '.join(buttons)}]")


def summary(result: Any) -> str:
    text = json.dumps(result)
    return text if len(text) <= 240 else text[:240] + "…"


class Sandbox:
    def __init__(self, state: Path, sweep_every: float) -> None:
        self.state = state
        self.sweep_every = sweep_every
        self.stopping = threading.Event()
        self.jobs: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.servers: list[Any] = []
        # One Lambda container: one handler call at a time (the stand-in's status Stubber
        # also holds the shared SSM client while it answers). Set in start().
        self.lock: Any = None

    # ------------------------------------------------------------------ start and stop
    def start(self) -> dict[str, str]:
        from moto.server import ThreadedMotoServer

        from tests.support.cli_runner import free_port
        from tests.support.function_url_standin import ALICE, BOB, Agent, Identity, StandIn
        from tests.support.slack_standin import SlackStandIn

        self.moto_port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self.moto.start()
        self.servers.append(self.moto)
        you = Identity(KEY_ID, SECRET_KEY, None, ALICE.user_arn, ALICE.user_id)
        self.door = StandIn(identities=(you, ALICE, BOB), agent=Agent(online_after=2)).start()
        self.lock = self.door.lock
        self.slack = SlackStandIn(on_message=print_slack).start()
        self.aws = serve(self.local_aws)
        self.slack_url = serve(self.slack_function_url)
        self.servers += [self.door, self.slack, self.aws, self.slack_url]
        env = self.provision()
        product_internals(self.slack)
        for target in (self.work, self.tick):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)
        return env

    def stop(self) -> None:
        self.stopping.set()
        self.jobs.put(None)
        for thread in self.threads:
            thread.join(30)
        if self.lock is not None:
            self.lock.acquire(timeout=30)  # let a handler call in flight finish first
        # Side by side: each server polls for its shutdown every half second.
        stopping = [threading.Thread(target=_stop, args=(server,)) for server in self.servers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join(30)
        shutil.rmtree(self.state, ignore_errors=True)

    def provision(self) -> dict[str, str]:
        """The deployment's AWS side in moto, and the functions' environment in this process."""
        import boto3

        from tests.support.emulated import provision_deployment

        os.environ.update(
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{self.moto_port}",
            AWS_ENDPOINT_URL_LAMBDA=url_of(self.aws),
            AWS_ENDPOINT_URL_SSM=url_of(self.aws),
        )
        secret = boto3.client("secretsmanager").create_secret(
            Name="docustack/dev/slack",
            SecretString=json.dumps(
                {"bot_token": "xoxb-sandbox", "signing_secret": SIGNING_SECRET}
            ),
        )["ARN"]
        boto3.client("dynamodb").create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        functions = {
            "SLACK_SECRET_ARN": secret,
            "SLACK_CHANNEL": "#platform-bastions",
            "SLACK_API_URL": self.slack.api_url,
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            # The module's logged documents, which its user policy requires (README, Connecting)
            "SESSION_DOCUMENT": "docustack-dev-bastion-session",
            "PORT_FORWARD_DOCUMENT": "docustack-dev-bastion-port-forward",
        }
        os.environ.update(functions)
        return {**functions, **provision_deployment()}  # which also resets the product's caches

    # ------------------------------------------------------------------ the handlers
    def call(self, function: str, event: Any) -> Any:
        module = importlib.import_module(FUNCTIONS[function])
        with self.lock:
            return module.lambda_handler(event, Context(function))

    def work(self) -> None:
        """Asynchronous invocations (InvocationType Event), one at a time, as Lambda queues
        them."""
        while (job := self.jobs.get()) is not None:
            name, payload = job
            try:
                result = self.call(name, payload)
            except Exception:
                traceback.print_exc()
                continue
            say(f"⚙ async invocation of {name} done: {summary(result)}")

    def slack_function_url(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        """The public Function URL: the payload-2.0 event, then the orchestrator's handler."""
        from tests.support.slack_requests import function_url_event

        parts = urlsplit(path)
        event = function_url_event("", secret=None, timestamp=int(time.time()), path=parts.path)
        event.update(headers=headers, rawQueryString=parts.query, isBase64Encoded=True)
        event["body"] = base64.b64encode(body).decode()
        context = event["requestContext"]
        context["http"].update(
            method=method, sourceIp="127.0.0.1", userAgent=headers.get("user-agent", "")
        )
        context["requestId"] = str(uuid.uuid4())
        response = self.call(ORCHESTRATOR, event)
        answer = str(response.get("body") or "")
        raw = base64.b64decode(answer) if response.get("isBase64Encoded") else answer.encode()
        return int(response["statusCode"]), dict(response.get("headers") or {}), raw

    # ------------------------------------------------------------------ Lambda and SSM
    def local_aws(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        target = headers.get("x-amz-target", "")
        if target.startswith("AmazonSSM."):
            return self.ssm(target.removeprefix("AmazonSSM."), method, path, headers, body)
        match = INVOKE_PATH.fullmatch(urlsplit(path).path)
        if method != "POST" or match is None:
            return _lambda_error(404, "ResourceNotFoundException", f"no such API: {method} {path}")
        kind = headers.get("x-amz-invocation-type", "RequestResponse")
        return self.invoke(unquote(match["function"]), kind, body)

    def invoke(self, reference: str, kind: str, body: bytes) -> Answer:
        name = function_name(reference)
        if name not in FUNCTIONS:
            message = f"Function not found: {reference} (the sandbox has {', '.join(FUNCTIONS)})"
            return _lambda_error(404, "ResourceNotFoundException", message)
        try:
            payload = json.loads(body or b"{}")
        except ValueError as e:
            return _lambda_error(400, "InvalidRequestContentException", f"not JSON: {e}")
        if kind == "DryRun":
            return 204, {}, b""
        if kind == "Event":
            self.jobs.put((name, payload))
            return 202, {}, b""
        try:
            result = self.call(name, payload)
        except Exception as e:
            traceback.print_exc()  # what the function's log would show
            error = {"errorMessage": str(e), "errorType": type(e).__name__}
            return _json(200, error, **{"X-Amz-Function-Error": "Unhandled"})
        return _json(200, result, **{"X-Amz-Executed-Version": "$LATEST"})

    def ssm(
        self, operation: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        json_11 = {"Content-Type": "application/x-amz-json-1.1"}
        if operation in {"StartSession", "TerminateSession"}:  # the bastion CLI's own calls
            status, answer, _ = self.door.serve(path, headers, body, "ssm")
            return status, json_11, json.dumps(answer).encode()
        if operation == "DescribeInstanceInformation":
            return 200, json_11, json.dumps(self.agents(json.loads(body or b"{}"))).encode()
        if operation == "DescribeSessions":  # nobody's sessions are recorded here
            return 200, json_11, b'{"Sessions": []}'
        return self.forward(method, path, headers, body)

    def agents(self, request: dict[str, Any]) -> dict[str, Any]:
        """The SSM agent of every running bastion asked about: online AGENT_DELAY after launch."""
        import boto3

        ids = [
            value
            for item in request.get("Filters", [])
            if item.get("Key") == "InstanceIds"
            for value in item.get("Values", [])
        ]
        found = boto3.client("ec2").describe_instances(
            Filters=[{"Name": "instance-id", "Values": ids or ["none"]}]
        )
        now = datetime.now(UTC)
        items = [
            {
                "InstanceId": i["InstanceId"],
                "PingStatus": "Online",
                "LastPingDateTime": now.timestamp(),
                "RegistrationDate": (i["LaunchTime"] + AGENT_DELAY).timestamp(),
                "PlatformType": "Linux",
                "PlatformName": "Amazon Linux",
            }
            for r in found["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] == "running" and now >= i["LaunchTime"] + AGENT_DELAY
        ]
        return {"InstanceInformationList": items}

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Everything else of SSM (the image parameter) is moto's."""
        connection = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k not in {"host", "connection"}}
            connection.request(method, path, body, sent)
            response = connection.getresponse()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower().startswith(("content-type", "x-amz"))
            }
            return response.status, kept, response.read()
        finally:
            connection.close()

    # ------------------------------------------------------------------ time passing
    def tick(self) -> None:
        """Due one-shot schedules every few seconds; the sweep every ``sweep_every`` s."""
        next_sweep = time.monotonic() + self.sweep_every
        while not self.stopping.wait(SCHEDULE_POLL_SECONDS):
            try:
                self.fire_due_schedules()
                if self.sweep_every and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.sweep_every
                    self.sweep()
            except Exception:
                if not self.stopping.is_set():
                    traceback.print_exc()

    def fire_due_schedules(self) -> None:
        import boto3

        scheduler = boto3.client("scheduler")
        now = datetime.now(UTC)
        for page in scheduler.get_paginator("list_schedules").paginate(GroupName=SCHEDULE_GROUP):
            for item in page["Schedules"]:
                schedule = scheduler.get_schedule(Name=item["Name"], GroupName=SCHEDULE_GROUP)
                at = AT.fullmatch(schedule["ScheduleExpression"])
                if at is None or datetime.fromisoformat(at["when"]).replace(tzinfo=UTC) > now:
                    continue  # the product writes at(...) in UTC only
                self.deliver(schedule)
                if schedule.get("ActionAfterCompletion") == "DELETE":
                    # Gone already when the handler removed it (a termination does).
                    with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
                        scheduler.delete_schedule(Name=item["Name"], GroupName=SCHEDULE_GROUP)

    def deliver(self, schedule: Any) -> None:
        target = schedule["Target"]
        name = function_name(target["Arn"])
        payload = json.loads(target.get("Input") or "{}")
        say(f"⏰ schedule {schedule['Name']} fired: {name} {json.dumps(payload)}")
        if name not in FUNCTIONS:
            say(f"   (no function {name} in the sandbox: dropped)")
            return
        try:
            say(f"   → {summary(self.call(name, payload))}")
        except Exception:
            traceback.print_exc()  # Scheduler would retry; the sandbox delivers once

    def sweep(self) -> None:
        result = self.call(TERMINATOR, {"action": "sweep"})
        if result.get("terminated") or result.get("schedules_deleted"):
            say(f"🧹 sweep: {summary(result)}")


# ---------------------------------------------------------------------- what to type
def isolation(state: Path) -> dict[str, str]:
    """Dummy credentials, no AWS files, no instance metadata: nothing can reach AWS."""
    return {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(state / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(state / "aws-credentials"),
    }


def exports(sandbox: Sandbox, plugin_bin: Path) -> dict[str, str]:
    """What a shell needs to talk to the sandbox (and only to it)."""
    return {
        **isolation(sandbox.state),
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ENDPOINT_URL_LAMBDA": url_of(sandbox.aws),
        "AWS_ENDPOINT_URL_SSM": url_of(sandbox.aws),
        "ORCHESTRATOR_FUNCTION": ORCHESTRATOR,
        "AUTO_TERMINATE_FUNCTION": TERMINATOR,
        "SLACK_FUNCTION_URL": url_of(sandbox.slack_url) + "/",
        "IAM_FUNCTION_URL": sandbox.door.url,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "BASTION_CONFIG": str(sandbox.state / "bastion.toml"),
        "PATH": f"{plugin_bin}:$PATH",  # the stand-in session-manager-plugin first
    }


def write_state(sandbox: Sandbox, deployment: dict[str, str]) -> Path:
    """``<state>/env`` to source, ``<state>/cli_config.json`` for ``bastion configure``, and
    the stand-in ``session-manager-plugin``."""
    from tests.support.plugin_standin import PluginStandIn

    state = sandbox.state
    plugin = PluginStandIn(state / "plugin").install("tunnel")
    # What the module's cli_config output holds, with the IAM Function URL's address.
    cli_config = {"environment": "dev", "project": "docustack", "region": REGION}
    cli_config["url"] = sandbox.door.url
    (state / "cli_config.json").write_text(json.dumps(cli_config, indent=2) + "\n")
    python, client = sys.executable, ROOT / "tools" / "sandbox_client.py"
    lines = [
        "# The bastion sandbox (tools/sandbox.py): this shell talks to 127.0.0.1 only.",
        "unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN",
        *(f'export {k}="{v}"' for k, v in exports(sandbox, plugin.bin).items()),
        "# The functions' environment, for running a handler in this shell's own process.",
        'export POWERTOOLS_METRICS_DISABLED="true"',
        *(f'export {k}="{v}"' for k, v in sorted(deployment.items())),
        f'invoke() {{ "{python}" "{client}" invoke "$@"; }}',
        f'infra() {{ "{python}" "{client}" infra "$@"; }}',
        f'press() {{ "{python}" "{client}" press "$@"; }}',
        f'bastion() {{ PYTHONPATH="{ROOT}" "{python}" -m bastion_cli "$@"; }}',
    ]
    env = state / "env"
    env.write_text("\n".join(lines) + "\n")
    return env


def announce(sandbox: Sandbox, env: Path, shown: str) -> None:
    say(f"\nbastion sandbox: moto at {os.environ['AWS_ENDPOINT_URL']}, everything on 127.0.0.1.\n")
    say(env.read_text())
    say(
        f"In another terminal, from the repository:\n\n"
        f"  source {shown}/env\n"
        "  invoke file://tests/events/create.json              # aws lambda invoke, here\n"
        '  invoke \'{"action":"status","user_id":"U12345"}\'\n'
        '  invoke --function $AUTO_TERMINATE_FUNCTION \'{"action":"sweep"}\'\n'
        "  infra bastion help                                   # a signed /infra slash command\n"
        "  infra bastion create dev 2h INC-1 trying the sandbox\n"
        "  press bastion_extend i-…                             # a signed button press\n"
        f"  bastion configure --from-terraform {shown}/cli_config.json\n"
        "  bastion connect dev --reason 'INC-1 trying the sandbox'\n"
    )
    every = f"every {sandbox.sweep_every:g} s" if sandbox.sweep_every else "never (--sweep-every 0)"
    say(
        f"Due schedules (warnings, terminations, readiness checks) fire within "
        f"{SCHEDULE_POLL_SECONDS} s; the sweep runs {every}. Slack messages appear below."
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--dir",
        type=Path,
        default=ROOT / ".sandbox",
        help="state directory (default: .sandbox; removed at exit)",
    )
    parser.add_argument(
        "--sweep-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="run the sweep this often (0: never; default 60)",
    )
    return parser.parse_args(argv)


def prepare(state: Path) -> None:
    """A fresh state directory and this process's environment: loopback only."""
    if state.exists() and any(state.iterdir()) and not (state / "env").exists():
        raise SystemExit(f"{state} is not empty and not a sandbox's: choose another --dir")
    shutil.rmtree(state, ignore_errors=True)  # a sandbox's left over from a crash, or nothing
    state.mkdir(parents=True)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        isolation(state),
        POWERTOOLS_LOG_LEVEL=os.environ.get("SANDBOX_LOG_LEVEL", "WARNING"),
        POWERTOOLS_METRICS_DISABLED="true",
    )
    import logging
    import warnings

    from tests.support import moto_compat

    # Metrics are off (no CloudWatch here); Powertools still warns on each empty flush.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's access log
    moto_compat.lean_amis()  # before moto is imported
    moto_compat.install()  # moto lacks one EC2 filter the sweep uses


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stop = threading.Event()  # first: a Ctrl-C while starting stops it cleanly too
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    state = args.dir.resolve()
    prepare(state)
    sandbox = Sandbox(state, args.sweep_every)
    try:
        env = write_state(sandbox, sandbox.start())
        shown = os.path.relpath(state) if state.is_relative_to(Path.cwd()) else str(state)
        announce(sandbox, env, shown)
        # What exists now lives until exit (moto, botocore's models, the handlers): frozen,
        # the collector never walks it again, and exiting takes 0.4 s instead of 4 s.
        gc.freeze()
        say("Sandbox ready. Ctrl-C stops it.")
        while not stop.wait(1):
            pass
    finally:
        say("\nStopping the sandbox…")
        sandbox.stop()
    say("Sandbox stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
