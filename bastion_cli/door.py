"""The IAM door: the orchestrator's actions as SigV4-signed JSON POSTs to its Function URL.

Signed with botocore's ``SigV4Auth`` for the service ``lambda`` over the caller's own
credentials; sent with the standard library (HTTPS proxies from the environment apply).
Answers are the contract's JSON; failures become typed errors that say what to do:

- HTTP 403 with AWS's ``{"Message": …}``: IAM refused the call (no
  ``lambda:InvokeFunctionUrl``: ``iam_door_invoke_policy_json``) or the credentials
  themselves (expired or unknown token);
- the orchestrator's own ``{"success": false, "error": CODE}`` (400/403/404/409/503/500);
- no answer at all: DNS, refused connection, timeout, TLS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from bastion_cli import __version__
from bastion_cli.aws import Aws
from bastion_cli.config import Environment, check_url
from bastion_cli.errors import BY_CODE, CliError, Forbidden, PendingApproval, Unreachable

TIMEOUT_SECONDS: Final = 75  # the orchestrator's own timeout is 60 s
THROTTLE_RETRIES: Final = 3  # 429: Lambda refused to run it (concurrency), nothing happened
_TOKEN_PROBLEMS: Final = ("security token", "expired", "signature")


@dataclass
class Door:
    env: Environment
    aws: Aws
    sleep: Callable[[float], None] = time.sleep
    calls: int = field(default=0, init=False)  # HTTP requests sent (for the bench)

    def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """One orchestrator action; the answer on success, a typed error otherwise."""
        body = json.dumps({"action": action, **fields}).encode()
        for attempt in range(THROTTLE_RETRIES + 1):
            status, answer = self._post(body)
            if status != 429 or attempt == THROTTLE_RETRIES:
                break
            self.sleep(2.0**attempt)
        if status == 200 and answer.get("pending_approval"):
            remedy = (
                f"Once an approver approves it, the bastion is extended: `bastion status "
                f"{self.env.name}` shows the new expiry."
                if action == "extend"
                else "Run the same command again once it is approved; you will be told in Slack."
            )
            pending = PendingApproval(
                str(answer.get("message") or "Your request waits for an approver."), remedy
            )
            pending.approval_id = str(answer.get("approval_id") or "")
            pending.expires_at = str(answer.get("expires_at") or "")
            raise pending
        if status == 200 and answer.get("success"):
            return answer
        raise self._failure(status, answer)

    def _post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        import http.client
        import urllib.error
        import urllib.request

        headers = {**self._signed_headers(body), "User-Agent": f"bastion-cli/{__version__}"}
        request = urllib.request.Request(self.env.url, data=body, headers=headers, method="POST")  # noqa: S310 (check_url: https, or http to loopback)
        self.calls += 1
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                return response.status, _json(response.read())
        except urllib.error.HTTPError as e:
            with e:
                return e.code, _json(e.read())
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            if _dropped(e):
                raise self._no_answer(e) from e
            raise self._unreachable(e) from e

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        url = check_url(self.env.url)
        request = AWSRequest(
            method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(self.aws.credentials(), "lambda", self.env.region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}

    def _failure(self, status: int, answer: dict[str, Any]) -> CliError:
        code = answer.get("error")
        message = str(answer.get("message") or answer.get("Message") or "").strip()
        if isinstance(code, str) and code in BY_CODE:
            return BY_CODE[code](message or code, _remedy(code, self.env.name), code=code)
        if status == 403:
            # AWS's own answer, before the function ran.
            if any(word in message.lower() for word in _TOKEN_PROBLEMS):
                return self.aws.expired_token(message)
            return Forbidden(
                f"IAM does not let you call the {self.env.name} IAM door "
                f"({message or 'HTTP 403'}).",
                "Your role or permission set needs the module's iam_door_invoke_policy_json "
                "(lambda:InvokeFunctionUrl on the alias `iam`); check --profile and that "
                f"{self.env.region} is the deployment's region.",
            )
        if status in {502, 504}:
            return CliError(
                f"The orchestrator failed to answer (HTTP {status}: {message or 'no detail'}).",
                "Retry in a minute; if it persists, the platform team should check the "
                "orchestrator function's logs.",
            )
        if status == 429:
            return CliError(
                "The orchestrator is busy (HTTP 429: its concurrency is exhausted).",
                "Retry in a minute.",
            )
        return CliError(
            f"Unexpected answer from the IAM door: HTTP {status} {message or answer}",
            f"Check that {self.env.url} is the module's iam_door_url (bastion configure).",
        )

    def _no_answer(self, error: BaseException) -> CliError:
        """The door took the request and hung up without an HTTP answer: the network works;
        the server side failed (or a proxy cut it)."""
        host = urlsplit(self.env.url).hostname or self.env.url
        return CliError(
            f"The {self.env.name} IAM door at {host} accepted the request but closed the "
            f"connection without answering ({type(error).__name__}: {error}).",
            "The network reached it, so this is not a VPN or DNS problem. Retry in a minute; "
            "if it persists, the platform team should check the orchestrator function's logs "
            "(a crash or timeout before it answered).",
        )

    def _unreachable(self, error: BaseException) -> Unreachable:
        import socket
        import ssl

        reason = getattr(error, "reason", error)
        host = urlsplit(self.env.url).hostname or self.env.url
        if isinstance(reason, socket.gaierror):
            what = f"cannot resolve {host}"
        elif isinstance(reason, ConnectionRefusedError):
            what = f"{host} refused the connection"
        elif isinstance(reason, TimeoutError | socket.timeout):
            what = f"no answer from {host} within {TIMEOUT_SECONDS} s"
        elif isinstance(reason, ssl.SSLError):
            what = f"TLS with {host} failed ({reason})"
        else:
            what = f"{host}: {reason}"
        return Unreachable(
            f"The {self.env.name} IAM door is unreachable: {what}.",
            "Check your network, VPN or proxy (HTTPS_PROXY), and that the URL in "
            f"`bastion configure --show` is the module's iam_door_url ({self.env.url}).",
        )


def _dropped(error: BaseException) -> bool:
    """A connection that was made and then dropped before any answer (not a network failure)."""
    import http.client

    reason = getattr(error, "reason", error)
    dropped = (http.client.BadStatusLine, ConnectionResetError, BrokenPipeError)
    return isinstance(reason, dropped)  # RemoteDisconnected is both of the first two


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {"Message": raw[:300].decode("utf-8", "replace")}
    return data if isinstance(data, dict) else {"Message": str(data)[:300]}


def _remedy(code: str, env: str) -> str:
    return {
        "VALIDATION_ERROR": "Fix the arguments (see `bastion --help`).",
        "FORBIDDEN": "Only the bastion's owner or an admin (ADMIN_PRINCIPAL_ARNS) may do this.",
        "NOT_FOUND": f"Create one with `bastion connect {env}`; `bastion list {env}` shows yours.",
        "LIMIT_EXCEEDED": f"Wait for it to expire, or `bastion destroy {env}`, then connect again.",
        "CAPACITY_UNAVAILABLE": "AWS has no capacity for the bastion's instance type in the "
        "deployment's subnets right now: retry in a few minutes, or ask the platform team to "
        "add subnets in other Availability Zones (subnet_ids).",
        "CONFIGURATION_ERROR": "The deployment is misconfigured: tell the platform team (the "
        "message names the variable).",
        "INTERNAL_ERROR": "Retry in a minute; if it persists, the platform team should check "
        "the orchestrator's logs.",
    }.get(code, "")
