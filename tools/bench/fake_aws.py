"""A tiny AWS stand-in on the real wire protocols, for large sweeps and cold-start figures.

moto renders a 200-instance ``DescribeInstances`` page in ~20 s once it holds thousands of
instances, so a 10,000-bastion sweep against it would take over an hour. This server
implements only what ``Reaper.sweep`` calls, on the protocols botocore really speaks, so the
application's boto3 code (serializers, parsers, paginators, retries) runs unchanged:

- EC2, query protocol (``POST /``, form body, XML answers in the 2016-11-15 namespace):
  ``DescribeInstances`` (``InstanceId.N``, ``Filter.N.Name``/``Filter.N.Value.M`` for
  ``tag:<key>`` and ``instance-state-name``, ``MaxResults`` 5-1000, ``NextToken``) and
  ``TerminateInstances`` (``InstanceId.N``; ``previousState``/``currentState``).
- Scheduler, REST-JSON: ``ListSchedules`` (``GET /schedules`` with ``ScheduleGroup``,
  ``NamePrefix``, ``State``, ``MaxResults`` 1-100, ``NextToken``; ``CreationDate`` as epoch
  seconds, as AWS sends it) and ``DeleteSchedule`` (``DELETE /schedules/{Name}?groupName=``).

And what the Slack door's cold path calls, for `make bench`'s cold-start figures:

- Secrets Manager, JSON 1.1: ``GetSecretValue`` (``SecretId`` a name or an ARN; ``add_secret``).
- Lambda, REST-JSON: ``Invoke`` with ``X-Amz-Invocation-Type: Event`` (``POST
  /2015-03-31/functions/{FunctionName}/invocations``; 202, the payload kept in ``invocations``).
- SSM, JSON 1.1: ``DescribeInstanceInformation`` with an ``InstanceIds`` filter (``Online`` for
  a running instance the fake holds).

Errors come back as AWS sends them (EC2 ``<Response><Errors><Error>``, Scheduler JSON with
``x-amzn-ErrorType``), so botocore raises the ``ClientError`` the code expects. Anything else
(another operation, another service, an unknown filter) is refused loudly rather than
answered wrongly. Page tokens are "after this key", so deleting while paging skips nothing,
as with AWS. State lives in memory: ``add_instance``/``add_schedule`` populate it directly,
``requests`` counts what arrived on the wire. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import bisect
import fnmatch
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

EC2_NS: Final = "http://ec2.amazonaws.com/doc/2016-11-15/"
STATE_CODES: Final = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}
_INSTANCE_ID: Final = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_SCOPE: Final = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


class FakeAwsError(Exception):
    """An error answer: AWS code, message, HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class FakeInstance:
    instance_id: str
    tags: dict[str, str]
    state: str = "running"
    private_ip: str = "10.0.0.10"
    launch_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    subnet_id: str = "subnet-0123456789abcdef0"
    profile_arn: str | None = None  # iam-instance-profile.arn


_PROFILE_FILTER = "iam-instance-profile.arn"


@dataclass
class FakeSchedule:
    name: str
    group: str
    created: datetime
    state: str = "ENABLED"
    target_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:target"


class FakeAws:
    """The in-memory state and the HTTP server around it. Use as a context manager."""

    def __init__(self, *, region: str = "us-east-1", account: str = "123456789012") -> None:
        self.region = region
        self.account = account
        self.instances: dict[str, FakeInstance] = {}
        self.schedules: dict[tuple[str, str], FakeSchedule] = {}
        self.secrets: dict[str, tuple[str, str]] = {}  # name -> (ARN, SecretString)
        self.invocations: list[tuple[str, bytes]] = []  # (function name or ARN, payload)
        self.requests: Counter[str] = Counter()  # "ec2.DescribeInstances" -> wire requests
        self.page_sizes: Counter[str] = Counter()  # "scheduler.ListSchedules 100" / "... unset"
        self._instance_keys: list[str] = []  # sorted; pages walk it
        self._schedule_keys: list[tuple[str, str]] = []  # sorted (group, name)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ setup
    def add_instance(
        self, instance_id: str, tags: Mapping[str, str], **fields: Any
    ) -> FakeInstance:
        instance = FakeInstance(instance_id, dict(tags), **fields)
        with self._lock:
            if instance_id not in self.instances:
                bisect.insort(self._instance_keys, instance_id)
            self.instances[instance_id] = instance
        return instance

    def add_schedule(
        self, name: str, group: str = "default", *, created: datetime | None = None
    ) -> FakeSchedule:
        schedule = FakeSchedule(name, group, created or datetime.now(UTC))
        key = (group, name)
        with self._lock:
            if key not in self.schedules:
                bisect.insort(self._schedule_keys, key)
            self.schedules[key] = schedule
        return schedule

    def add_secret(self, name: str, value: str) -> str:
        """A secret; answers its ARN (GetSecretValue takes the name or the ARN)."""
        arn = f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{name}-AbCdEf"
        with self._lock:
            self.secrets[name] = (arn, value)
        return arn

    # ----------------------------------------------------------------- server
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            backend = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAws:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------------- EC2
    def ec2(self, params: dict[str, str]) -> str:
        action = params.get("Action", "")
        self.requests[f"ec2.{action}"] += 1
        if action == "DescribeInstances":
            return self._describe_instances(params)
        if action == "TerminateInstances":
            return self._terminate_instances(params)
        raise FakeAwsError(
            "InvalidAction", f"The action {action} is not valid for this web service."
        )

    def _describe_instances(self, params: dict[str, str]) -> str:
        ids = _numbered(params, "InstanceId")
        filters = _filters(params)
        max_results = params.get("MaxResults")
        self.page_sizes[f"ec2.DescribeInstances {max_results or 'unset'}"] += 1
        if max_results is not None and ids:
            raise FakeAwsError(
                "InvalidParameterCombination",
                "The parameter instancesSet cannot be used with the parameter maxResults",
            )
        limit = int(max_results) if max_results is not None else None
        if limit is not None and not 5 <= limit <= 1000:
            raise FakeAwsError(
                "InvalidParameterValue",
                f"Value ( {limit} ) for parameter maxResults is invalid. "
                "Expecting a value greater than 5 and less than 1000.",
            )
        after = _untoken(params.get("NextToken"))
        page: list[FakeInstance] = []
        next_token = None
        with self._lock:
            if ids:
                for iid in ids:
                    _check_id(iid)
                    if iid not in self.instances:
                        raise FakeAwsError(
                            "InvalidInstanceID.NotFound", f"The instance ID '{iid}' does not exist"
                        )
                candidates: list[str] = sorted(set(ids))
            else:
                start = bisect.bisect_right(self._instance_keys, after) if after else 0
                candidates = self._instance_keys[start:]
            for iid in candidates:
                instance = self.instances[iid]
                if not _matches(instance, filters):
                    continue
                if limit is not None and len(page) == limit:
                    next_token = _token(page[-1].instance_id)
                    break
                page.append(instance)
            body = "".join(self._reservation(i) for i in page)
        token = f"<nextToken>{next_token}</nextToken>" if next_token else ""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<DescribeInstancesResponse xmlns="{EC2_NS}">'
            f"<requestId>{_request_id()}</requestId>"
            f"<reservationSet>{body}</reservationSet>{token}"
            f"</DescribeInstancesResponse>"
        )

    def _reservation(self, i: FakeInstance) -> str:
        tags = "".join(
            f"<item><key>{escape(k)}</key><value>{escape(v)}</value></item>"
            for k, v in i.tags.items()
        )
        launched = i.launch_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return (
            f"<item><reservationId>r-{i.instance_id[2:]}</reservationId>"
            f"<ownerId>{self.account}</ownerId><groupSet/>"
            f"<instancesSet><item>"
            f"<instanceId>{i.instance_id}</instanceId>"
            f"<imageId>ami-0123456789abcdef0</imageId>"
            f"<instanceState><code>{STATE_CODES[i.state]}</code><name>{i.state}</name>"
            f"</instanceState>"
            f"<instanceType>t4g.nano</instanceType>"
            f"<launchTime>{launched}</launchTime>"
            f"<subnetId>{escape(i.subnet_id)}</subnetId>"
            f"<privateIpAddress>{escape(i.private_ip)}</privateIpAddress>"
            f"<tagSet>{tags}</tagSet>"
            f"</item></instancesSet></item>"
        )

    def _terminate_instances(self, params: dict[str, str]) -> str:
        ids = _numbered(params, "InstanceId")
        if not ids:
            raise FakeAwsError(
                "MissingParameter", "The request must contain the parameter instanceId"
            )
        items = []
        with self._lock:
            for iid in ids:  # all or nothing, like EC2
                _check_id(iid)
                if iid not in self.instances:
                    raise FakeAwsError(
                        "InvalidInstanceID.NotFound", f"The instance ID '{iid}' does not exist"
                    )
            for iid in ids:
                instance = self.instances[iid]
                previous = instance.state
                if previous not in ("shutting-down", "terminated"):
                    instance.state = "shutting-down"
                items.append(
                    f"<item><instanceId>{iid}</instanceId>"
                    f"<currentState><code>{STATE_CODES[instance.state]}</code>"
                    f"<name>{instance.state}</name></currentState>"
                    f"<previousState><code>{STATE_CODES[previous]}</code>"
                    f"<name>{previous}</name></previousState></item>"
                )
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<TerminateInstancesResponse xmlns="{EC2_NS}">'
            f"<requestId>{_request_id()}</requestId>"
            f"<instancesSet>{''.join(items)}</instancesSet>"
            f"</TerminateInstancesResponse>"
        )

    # ------------------------------------------------ Secrets Manager, SSM, Lambda
    def json_target(self, service: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON 1.1 protocol: ``X-Amz-Target: <prefix>.<Operation>``."""
        operation = target.rpartition(".")[2]
        if service == "secretsmanager" and operation == "GetSecretValue":
            self.requests["secretsmanager.GetSecretValue"] += 1
            return self._get_secret_value(str(body.get("SecretId", "")))
        if service == "ssm" and operation == "DescribeInstanceInformation":
            self.requests["ssm.DescribeInstanceInformation"] += 1
            return self._describe_instance_information(body)
        raise _Unknown

    def _get_secret_value(self, secret_id: str) -> dict[str, Any]:
        with self._lock:
            for name, (arn, value) in self.secrets.items():
                if secret_id in (name, arn):
                    return {
                        "ARN": arn,
                        "Name": name,
                        "VersionId": "00000000-0000-4000-8000-000000000001",
                        "SecretString": value,
                        "VersionStages": ["AWSCURRENT"],
                        "CreatedDate": 1_700_000_000.0,
                    }
        raise FakeAwsError(
            "ResourceNotFoundException", "Secrets Manager can't find the specified secret."
        )

    def _describe_instance_information(self, body: dict[str, Any]) -> dict[str, Any]:
        wanted: list[str] = []
        for item in body.get("Filters", []):
            if item.get("Key") != "InstanceIds":
                raise FakeAwsError(
                    "InvalidFilterKey", f"The filter key {item.get('Key')} is invalid"
                )
            wanted.extend(item.get("Values", []))
        with self._lock:
            found = [self.instances[i] for i in wanted if i in self.instances]
        return {
            "InstanceInformationList": [
                {
                    "InstanceId": i.instance_id,
                    "PingStatus": "Online" if i.state == "running" else "ConnectionLost",
                    "PlatformType": "Linux",
                    "AgentVersion": "3.3.0.0",
                    "IPAddress": i.private_ip,
                }
                for i in found
            ]
        }

    def invoke(self, function: str, invocation_type: str, payload: bytes) -> None:
        self.requests["lambda.Invoke"] += 1
        if invocation_type != "Event":
            raise FakeAwsError(
                "InvalidParameterValueException", "only InvocationType Event is emulated"
            )
        with self._lock:
            self.invocations.append((function, payload))

    # -------------------------------------------------------------- Scheduler
    def scheduler(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        if method == "GET" and path == "/schedules":
            self.requests["scheduler.ListSchedules"] += 1
            return self._list_schedules(query)
        if method == "DELETE" and path.startswith("/schedules/") and path.count("/") == 2:
            self.requests["scheduler.DeleteSchedule"] += 1
            return self._delete_schedule(unquote(path.removeprefix("/schedules/")), query)
        self.requests[f"scheduler.{method} {path}"] += 1
        raise FakeAwsError(
            "UnknownOperationException", f"{method} {path} is not implemented here", 404
        )

    def _list_schedules(self, query: dict[str, str]) -> dict[str, Any]:
        group = query.get("ScheduleGroup")
        prefix = query.get("NamePrefix", "")
        state = query.get("State")
        self.page_sizes[f"scheduler.ListSchedules {query.get('MaxResults', 'unset')}"] += 1
        # AWS does not document the page size when MaxResults is unset; the maximum is 100.
        limit = int(query.get("MaxResults", "100"))
        if not 1 <= limit <= 100:
            raise FakeAwsError("ValidationException", "MaxResults must be between 1 and 100", 400)
        after = _untoken(query.get("NextToken"))
        items: list[FakeSchedule] = []
        next_token = None
        with self._lock:
            keys = self._schedule_keys
            if after:
                last_group, _, last_name = after.partition("\n")
                start = bisect.bisect_right(keys, (last_group, last_name))
            elif group is not None:
                start = bisect.bisect_left(keys, (group, prefix))
            else:
                start = 0
            for key in keys[start:]:
                if group is not None and key[0] != group:
                    if key[0] > group:
                        break
                    continue
                schedule = self.schedules.get(key)
                if schedule is None or not schedule.name.startswith(prefix):
                    continue
                if state is not None and schedule.state != state:
                    continue
                if len(items) == limit:
                    last = items[-1]
                    next_token = _token(f"{last.group}\n{last.name}")
                    break
                items.append(schedule)
        body: dict[str, Any] = {
            "Schedules": [
                {
                    "Arn": f"arn:aws:scheduler:{self.region}:{self.account}:schedule/"
                    f"{s.group}/{s.name}",
                    "Name": s.name,
                    "GroupName": s.group,
                    "State": s.state,
                    "CreationDate": s.created.timestamp(),
                    "LastModificationDate": s.created.timestamp(),
                    "Target": {"Arn": s.target_arn},
                }
                for s in items
            ]
        }
        if next_token:
            body["NextToken"] = next_token
        return body

    def _delete_schedule(self, name: str, query: dict[str, str]) -> dict[str, Any]:
        group = query.get("groupName", "default")
        with self._lock:
            if self.schedules.pop((group, name), None) is None:
                raise FakeAwsError(
                    "ResourceNotFoundException", f"Schedule {name} does not exist.", 404
                )
        return {}


class _Unknown(Exception):
    """An operation the fake does not emulate: refused as AWS refuses an unknown one."""


_INVOKE_PATH: Final = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class _Handler(BaseHTTPRequestHandler):
    backend: FakeAws
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its pooled connections
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK would add ~40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        scope = _SCOPE.search(self.headers.get("Authorization", ""))
        service = scope.group(2) if scope else ""
        split = urlsplit(self.path)
        if service == "ec2":
            params = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
            try:
                self._send(200, self.backend.ec2(params).encode(), "text/xml;charset=UTF-8")
            except FakeAwsError as e:
                self._send(e.status, _ec2_error(e).encode(), "text/xml;charset=UTF-8")
        elif service in ("secretsmanager", "ssm") and self.headers.get("X-Amz-Target"):
            try:
                answer = self.backend.json_target(
                    service, self.headers["X-Amz-Target"], json.loads(raw or b"{}")
                )
                self._send(200, json.dumps(answer).encode(), "application/x-amz-json-1.1")
            except FakeAwsError as e:
                body = json.dumps({"__type": e.code, "message": e.message}).encode()
                self._send(e.status, body, "application/x-amz-json-1.1")
            except _Unknown:
                self._unknown(service, split.path)
        elif service == "lambda" and (invoke := _INVOKE_PATH.match(split.path)):
            try:
                self.backend.invoke(
                    unquote(invoke.group(1)),
                    self.headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                    raw,
                )
                self._send(202, b"", "application/json")
            except FakeAwsError as e:
                body = json.dumps({"Type": "User", "message": e.message}).encode()
                self._send(e.status, body, "application/json", {"x-amzn-ErrorType": e.code})
        elif service == "scheduler":
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            try:
                answer = self.backend.scheduler(self.command, split.path, query)
                self._send(200, json.dumps(answer).encode(), "application/json")
            except FakeAwsError as e:
                body = json.dumps({"Message": e.message}).encode()
                self._send(e.status, body, "application/json", {"x-amzn-ErrorType": e.code})
        else:
            self._unknown(service, split.path)

    def _unknown(self, service: str, path: str) -> None:
        self.backend.requests[f"{service or 'unsigned'}.{self.command} {path}"] += 1
        body = json.dumps(
            {"__type": "UnknownOperationException", "message": f"{service} not emulated"}
        ).encode()
        self._send(400, body, "application/x-amz-json-1.1")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", _request_id())
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def _ec2_error(e: FakeAwsError) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(e.code)}</Code>"
        f"<Message>{escape(e.message)}</Message></Error></Errors>"
        f"<RequestID>{_request_id()}</RequestID></Response>"
    )


def _numbered(params: Mapping[str, str], prefix: str) -> list[str]:
    """``InstanceId.1``, ``InstanceId.2``... in index order (the query protocol's lists)."""
    found = []
    for key, value in params.items():
        head, _, index = key.rpartition(".")
        if head == prefix and index.isdigit():
            found.append((int(index), value))
    return [value for _, value in sorted(found)]


def _filters(params: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    filters = []
    for index in sorted(
        {int(k.split(".")[1]) for k in params if re.fullmatch(r"Filter\.\d+\.Name", k)}
    ):
        name = params[f"Filter.{index}.Name"]
        if not (name.startswith("tag:") or name in ("instance-state-name", _PROFILE_FILTER)):
            raise FakeAwsError("InvalidParameterValue", f"The filter '{name}' is invalid")
        filters.append((name, _numbered(params, f"Filter.{index}.Value")))
    return filters


def _matches(instance: FakeInstance, filters: list[tuple[str, list[str]]]) -> bool:
    for name, values in filters:
        if name == _PROFILE_FILTER:
            actual = instance.profile_arn
        elif name == "instance-state-name":
            actual = instance.state
        else:
            actual = instance.tags.get(name[4:])
        if actual is None or not any(_value_matches(actual, v) for v in values):
            return False
    return True


def _value_matches(actual: str, wanted: str) -> bool:
    if "*" in wanted or "?" in wanted:  # EC2 filter values take * and ? wildcards
        return fnmatch.fnmatchcase(actual, wanted)
    return actual == wanted


def _check_id(instance_id: str) -> None:
    if not _INSTANCE_ID.match(instance_id):
        raise FakeAwsError(
            "InvalidInstanceID.Malformed", f'Invalid id: "{instance_id}" (expecting "i-...")'
        )


def _token(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode()


def _untoken(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError as e:
        raise FakeAwsError("InvalidParameterValue", f"Invalid NextToken: {token}") from e


_counter = iter(range(1, 1 << 62))


def _request_id() -> str:
    return f"00000000-0000-4000-8000-{next(_counter):012d}"


def instance_ids(count: int) -> Iterator[str]:
    """Distinct, well-formed 17-digit instance ids, in sorted order."""
    for n in range(count):
        yield f"i-{n:017x}"
