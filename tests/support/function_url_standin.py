"""A local stand-in for the orchestrator's ``AWS_IAM`` Function URL and for the two SSM calls
the ``bastion`` CLI makes itself, on 127.0.0.1 (tests, ``make demo``, ``make bench``).

- **The IAM door.** What AWS does before the function runs, then the real handler: the SigV4
  signature is recomputed with botocore from the caller's known credentials over the headers
  the request says it signed, and compared; the scope (date, region, service ``lambda``), the
  clock skew and the session token are checked. An unknown key answers AWS's 403
  ``The security token included in the request is invalid``, an expired one ``… is expired``,
  an identity without ``lambda:InvokeFunctionUrl`` ``Forbidden``. Otherwise the payload-2.0
  event is built from the contract's fixture with ``requestContext.authorizer.iam`` of the
  key's identity, and ``handler.lambda_handler`` answers it, against whatever AWS backend the
  process has (moto's ``mock_aws``, or a ``ThreadedMotoServer`` via ``AWS_ENDPOINT_URL``).
- **The SSM agent.** moto has no ``ssm:DescribeInstanceInformation``: each ``status`` request
  is run under a fresh botocore ``Stubber`` on the orchestrator's SSM client, answering the
  ping status of a scripted agent (``NotRegistered`` until its Nth status poll, then
  ``Online``).
- **StartSession / TerminateSession** (``X-Amz-Target: AmazonSSM.*``, service ``ssm``; point
  the CLI at it with ``AWS_ENDPOINT_URL_SSM``). moto has neither: the request is replayed into
  an in-process SSM client with a botocore ``Stubber`` holding the scripted answer (which
  also checks the parameters against the SSM model), and the result or the error goes back
  in the JSON protocol's shape, so the CLI's botocore parses real wire responses.

Handler calls are serialised (one Lambda container runs one request at a time); ``lock`` is
for tests that call the handlers directly meanwhile.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from tests.support.iam_requests import ACCOUNT, ALICE_ARN, ALICE_ID, BOB_ARN, BOB_ID, iam_event

REGION: Final = "us-east-1"
MAX_SKEW_SECONDS: Final = 300


@dataclass(frozen=True)
class Identity:
    """A caller AWS knows: its keys, who it is, and what IAM lets it do."""

    access_key: str
    secret_key: str
    token: str | None
    user_arn: str
    user_id: str
    may_invoke: bool = True  # lambda:InvokeFunctionUrl on the door
    may_start_session: bool = True  # bastion_user_policy_json
    expired: bool = False


ALICE: Final = Identity(
    "ASIAALICEEXAMPLE0001", "alice-secret-key-0001", "alice-session-token", ALICE_ARN, ALICE_ID
)
BOB: Final = Identity("ASIABOBEXAMPLE000001", "bob-secret-key-00001", None, BOB_ARN, BOB_ID)


@dataclass
class Agent:
    """The bastions' SSM agent: offline until the Nth status poll, then online."""

    online_after: int = 1
    polls: int = 0

    def ping(self) -> str:
        self.polls += 1
        return "Online" if self.polls >= self.online_after else "NotRegistered"


@dataclass
class Call:
    kind: str  # "door" or "ssm"
    name: str  # the action or the SSM operation
    status: int
    identity: str | None


@dataclass
class Context:
    """What Lambda passes to the handler through the IAM door's alias."""

    function_name: str = "docustack-dev-orchestrator"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:docustack-dev-orchestrator:iam"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class StandIn:
    def __init__(
        self,
        identities: tuple[Identity, ...] = (ALICE, BOB),
        agent: Agent | None = None,
        clock: Any = None,
    ) -> None:
        self.identities = {i.access_key: i for i in identities}
        self.agent = agent or Agent()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.calls: list[Call] = []
        self.ssm_requests: list[tuple[str, dict[str, Any]]] = []
        # Scripted StartSession answers, in order; the last one repeats. "ok" or an error code.
        self.start_session_plan: deque[str] = deque(["ok"])
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._ssm: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def plan_start_session(self, *answers: str) -> None:
        with self.lock:
            self.start_session_plan = deque(answers)

    def door_calls(self) -> list[str]:
        return [c.name for c in self.calls if c.kind == "door"]

    def ssm_calls(self) -> list[str]:
        return [c.name for c in self.calls if c.kind == "ssm"]

    # ---------------------------------------------------------------- HTTP
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                target = headers.get("x-amz-target", "")
                service = "ssm" if target.startswith("AmazonSSM.") else "lambda"
                try:
                    status, answer, _ = standin.serve(self.path, headers, body, service)
                except Exception:
                    # What a Function URL answers when its function raises: 502, with the
                    # traceback in the function's log (here, stderr) rather than a dropped
                    # connection the CLI would take for a network problem.
                    traceback.print_exc()
                    status, answer = 502, {"Message": "Internal Server Error"}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                content = "application/x-amz-json-1.1" if service == "ssm" else "application/json"
                self.send_header("Content-Type", content)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self.do_POST()

            def log_message(self, *_: Any) -> None:
                pass

        return Handler

    def serve(
        self, path: str, headers: dict[str, str], body: bytes, service: str
    ) -> tuple[int, dict[str, Any], Identity | None]:
        identity, refusal = self.verify(path, headers, body, service)
        name = headers.get("x-amz-target", "").removeprefix("AmazonSSM.")
        if service == "lambda":
            name = _action_of(body)
        if refusal is not None:
            status, (code, message) = refusal
            answer = (
                {"__type": code, "message": message} if service == "ssm" else {"Message": message}
            )
        elif service == "ssm":
            assert identity is not None
            status, answer = self._ssm_answer(name, json.loads(body or b"{}"), identity)
        else:
            assert identity is not None
            status, answer = self._door_answer(headers, body, identity)
        who = identity.user_id if identity else None
        with self.lock:
            self.calls.append(Call("ssm" if service == "ssm" else "door", name, status, who))
        return status, answer, identity

    # ---------------------------------------------------------------- SigV4
    def verify(
        self, path: str, headers: dict[str, str], body: bytes, service: str
    ) -> tuple[Identity | None, tuple[int, tuple[str, str]] | None]:
        """What AWS checks before anything runs: the caller, the scope, the signature."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        Verdict = tuple[Identity | None, tuple[int, tuple[str, str]] | None]

        def refuse(message: str, code: str = "InvalidSignatureException") -> Verdict:
            return None, (403, (code, message))

        fields = _authorization(headers.get("authorization", ""))
        if fields is None:
            return refuse("Missing Authentication Token", "MissingAuthenticationTokenException")
        access_key, date, region, scope_service = fields["scope"]
        identity = self.identities.get(access_key)
        if identity is None:
            return refuse(
                "The security token included in the request is invalid.",
                "UnrecognizedClientException",
            )
        if identity.expired:
            return refuse(
                "The security token included in the request is expired", "ExpiredTokenException"
            )
        amz_date = headers.get("x-amz-date", "")
        if (region, scope_service) != (REGION, service) or not amz_date.startswith(date):
            return refuse(f"Credential should be scoped to a valid region and service {service}.")
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > MAX_SKEW_SECONDS:
            return refuse("Signature expired: the request is more than 5 minutes old.")
        if identity.token is not None and headers.get("x-amz-security-token") != identity.token:
            return refuse("The security token included in the request is invalid.")
        names = fields["signed"].split(";")
        if "host" not in names or any(n not in headers for n in names):
            return refuse("The request must sign host and every header it names.")
        request = AWSRequest(
            method="POST",
            url=f"http://{headers['host']}{path}",
            data=body,
            headers={n: headers[n] for n in names},
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(
            Credentials(identity.access_key, identity.secret_key, identity.token), service, region
        )
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if signer.signed_headers(signer.headers_to_sign(request)) != fields["signed"] or not (
            hmac.compare_digest(expected, fields["signature"])
        ):
            return refuse(
                "The request signature we calculated does not match the signature you provided."
            )
        if service == "lambda" and not identity.may_invoke:
            return None, (403, ("AccessDeniedException", "Forbidden"))
        return identity, None

    # ---------------------------------------------------------------- the door
    def _door_answer(
        self, headers: dict[str, str], body: bytes, identity: Identity
    ) -> tuple[int, dict[str, Any]]:
        from botocore.stub import Stubber

        import handler
        from tests.support.roots import clients

        event = iam_event(
            body.decode("utf-8"), user_arn=identity.user_arn, user_id=identity.user_id
        )
        event["headers"] = dict(headers)
        context = event["requestContext"]
        context["requestId"] = str(uuid.uuid4())
        context["authorizer"]["iam"]["accessKey"] = identity.access_key
        context["http"]["sourceIp"] = "127.0.0.1"
        context["http"]["userAgent"] = headers.get("user-agent", "")
        with self.lock:
            if _action_of(body) == "status":
                instance_id = _field_of(body, "instance_id")
                info: dict[str, Any] = {"PingStatus": self.agent.ping()}
                if instance_id:
                    info["InstanceId"] = instance_id
                with Stubber(clients.ssm()) as stub:
                    stub.add_response(
                        "describe_instance_information", {"InstanceInformationList": [info]}
                    )
                    response = handler.lambda_handler(event, Context())  # type: ignore[arg-type]
            else:
                response = handler.lambda_handler(event, Context())  # type: ignore[arg-type]
        return int(response["statusCode"]), json.loads(response["body"])

    # ---------------------------------------------------------------- SSM
    def _ssm_answer(
        self, operation: str, params: dict[str, Any], identity: Identity
    ) -> tuple[int, dict[str, Any]]:
        from botocore.exceptions import ClientError, ParamValidationError

        with self.lock:
            self.ssm_requests.append((operation, params))
            client, stub = self._ssm_stub()
            if operation == "StartSession":
                plan = self.start_session_plan
                answer = plan.popleft() if len(plan) > 1 else plan[0]
                if not identity.may_start_session:
                    answer = "AccessDeniedException"
                if answer == "ok":
                    user = identity.user_id.rsplit(":", 1)[-1].split("@")[0]
                    session_id = f"{user}-{secrets.token_hex(8)}"
                    stub.add_response(
                        "start_session",
                        {
                            "SessionId": session_id,
                            "TokenValue": secrets.token_urlsafe(24),
                            "StreamUrl": f"wss://ssmmessages.{REGION}.amazonaws.com/v1/"
                            f"data-channel/{session_id}?role=publish_subscribe&cell-number=1",
                        },
                        expected_params=params,
                    )
                else:
                    stub.add_client_error(
                        "start_session",
                        service_error_code=answer,
                        service_message=_SSM_MESSAGES.get(answer, answer),
                        http_status_code=400,
                        expected_params=params,
                    )
            elif operation == "TerminateSession":
                stub.add_response(
                    "terminate_session", {"SessionId": params.get("SessionId", "")}, params
                )
            else:
                return 400, {"__type": "UnknownOperationException", "message": operation}
            method = "start_session" if operation == "StartSession" else "terminate_session"
            try:
                result = dict(getattr(client, method)(**params))
            except ClientError as e:
                error = e.response["Error"]
                return 400, {"__type": error["Code"], "message": error["Message"]}
            except ParamValidationError as e:
                return 400, {"__type": "ValidationException", "message": str(e)}
        result.pop("ResponseMetadata", None)
        return 200, result

    def _ssm_stub(self) -> tuple[Any, Any]:
        import botocore.session
        from botocore.stub import Stubber

        if self._ssm is None:
            client = botocore.session.get_session().create_client(
                "ssm",
                region_name=REGION,
                aws_access_key_id="stand-in",
                aws_secret_access_key="stand-in",
            )
            stub = Stubber(client)
            stub.activate()
            self._ssm = (client, stub)
        return self._ssm  # type: ignore[no-any-return]


_SSM_MESSAGES: Final = {
    "TargetNotConnected": "i-0123456789abcdef0 is not connected.",
    "AccessDeniedException": "User: arn:aws:sts::123456789012:assumed-role/Developer/alice is "
    "not authorized to perform: ssm:StartSession on resource: "
    "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0 because no "
    "identity-based policy allows the ssm:StartSession action",
    "InvalidDocument": "Document docustack-dev-bastion-port-forward does not exist",
}


def _authorization(header: str) -> dict[str, Any] | None:
    """``AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
    SignedHeaders=a;b, Signature=hex`` into its parts."""
    algorithm, _, rest = header.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    parts = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    scope = parts.get("Credential", "").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not parts.get("Signature"):
        return None
    signed = parts.get("SignedHeaders", "")
    return {"scope": scope[:4], "signed": signed, "signature": parts["Signature"]}


def _action_of(body: bytes) -> str:
    value = _field_of(body, "action")
    return value or "?"


def _field_of(body: bytes, name: str) -> str | None:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
