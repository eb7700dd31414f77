"""The sandbox's helpers; `source .sandbox/env` (written by tools/sandbox.py) defines them:

  invoke [--function NAME] PAYLOAD   what `aws lambda invoke` does, against the sandbox;
                                     PAYLOAD is JSON, file://path or a path
  infra TEXT...                      a signed `/infra TEXT...` slash command to the Slack
                                     Function URL (e.g. `infra bastion create dev 2h INC-1`)
  press ACTION VALUE                 a signed button press (e.g. `press bastion_extend i-…`)

Each one talks only to the 127.0.0.1 addresses in that file, and refuses anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Where Slack would send the replies; the sandbox routes this host to its Slack stand-in.
RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1/sandbox"


def loopback(variable: str) -> str:
    """The sandbox's address in ``variable``; never anything but 127.0.0.1 or localhost."""
    url = os.environ.get(variable, "")
    if urlsplit(url).hostname not in {"127.0.0.1", "localhost"}:
        raise SystemExit(f"{variable} is not a loopback address: `source .sandbox/env` first")
    return url


def payload_of(text: str) -> bytes:
    path = Path(text.removeprefix("file://"))
    raw = path.read_text() if text.startswith("file://") or path.is_file() else text
    try:
        json.loads(raw)
    except ValueError as e:
        raise SystemExit(f"the payload is not JSON: {e}") from e
    return raw.encode()


def invoke(function: str, payload: str) -> int:
    import boto3

    client = boto3.client("lambda", endpoint_url=loopback("AWS_ENDPOINT_URL_LAMBDA"))
    response = client.invoke(FunctionName=function, Payload=payload_of(payload))
    print(json.dumps(json.loads(response["Payload"].read() or b"null"), indent=2))
    return 1 if response.get("FunctionError") else 0


def post_signed(body: str, secret: str) -> int:
    """POST a form as Slack does: signed (v0, HMAC-SHA256) with the app's signing secret."""
    from tests.support.slack_requests import sign

    timestamp = int(time.time())
    request = urllib.request.Request(  # a loopback http:// URL, checked
        loopback("SLACK_FUNCTION_URL"),
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(secret, timestamp, body),
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    print(f"HTTP {status}")
    show(raw)
    return 0 if status == 200 else 1


def show(raw: bytes) -> None:
    """What Slack would show the user: the answer's text and its blocks' text."""
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        print(raw.decode(errors="replace"))
        return
    if not isinstance(answer, dict) or "text" not in answer:
        print(json.dumps(answer))
        return
    blocks = answer.get("blocks") or []
    texts = [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)]
    print("\n".join(texts) if texts else answer["text"])
    print("(anything slower arrives in the sandbox's terminal, as a Slack message)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True)
    call = sub.add_parser("invoke", help="invoke a function with a payload")
    call.add_argument(
        "--function", default=os.environ.get("ORCHESTRATOR_FUNCTION", "docustack-dev-orchestrator")
    )
    call.add_argument("payload")
    for name, helps in (("infra", "a slash command"), ("press", "a button press")):
        slack = sub.add_parser(name, help=helps)
        slack.add_argument("--user", default="U12345", help="Slack user id (default U12345)")
        slack.add_argument("--name", default="john.doe", help="Slack user name")
        slack.add_argument("--secret", help="sign with this instead of the sandbox's secret")
        if name == "infra":
            slack.add_argument("text", nargs="+", help="what follows /infra")
        else:
            slack.add_argument(
                "action", help="bastion_extend, bastion_destroy, bastion_approve, bastion_deny"
            )
            slack.add_argument("value", help="the button's value: an instance id or a request id")
    return top


def main(argv: list[str] | None = None) -> int:
    from tests.support.slack_requests import button, slash_command

    args = parser().parse_args(argv)
    if args.command == "invoke":
        return invoke(args.function, args.payload)
    secret = args.secret or os.environ.get("SLACK_SIGNING_SECRET", "")
    if args.command == "infra":
        body = slash_command(
            " ".join(args.text), user_id=args.user, user_name=args.name, response_url=RESPONSE_URL
        )
    else:
        body = button(
            args.action,
            args.value,
            user_id=args.user,
            username=args.name,
            response_url=RESPONSE_URL,
        )
    return post_signed(body, secret)


if __name__ == "__main__":
    raise SystemExit(main())
