"""The module's IAM and the code cannot drift apart.

The module is applied to a local moto server (once per session, ``tests/terraform/conftest.py``),
then every action of the real handlers runs with the environment Terraform gave each function:
create, status, extend (with a fired schedule to re-create), list, destroy (twice, with a
forensic snapshot) and a Slack create's readiness-check schedules on the orchestrator; warn,
terminate, sweep and the readiness checks (ready, and not ready with its diagnosis) on the
auto-terminator. AMI_ID
is the image Terraform pinned from the public SSM parameter; SLACK_SECRET_ARN points at the
example's secret, so the notifier reads it. Every botocore call made meanwhile is recorded, the
Powertools parameter providers' own clients included (``BaseClient._make_api_call`` is
wrapped, so no client escapes).

Each call becomes the IAM requests AWS would authorise, with the implicit ones added:
``iam:PassRole`` for the instance profile's role (RunInstances) and the scheduler role
(CreateSchedule/UpdateSchedule), ``ec2:CreateTags`` for tags on create. Then, against the
policies moto holds for each function's role:

- every action is allowed by some Allow statement (Action wildcards, case-insensitive);
- every request is allowed with its resource ARN and the condition keys the request carries
  (request tags, resource tags and instance profiles read just before the call, instance
  type, IMDS options, encryption, passed-to service...): a small evaluator of the operators
  the module uses;
- no Allow statement grants a destructive action on ``Resource: "*"`` without a tag condition.

moto evaluates no IAM; this is the static check the style guide asks for, fed by real calls.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.terraform import stack

pytestmark = pytest.mark.terraform


DESTRUCTIVE = (
    "ec2:TerminateInstances",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:DeleteSnapshot",
    "scheduler:Delete*",
)
# Operations whose IAM action has another name.
ACTION_NAMES = {("lambda", "Invoke"): "lambda:InvokeFunction"}
# Calls that act on existing EC2 resources: what IAM conditions on (their tags, an instance's
# profile) is read just before, for the ResourceTag and InstanceProfile keys.
TAGGED_INSTANCE_CALLS = {"TerminateInstances", "CreateTags", "DeleteTags"}
RESOURCE_CALLS = TAGGED_INSTANCE_CALLS | {"CreateSnapshot", "DeleteSnapshot"}


# --------------------------------------------------------------------------- recording
@dataclass
class Call:
    service: str  # the IAM prefix (botocore signing name)
    operation: str
    params: dict[str, Any]
    # Per resource id (i-, vol-, snap-): its condition keys as IAM would see them.
    resource_context: dict[str, dict[str, Any]] = field(default_factory=dict)


def _resource_ids(api_params: dict[str, Any]) -> list[str]:
    ids = [
        *api_params.get("InstanceIds", []),
        *api_params.get("Resources", []),
        *([api_params["VolumeId"]] if "VolumeId" in api_params else []),
        *([api_params["SnapshotId"]] if "SnapshotId" in api_params else []),
    ]
    return [str(i) for i in ids if str(i).startswith(("i-", "vol-", "snap-"))]


class Recorder:
    """Wraps ``BaseClient._make_api_call``: every client of this process, whoever built it."""

    def __init__(self, tag_lookup: Callable[[list[str]], dict[str, dict[str, Any]]]) -> None:
        self.calls: list[Call] = []
        self._lookup = tag_lookup
        self._active = False
        self._busy = threading.local()
        self._thread = threading.get_ident()

    @contextmanager
    def installed(self) -> Iterator[Recorder]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        recorder = self

        def spy(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if (
                recorder._active
                and threading.get_ident() == recorder._thread
                and not getattr(recorder._busy, "on", False)
            ):
                model = client.meta.service_model
                call = Call(
                    model.signing_name or model.endpoint_prefix,
                    operation_name,
                    json.loads(json.dumps(api_params, default=str)),
                )
                if call.service == "ec2" and operation_name in RESOURCE_CALLS:
                    recorder._busy.on = True
                    try:
                        call.resource_context = recorder._lookup(_resource_ids(api_params))
                    finally:
                        recorder._busy.on = False
                recorder.calls.append(call)
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = spy  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            BaseClient._make_api_call = original  # type: ignore[attr-defined]

    @contextmanager
    def recording(self) -> Iterator[None]:
        self._active = True
        try:
            yield
        finally:
            self._active = False


# ------------------------------------------------------------------- IAM requests
@dataclass(frozen=True)
class Need:
    """One authorisation AWS makes: an action on a resource, with the request's context."""

    action: str
    resource: str | None  # None: this test does not model the resource (action-only check)
    context: tuple[tuple[str, tuple[str, ...]], ...]
    why: str

    def ctx(self) -> dict[str, list[str]]:
        return {k.lower(): list(v) for k, v in self.context}

    def describe(self) -> str:
        shown = ", ".join(f"{k}={list(v)}" for k, v in self.context)
        return f"{self.action} on {self.resource or '(any resource)'} [{shown}] ({self.why})"


def _ctx(**groups: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out: dict[str, tuple[str, ...]] = {}
    for group in groups.values():
        for key, value in group.items():
            if value is None:
                continue
            values = value if isinstance(value, list | tuple) else [value]
            out[key] = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    return tuple(sorted(out.items()))


def _request_tags(tags: list[dict[str, str]]) -> dict[str, Any]:
    ctx: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    ctx["aws:TagKeys"] = [t["Key"] for t in tags]
    return ctx


def _resource_tags(tags: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tags.items():
        out[f"ec2:ResourceTag/{key}"] = value
        out[f"aws:ResourceTag/{key}"] = value
    return out


@dataclass(frozen=True)
class Account:
    partition: str
    region: str
    account_id: str
    instance_profile_role: Callable[[str], str]

    def ec2(self, resource: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account_id}:{resource}"

    def ec2_arn(self, resource_id: str) -> str:
        """The ARN of an EC2 resource by its id (snapshots and images have no account)."""
        kind = {"i": "instance", "vol": "volume", "snap": "snapshot", "ami": "image"}[
            resource_id.split("-", 1)[0]
        ]
        if kind in {"snapshot", "image"}:
            return f"arn:{self.partition}:ec2:{self.region}::{kind}/{resource_id}"
        return self.ec2(f"{kind}/{resource_id}")


def needs_of(call: Call, account: Account) -> list[Need]:
    op, p, a = call.operation, call.params, account
    action = ACTION_NAMES.get((call.service, op), f"{call.service}:{op}")
    why = f"{call.service}.{op}"
    if call.service == "ec2" and op == "RunInstances":
        return _run_instances_needs(p, a)
    if call.service == "ec2" and op in TAGGED_INSTANCE_CALLS:
        ids = p.get("InstanceIds") or p.get("Resources") or []
        extra = _request_tags(p.get("Tags", [])) if op != "TerminateInstances" else {}
        return [
            Need(action, a.ec2_arn(i), _ctx(r=call.resource_context.get(i, {}), q=extra), why)
            for i in ids
        ]
    if call.service == "ec2" and op == "CreateSnapshot":
        return _create_snapshot_needs(p, a, call.resource_context.get(p["VolumeId"], {}))
    if call.service == "ec2" and op == "DeleteSnapshot":
        snapshot = p["SnapshotId"]
        tags = call.resource_context.get(snapshot, {})
        return [Need(action, a.ec2_arn(snapshot), _ctx(r=tags), why)]
    if call.service == "ec2" and op.startswith("Describe"):
        return [Need(action, "*", (), why)]
    if call.service == "scheduler":
        if op == "ListSchedules":
            return [Need(action, "*", (), why)]
        arn = (
            f"arn:{a.partition}:scheduler:{a.region}:{a.account_id}:schedule/"
            f"{p.get('GroupName') or 'default'}/{p['Name']}"
        )
        out = [Need(action, arn, (), why)]
        role = (p.get("Target") or {}).get("RoleArn")
        if op in {"CreateSchedule", "UpdateSchedule"} and role:
            passed = {"iam:PassedToService": "scheduler.amazonaws.com"}
            out.append(Need("iam:PassRole", role, _ctx(p=passed), f"{why} Target.RoleArn"))
        return out
    if call.service == "ssm" and op in {"GetParameter", "GetParameters"}:
        names = p.get("Names") or [p["Name"]]
        return [Need(action, _parameter_arn(n, a), (), why) for n in names]
    if call.service == "ssm" and op.startswith("Describe"):
        return [Need(action, "*", (), why)]
    if call.service == "secretsmanager" and op == "GetSecretValue":
        return [Need(action, p["SecretId"], (), why)]
    if call.service == "dynamodb" and p.get("TableName"):
        table = p["TableName"]
        arn = (
            table
            if table.startswith("arn:")
            else f"arn:{a.partition}:dynamodb:{a.region}:{a.account_id}:table/{table}"
        )
        return [Need(action, arn, (), why)]
    if call.service == "lambda" and op == "Invoke":
        return [Need(action, p["FunctionName"], (), why)]
    return [Need(action, None, (), why + " (resource not modelled)")]


def _parameter_arn(name: str, a: Account) -> str:
    if name.startswith("arn:"):
        return name
    public = name.startswith("/aws/service/")
    owner = "" if public else a.account_id
    return f"arn:{a.partition}:ssm:{a.region}:{owner}:parameter/{name.lstrip('/')}"


def _run_instances_needs(p: dict[str, Any], a: Account) -> list[Need]:
    why = "ec2.RunInstances"
    tags = {s["ResourceType"]: s.get("Tags", []) for s in p.get("TagSpecifications", [])}
    nics = p.get("NetworkInterfaces", [])
    subnets = [n["SubnetId"] for n in nics if n.get("SubnetId")] + (
        [p["SubnetId"]] if p.get("SubnetId") else []
    )
    groups = [g for n in nics for g in n.get("Groups", [])] + p.get("SecurityGroupIds", [])
    profile = p.get("IamInstanceProfile") or {}
    profile_arn = profile.get("Arn") or (
        f"arn:{a.partition}:iam::{a.account_id}:instance-profile/{profile['Name']}"
        if profile.get("Name")
        else None
    )
    metadata = p.get("MetadataOptions") or {}
    # Without the parameter EC2 decides from the subnet: the key is then absent from the request.
    public_ip = [n["AssociatePublicIpAddress"] for n in nics if "AssociatePublicIpAddress" in n]
    root: dict[str, Any] = next((b.get("Ebs", {}) for b in p.get("BlockDeviceMappings", [])), {})

    needs = [
        Need(
            "ec2:RunInstances",
            a.ec2("instance/*"),
            _ctx(
                t=_request_tags(tags.get("instance", [])),
                c={
                    "ec2:InstanceType": p.get("InstanceType"),
                    "ec2:MetadataHttpTokens": metadata.get("HttpTokens"),
                    "ec2:MetadataHttpPutResponseHopLimit": metadata.get("HttpPutResponseHopLimit"),
                    "ec2:InstanceMetadataTags": metadata.get("InstanceMetadataTags"),
                    "ec2:InstanceProfile": profile_arn,
                    "ec2:RootDeviceType": "ebs",
                },
            ),
            why + " instance",
        ),
        Need(
            "ec2:RunInstances",
            a.ec2("volume/*"),
            _ctx(
                t=_request_tags(tags.get("volume", [])),
                c={
                    "ec2:Encrypted": bool(root.get("Encrypted", False)),
                    "ec2:VolumeType": root.get("VolumeType"),
                    "ec2:VolumeSize": root.get("VolumeSize"),
                },
            ),
            why + " root volume",
        ),
        Need(
            "ec2:RunInstances",
            a.ec2("network-interface/*"),
            _ctx(
                c={
                    "ec2:Subnet": [a.ec2(f"subnet/{s}") for s in subnets],
                    "ec2:AssociatePublicIpAddress": public_ip or None,
                }
            ),
            why + " network interface",
        ),
        *(Need("ec2:RunInstances", a.ec2(f"subnet/{s}"), (), why + " subnet") for s in subnets),
        *(
            Need("ec2:RunInstances", a.ec2(f"security-group/{g}"), (), why + " security group")
            for g in groups
        ),
        Need(
            "ec2:RunInstances",
            a.ec2_arn(p["ImageId"]),
            _ctx(c={"ec2:ImageID": p["ImageId"]}),
            why + " image",
        ),
    ]
    for kind in ("instance", "volume"):
        if tags.get(kind):
            needs.append(
                Need(
                    "ec2:CreateTags",
                    a.ec2(f"{kind}/*"),
                    _ctx(t=_request_tags(tags[kind]), c={"ec2:CreateAction": "RunInstances"}),
                    f"{why} TagSpecifications ({kind})",
                )
            )
    if profile_arn:
        needs.append(
            Need(
                "iam:PassRole",
                a.instance_profile_role(profile_arn),
                _ctx(c={"iam:PassedToService": "ec2.amazonaws.com"}),
                f"{why} IamInstanceProfile",
            )
        )
    return needs


def _create_snapshot_needs(p: dict[str, Any], a: Account, volume: dict[str, Any]) -> list[Need]:
    """CreateSnapshot is authorised on the volume and on the new snapshot; its
    TagSpecifications add a CreateTags on the snapshot with ec2:CreateAction."""
    why = "ec2.CreateSnapshot"
    tags = [
        t
        for spec in p.get("TagSpecifications", [])
        if spec.get("ResourceType") == "snapshot"
        for t in spec.get("Tags", [])
    ]
    snapshot = f"arn:{a.partition}:ec2:{a.region}::snapshot/*"
    needs = [
        Need("ec2:CreateSnapshot", a.ec2_arn(p["VolumeId"]), _ctx(r=volume), why + " volume"),
        Need("ec2:CreateSnapshot", snapshot, _ctx(t=_request_tags(tags)), why + " snapshot"),
    ]
    if tags:
        needs.append(
            Need(
                "ec2:CreateTags",
                snapshot,
                _ctx(t=_request_tags(tags), c={"ec2:CreateAction": "CreateSnapshot"}),
                why + " TagSpecifications",
            )
        )
    return needs


# ------------------------------------------------------------------- evaluation
def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _action_matches(patterns: list[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(pat).lower()) for pat in patterns)


def _resource_matches(
    patterns: list[str], resource: str | None, ctx: dict[str, list[str]] | None = None
) -> bool:
    if resource is None:
        return True
    resolved = (_resolve(str(pat), ctx or {}) for pat in patterns)
    return any(pat is not None and fnmatch.fnmatchcase(resource, pat) for pat in resolved)


_POLICY_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _resolve(value: str, ctx: dict[str, list[str]]) -> str | None:
    """A policy value with its ``${key}`` variables taken from the request context.

    None when a variable's key is absent from the request (or multivalued): IAM then matches
    nothing with that value. ``${*}``, ``${?}``, ``${$}`` (literal characters) and defaults
    (``${key, 'x'}``) are not used by the module, so they are refused rather than guessed.
    """
    missing = False

    def value_of(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in {"*", "?", "$"} or "," in name:
            raise AssertionError(f"policy variable ${{{name}}} is not modelled by this test")
        got = ctx.get(name.lower())
        if got is None or len(got) != 1:
            missing = True
            return ""
        return got[0]

    resolved = _POLICY_VARIABLE.sub(value_of, value)
    return None if missing else resolved


_BASE_OPS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    # operator: (does one request value match one policy value, negated)
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringLike": (fnmatch.fnmatchcase, False),
    "StringNotLike": (fnmatch.fnmatchcase, True),
    "ArnEquals": (fnmatch.fnmatchcase, False),
    "ArnLike": (fnmatch.fnmatchcase, False),
    "ArnNotEquals": (fnmatch.fnmatchcase, True),
    "ArnNotLike": (fnmatch.fnmatchcase, True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
    "NumericEquals": (lambda v, p: float(v) == float(p), False),
    "NumericNotEquals": (lambda v, p: float(v) == float(p), True),
    "NumericLessThan": (lambda v, p: float(v) < float(p), False),
    "NumericLessThanEquals": (lambda v, p: float(v) <= float(p), False),
    "NumericGreaterThan": (lambda v, p: float(v) > float(p), False),
    "NumericGreaterThanEquals": (lambda v, p: float(v) >= float(p), False),
    "IpAddress": (lambda v, p: ipaddress.ip_address(v) in ipaddress.ip_network(p), False),
    "NotIpAddress": (lambda v, p: ipaddress.ip_address(v) in ipaddress.ip_network(p), True),
}


def _condition_holds(operator: str, key: str, wanted: list[str], ctx: dict[str, list[str]]) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if op == "Null":
        # "true": the key must be absent; "false": present.
        absent = key.lower() not in ctx
        return any(absent == (str(w).lower() == "true") for w in wanted)
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    if op not in _BASE_OPS:
        raise AssertionError(f"condition operator {operator} is not modelled by this test")
    match, negated = _BASE_OPS[op]
    # Policy variables (${aws:userid}, ${aws:PrincipalTag/email}) take the request's values;
    # a value whose variable the request lacks matches nothing.
    wanted = [w for w in (_resolve(str(w), ctx) for w in wanted) if w is not None]
    values = ctx.get(key.lower())
    if qualifier == "ForAllValues":
        if not values:
            return True
        return all(negated ^ any(match(v, str(w)) for w in wanted) for v in values)
    if qualifier == "ForAnyValue":
        if not values:
            return False
        return any(negated ^ any(match(v, str(w)) for w in wanted) for v in values)
    if values is None:
        return if_exists or negated
    hit = any(match(v, str(w)) for v in values for w in wanted)
    return not hit if negated else hit


def _unmet(statement: dict[str, Any], need: Need) -> list[str]:
    """The conditions of a statement that this request does not satisfy."""
    ctx = need.ctx()
    unmet = []
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, wanted in pairs.items():
            if not _condition_holds(operator, key, [str(w) for w in _list(wanted)], ctx):
                got = ctx.get(key.lower())
                shown = "absent from the request" if got is None else f"request has {got}"
                unmet.append(f"{operator} {key} {_list(wanted)} ({shown})")
    return unmet


def _covers_action(statement: dict[str, Any], action: str) -> bool:
    if "Action" in statement:
        return _action_matches(_list(statement["Action"]), action)
    return not _action_matches(_list(statement.get("NotAction", [])), action)


def _covers_resource(
    statement: dict[str, Any], resource: str | None, ctx: dict[str, list[str]] | None = None
) -> bool:
    if "Resource" in statement:
        return _resource_matches(_list(statement["Resource"]), resource, ctx)
    if resource is None:
        return True
    return not _resource_matches(_list(statement.get("NotResource", [])), resource, ctx)


def _allows(statements: list[dict[str, Any]], need: Need) -> tuple[bool, list[str]]:
    """(allowed, why not): an explicit Deny in the role's own policies wins."""
    near: list[str] = []
    allowed = False
    for s in statements:
        if not (_covers_action(s, need.action) and _covers_resource(s, need.resource, need.ctx())):
            continue
        unmet = _unmet(s, need)
        if s.get("Effect") == "Deny" and not unmet:
            return False, [f"denied by {s.get('Sid', '(no Sid)')}"]
        if s.get("Effect") == "Allow":
            if not unmet:
                allowed = True
            else:
                near.append(f"{s.get('Sid', '(no Sid)')}: " + "; ".join(unmet))
    return allowed, near


def describe_resources(ec2: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The condition keys EC2 authorises existing resources with: their tags (both prefixes),
    an instance's profile, a volume's encryption."""

    def tagged(tags: list[dict[str, str]]) -> dict[str, Any]:
        return _resource_tags({t["Key"]: t["Value"] for t in tags})

    out: dict[str, dict[str, Any]] = {}
    instances = [i for i in ids if i.startswith("i-")]
    if instances:
        for reservation in ec2.describe_instances(InstanceIds=instances)["Reservations"]:
            for i in reservation["Instances"]:
                out[i["InstanceId"]] = tagged(i.get("Tags", [])) | {
                    "ec2:InstanceProfile": (i.get("IamInstanceProfile") or {}).get("Arn")
                }
    volumes = [v for v in ids if v.startswith("vol-")]
    if volumes:
        for v in ec2.describe_volumes(VolumeIds=volumes)["Volumes"]:
            out[v["VolumeId"]] = tagged(v.get("Tags", [])) | {"ec2:Encrypted": v["Encrypted"]}
    snapshots = [s for s in ids if s.startswith("snap-")]
    if snapshots:
        for snap in ec2.describe_snapshots(SnapshotIds=snapshots)["Snapshots"]:
            out[snap["SnapshotId"]] = tagged(snap.get("Tags", []))
    return out


# ---------------------------------------------------------------------- fixtures
@dataclass
class Exercised:
    calls: dict[str, list[Call]]
    policies: dict[str, list[dict[str, Any]]]
    account: Account
    env: dict[str, dict[str, str]]
    responses: dict[str, dict[str, Any]]
    function_arns: dict[str, str]

    def needs(self, function: str) -> list[Need]:
        seen: dict[Need, None] = {}
        for call in self.calls[function]:
            for need in needs_of(call, self.account):
                seen.setdefault(need, None)
        return list(seen)


def _policies_of(iam: Any, role_arn: str) -> list[dict[str, Any]]:
    """Every statement of the role: inline policies and attached managed ones, from moto."""
    role = role_arn.rsplit("/", 1)[-1]
    documents: list[Any] = [
        iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents.append(
            iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)[
                "PolicyVersion"
            ]["Document"]
        )
    statements: list[dict[str, Any]] = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        statements.extend(_list(parsed["Statement"]))
    return statements


@pytest.fixture(scope="module")
def exercised(deployed: stack.Deployed) -> Iterator[Exercised]:
    """The whole lifecycle, once for every test of this file."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        # As test_module_apply's deployed_env: dummy credentials, the moto server's endpoint
        monkeypatch.setenv("AWS_ENDPOINT_URL", deployed.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.setenv("AWS_DEFAULT_REGION", stack.REGION)
        monkeypatch.setenv("AWS_REGION", stack.REGION)
        env = {
            "orchestrator": deployed.environment("orchestrator_function_name"),
            "auto_terminate": deployed.environment("auto_terminate_function_name"),
        }
        try:
            yield _exercise(deployed, env, monkeypatch)
        finally:
            from tests.support import roots

            roots.fresh()


def _exercise(
    deployed: stack.Deployed, env: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> Exercised:
    from botocore.stub import Stubber

    import auto_terminate
    import handler
    from bastion_orchestrator.clock import parse_iso, system_clock
    from tests.conftest import FakeLambdaContext
    from tests.support import roots
    from tests.support.roots import clients

    lambda_context: Any = FakeLambdaContext()

    ec2 = deployed.client("ec2")
    iam = deployed.client("iam")
    scheduler = deployed.client("scheduler")
    lambda_client = deployed.client("lambda")
    configs = {
        fn: lambda_client.get_function_configuration(FunctionName=deployed.outputs[out])
        for fn, out in (
            ("orchestrator", "orchestrator_function_name"),
            ("auto_terminate", "auto_terminate_function_name"),
        )
    }
    roles = {fn: str(config["Role"]) for fn, config in configs.items()}
    function_arns = {fn: str(config["FunctionArn"]) for fn, config in configs.items()}
    policies = {fn: _policies_of(iam, arn) for fn, arn in roles.items()}
    # arn:<partition>:lambda:<region>:<account>:function:<name>
    _, partition, _, region, account_id, *_ = env["orchestrator"][
        "AUTO_TERMINATE_LAMBDA_ARN"
    ].split(":")

    def profile_role(profile_arn: str) -> str:
        name = profile_arn.rsplit("/", 1)[-1]
        found = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        return str(found[0]["Arn"]) if found else f"(instance profile {name} has no role)"

    def resource_context(ids: list[str]) -> dict[str, dict[str, Any]]:
        return describe_resources(ec2, ids)

    account = Account(partition, region, account_id, profile_role)
    calls: dict[str, list[Call]] = {"orchestrator": [], "auto_terminate": []}
    responses: dict[str, dict[str, Any]] = {}
    recorder = Recorder(resource_context)
    group = env["orchestrator"]["SCHEDULE_GROUP"]
    prefix = f"{env['orchestrator']['PROJECT_NAME']}-{env['orchestrator']['ENVIRONMENT']}-"

    def orchestrate(name: str, payload: dict[str, Any], context: Any = None) -> dict[str, Any]:
        with recorder.recording():
            response = handler.lambda_handler(payload, context or lambda_context)
        assert response["success"] is True, (name, response)
        responses[name] = response
        return response

    def terminator(name: str, event: dict[str, Any], at: datetime) -> dict[str, Any]:
        roots.use_clock(lambda: at)
        with recorder.recording():
            response = auto_terminate.lambda_handler(event, lambda_context)
        responses[name] = response
        return response

    assert env["orchestrator"]["SNAPSHOT_ON_TERMINATE"] == "true", "destroy must snapshot"
    assert env["auto_terminate"].get("SLACK_SECRET_ARN"), "the Slack secret read must happen"

    with recorder.installed():
        try:
            # Given the orchestrator's deployed environment
            stack.use(env["orchestrator"], monkeypatch)

            # moto has no DescribeInstanceInformation: answer that one operation only, so the
            # image parameter read (Powertools, on the same SSM client) still reaches moto.
            def agent_online(**_: Any) -> tuple[Any, dict[str, Any]]:
                from botocore.awsrequest import AWSResponse

                online = [{"InstanceId": "i-0", "PingStatus": "Online"}]
                return AWSResponse("", 200, {}, None), {"InstanceInformationList": online}  # type: ignore[arg-type]

            ssm_events = clients.ssm().meta.events
            ssm_events.register("before-call.ssm.DescribeInstanceInformation", agent_online)

            # When every orchestrator action runs
            first = orchestrate("create", {"action": "create", "user_id": "U1", "username": "a"})
            iid = first["instance_id"]
            # the user's slot is held: the existing bastion is answered (slot read, GetItem)
            again = orchestrate(
                "create again", {"action": "create", "user_id": "U1", "username": "a"}
            )
            assert again.get("existing") is True and again["instance_id"] == iid, again
            orchestrate("status", {"action": "status", "instance_id": iid, "user_id": "U1"})
            # a fired warning schedule: extend must re-create it (UpdateSchedule, CreateSchedule)
            scheduler.delete_schedule(Name=f"{prefix}{iid}-warning", GroupName=group)
            orchestrate("extend", {"action": "extend", "instance_id": iid})
            orchestrate("list", {"action": "list"})
            orchestrate("destroy", {"action": "destroy", "instance_id": iid})
            orchestrate("destroy again", {"action": "destroy", "instance_id": iid})
            # a slot whose bastion was terminated behind the orchestrator's back: read, freed,
            # claimed again by the next request (GetItem, DeleteItem, PutItem)
            lost = orchestrate("create 5", {"action": "create", "user_id": "U5", "username": "e"})
            ec2.terminate_instances(InstanceIds=[lost["instance_id"]])
            retry = FakeLambdaContext(aws_request_id="0b6f1c3e-5d7a-4e2b-9c1d-8f3a2e4b6c70")
            again = orchestrate(
                "create 5 again", {"action": "create", "user_id": "U5", "username": "e"}, retry
            )
            assert again["instance_id"] != lost["instance_id"] and not again.get("existing")
            orchestrate("destroy 5", {"action": "destroy", "instance_id": again["instance_id"]})
            warned = orchestrate("create 2", {"action": "create", "user_id": "U2", "username": "b"})
            swept = orchestrate("create 3", {"action": "create", "user_id": "U3", "username": "c"})
            idle = orchestrate("create 4", {"action": "create", "user_id": "U4", "username": "d"})
            # a Slack create's continuation then puts its readiness checks (the Slack
            # function runs with the orchestrator's role): three CreateSchedule calls
            with recorder.recording():
                roots.current().ready_checks(swept["instance_id"], system_clock())
                roots.current().ready_checks(idle["instance_id"], system_clock())
            ssm_events.unregister("before-call.ssm.DescribeInstanceInformation", agent_online)
            calls["orchestrator"] = recorder.calls
            recorder.calls = []

            # When every auto-terminator event runs, in its own deployed environment
            stack.use(env["auto_terminate"], monkeypatch)

            # The readiness checks: U3's agent is online at the first (ReadyNotified is
            # written), U4's never comes online (the last check diagnoses why)
            def agent_of(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
                from botocore.awsrequest import AWSResponse

                body = params["body"]
                asked = json.loads(body.decode() if isinstance(body, bytes) else body)
                [target] = asked["Filters"][0]["Values"]
                online = [{"InstanceId": target, "PingStatus": "Online"}]
                items = online if target == swept["instance_id"] else []
                return AWSResponse("", 200, {}, None), {"InstanceInformationList": items}  # type: ignore[arg-type]

            agent_events = clients.ssm().meta.events
            agent_events.register("before-call.ssm.DescribeInstanceInformation", agent_of)
            for name, made, attempt, after, outcome in (
                ("ready", swept, 1, timedelta(seconds=61), "ready"),
                ("not ready", idle, 3, timedelta(seconds=301), "not_ready"),
            ):
                launched = parse_iso(made["created_at"])
                assert launched is not None
                check = {"action": "ready", "instance_id": made["instance_id"], "attempt": attempt}
                assert terminator(name, check, launched + after)["outcome"] == outcome
            agent_events.unregister("before-call.ssm.DescribeInstanceInformation", agent_of)
            expiry = parse_iso(warned["expires_at"])
            assert expiry is not None
            warn_at = expiry - timedelta(minutes=20)
            due = {"action": "warn", "instance_id": warned["instance_id"]}
            assert terminator("warn", due, warn_at)["outcome"] == "warned"
            assert terminator("warn again", due, warn_at)["outcome"] == "already_warned"
            end = {"action": "terminate", "instance_id": warned["instance_id"]}
            assert terminator("terminate", end, expiry + timedelta(minutes=1))["outcome"] == (
                "terminated"
            )
            assert terminator("terminate again", end, expiry + timedelta(minutes=2))["outcome"] in {
                "already_gone"
            }
            # Idle reaping (IDLE_MINUTES): U3's bastion has an open session, U4's never had one
            stack.use({**env["auto_terminate"], "IDLE_MINUTES": "15"}, monkeypatch)
            sessions = Stubber(clients.ssm())
            sessions.add_response(
                "describe_sessions",
                {"Sessions": [{"SessionId": "s-1", "Target": swept["instance_id"]}]},
            )
            sessions.add_response("describe_sessions", {"Sessions": []})
            sessions.activate()
            created = parse_iso(idle["created_at"])
            assert created is not None
            reaped = terminator("idle sweep", {"action": "sweep"}, created + timedelta(minutes=30))
            sessions.assert_no_pending_responses()
            sessions.deactivate()
            assert _states(ec2, idle["instance_id"], swept["instance_id"]) == {
                idle["instance_id"]: "terminated",
                swept["instance_id"]: "running",
            }, reaped
            stack.use(env["auto_terminate"], monkeypatch)

            late = parse_iso(swept["expires_at"])
            assert late is not None
            sweep = terminator("sweep", {"action": "sweep"}, late + timedelta(minutes=5))
            assert sweep["outcome"] == "swept" and sweep["terminated"] == 1, sweep
            calls["auto_terminate"] = recorder.calls
        finally:
            roots.use_clock(system_clock)

    return Exercised(calls, policies, account, env, responses, function_arns)


def _states(ec2: Any, *ids: str) -> dict[str, str]:
    reservations = ec2.describe_instances(InstanceIds=list(ids))["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def _actions(needs: list[Need]) -> list[str]:
    return sorted({n.action for n in needs})


# -------------------------------------------------------------------------- tests
def test_every_action_the_code_calls_is_allowed_for_its_function(exercised: Exercised) -> None:
    # Given every AWS call each function made through the whole lifecycle
    missing: list[str] = []
    for function, statements in exercised.policies.items():
        needs = exercised.needs(function)
        called = _actions(needs)
        # Then the paths the brief names were really taken (otherwise coverage means nothing)
        expected = {
            "orchestrator": {
                "ec2:DescribeInstances",
                "ec2:RunInstances",
                "ec2:CreateTags",
                "ec2:TerminateInstances",
                "iam:PassRole",
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
                "ssm:DescribeInstanceInformation",
                # a forensic snapshot before each destroy (SNAPSHOT_ON_TERMINATE=true)
                "ec2:CreateSnapshot",
                # per-user launch slots (IDEMPOTENCY_TABLE is set by the module)
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            },
            "auto_terminate": {
                "ec2:DescribeInstances",
                "ec2:CreateTags",
                "ec2:TerminateInstances",
                "scheduler:DeleteSchedule",
                "scheduler:ListSchedules",
                "secretsmanager:GetSecretValue",
                "dynamodb:DeleteItem",  # a terminated bastion's slot is released
                "ssm:DescribeSessions",  # idle reaping
                # readiness checks, and the diagnosis at the last one
                "ssm:DescribeInstanceInformation",
                "ec2:DescribeVpcEndpoints",
            },
        }[function]
        assert expected <= set(called), (function, sorted(expected - set(called)))
        allow = [s for s in statements if s.get("Effect") == "Allow"]
        # And each IAM action is allowed by at least one Allow statement of its role
        missing.extend(
            f"{function} role is missing an Allow for {action}"
            for action in called
            if not any(_covers_action(s, action) for s in allow)
        )
    assert not missing, "\n".join(missing)


def test_every_request_is_allowed_with_its_resource_and_conditions(exercised: Exercised) -> None:
    # Given the IAM requests behind every call, with their resources and condition keys
    problems: list[str] = []
    for function, statements in exercised.policies.items():
        for need in exercised.needs(function):
            # When the role's statements are evaluated for it
            allowed, near = _allows(statements, need)
            # Then some statement allows it (near misses name the failing condition)
            if not allowed:
                detail = "\n      ".join(near) or "no statement matches action and resource"
                problems.append(f"{function} role does not allow {need.describe()}\n      {detail}")
    assert not problems, "missing permissions:\n  " + "\n  ".join(problems)


def test_contract_paths_not_taken_by_direct_payloads_are_allowed(exercised: Exercised) -> None:
    # Given what the contract promises beyond direct payloads: the Slack door reads the
    # signing secret and hands slow work to an asynchronous self-invocation
    env = exercised.env["orchestrator"]
    a = exercised.account
    orchestrator_arn = f"arn:{a.partition}:lambda:{a.region}:{a.account_id}:function:" + (
        env["AUTO_TERMINATE_LAMBDA_ARN"]
        .rsplit(":", 1)[-1]
        .replace("-auto-terminate", "-orchestrator")
    )
    needs = [
        Need("secretsmanager:GetSecretValue", env["SLACK_SECRET_ARN"], (), "Slack door signature"),
        Need("lambda:InvokeFunction", orchestrator_arn, (), "Slack door self-invocation"),
        # invoked through an alias, context.invoked_function_arn carries it
        Need("lambda:InvokeFunction", f"{orchestrator_arn}:live", (), "self-invocation (alias)"),
    ]
    # Then the orchestrator's role allows them
    problems = [
        f"orchestrator role does not allow {n.describe()}"
        for n in needs
        if not _allows(exercised.policies["orchestrator"], n)[0]
    ]
    assert not problems, "\n".join(problems)


def test_destructive_actions_never_on_every_resource_without_a_tag_condition(
    exercised: Exercised,
) -> None:
    offending: list[str] = []
    for function, statements in exercised.policies.items():
        for s in statements:
            if s.get("Effect") != "Allow":
                continue
            actions = [str(x) for x in _list(s.get("Action", []))]
            destructive = [
                d
                for d in DESTRUCTIVE
                if any(
                    fnmatch.fnmatchcase(d.lower(), a.lower())
                    or fnmatch.fnmatchcase(a.lower(), d.lower())
                    for a in actions
                )
            ] + ([f"NotAction {s['NotAction']}"] if "NotAction" in s else [])
            if not destructive:
                continue
            everywhere = "NotResource" in s or any(
                r == "*" or r.endswith(":*") for r in map(str, _list(s.get("Resource", [])))
            )
            tag_keys = [
                key
                for pairs in (s.get("Condition") or {}).values()
                for key in pairs
                if "resourcetag/" in key.lower()
            ]
            if everywhere and not tag_keys:
                offending.append(
                    f"{function}: {s.get('Sid', '(no Sid)')} allows {destructive} on "
                    f"{s.get('Resource', s.get('NotResource'))} without a ResourceTag condition"
                )
    assert not offending, "\n".join(offending)


def test_neither_function_may_touch_the_recurring_sweep_schedule(exercised: Exercised) -> None:
    # Given the sweep schedule and a per-bastion schedule of this deployment's group
    env = exercised.env["orchestrator"]
    a = exercised.account
    group = (
        f"arn:{a.partition}:scheduler:{a.region}:{a.account_id}:schedule/{env['SCHEDULE_GROUP']}"
    )
    name = f"{env['PROJECT_NAME']}-{env['ENVIRONMENT']}"
    sweep = f"{group}/{name}-sweep"
    per_bastion = f"{group}/{name}-i-0123456789abcdef0-termination"
    problems = []
    for function, statements in exercised.policies.items():
        for action in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule", "GetSchedule"):
            # Then no schedule action of either role reaches the safety net
            if _allows(statements, Need(f"scheduler:{action}", sweep, (), "sweep"))[0]:
                problems.append(f"{function} may {action} the sweep schedule {sweep}")
        # And each can still delete the per-bastion schedules
        if not _allows(statements, Need("scheduler:DeleteSchedule", per_bastion, (), "bastion"))[0]:
            problems.append(f"{function} may not delete {per_bastion}")
    assert not problems, "\n".join(problems)


def test_run_instances_network_interface_needs_the_modules_subnet_and_no_public_ip(
    exercised: Exercised,
) -> None:
    # Given the orchestrator's role and a launch's network interface request
    a = exercised.account
    statements = exercised.policies["orchestrator"]
    subnet = a.ec2(f"subnet/{exercised.env['orchestrator']['SUBNET_ID']}")
    eni = a.ec2("network-interface/*")

    def nic(subnet_arn: str, public: bool | None) -> Need:
        return Need(
            "ec2:RunInstances",
            eni,
            _ctx(c={"ec2:Subnet": subnet_arn, "ec2:AssociatePublicIpAddress": public}),
            "network interface",
        )

    # Then only a private interface in one of the module's subnets is allowed
    assert _allows(statements, nic(subnet, False))[0]
    assert not _allows(statements, nic(subnet, True))[0]
    assert not _allows(statements, nic(subnet, None))[0]
    assert not _allows(statements, nic(a.ec2("subnet/subnet-0aaaaaaaaaaaaaaaa"), False))[0]


def test_scheduler_role_trusts_only_this_accounts_schedule_group(
    deployed: stack.Deployed,
) -> None:
    # Given the scheduler role's trust policy and the module's schedule group
    (group,) = deployed.resources("aws_scheduler_schedule_group")
    (role,) = [
        r for r in deployed.resources("aws_iam_role") if r["name"].endswith("-bastion-scheduler")
    ]
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]
    # Then Scheduler may assume it only for this account and this group (confused deputy)
    condition = statement["Condition"]
    assert condition["StringEquals"]["aws:SourceAccount"] == group["arn"].split(":")[4]
    assert condition["ArnEquals"]["aws:SourceArn"] == group["arn"]
    assert ":schedule-group/" in group["arn"]


def test_the_default_ebs_key_is_usable_only_by_ec2_for_the_bastions_volume(
    exercised: Exercised,
) -> None:
    # Given the example's ebs_kms_key_arn (an account encrypting EBS with a customer key)
    statements = exercised.policies["orchestrator"]
    key = next(
        str(s["Resource"])
        for s in statements
        if s.get("Sid") == "DefaultEbsKeyGrantForTheVolumeOnly"
    )
    a = exercised.account
    ec2 = {"kms:ViaService": f"ec2.{a.region}.amazonaws.com"}
    for_aws = {"kms:GrantIsForAWSResource": True}

    def need(action: str, **context: dict[str, Any]) -> Need:
        return Need(action, key, _ctx(**context), "EBS default key")

    # Then EC2 may use it on the orchestrator's behalf to create the encrypted root volume
    for action in (
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ):
        assert _allows(statements, need(action, v=ec2))[0], action
    assert _allows(statements, need("kms:CreateGrant", v=ec2, g=for_aws))[0]
    # And nothing else may: not directly, not through another service, no grant for a person
    assert not _allows(statements, need("kms:Decrypt"))[0]
    assert not _allows(
        statements, need("kms:Decrypt", v={"kms:ViaService": f"s3.{a.region}.amazonaws.com"})
    )[0]
    assert not _allows(statements, need("kms:CreateGrant", v=ec2))[0]
    assert not _allows(statements, need("kms:Encrypt", v=ec2))[0]


def test_after_launch_each_role_may_retag_only_its_own_key(exercised: Exercised) -> None:
    # Given a bastion of this deployment (its scope tags) and a tag write on it
    env = exercised.env["orchestrator"]
    scope = {
        "ManagedBy": "bastion-orchestrator",
        "Project": env["PROJECT_NAME"],
        "Environment": env["ENVIRONMENT"],
    }
    instance = exercised.account.ec2("instance/i-0123456789abcdef0")

    def retag(*keys: str) -> Need:
        tags = [{"Key": k, "Value": "x"} for k in keys]
        return Need(
            "ec2:CreateTags",
            instance,
            _ctx(r=_request_tags(tags), s=_resource_tags(scope)),
            "retag",
        )

    own = {
        "orchestrator": ("ExpiresAt", "ExtendedByRequest"),
        "auto_terminate": ("WarnedFor", "ReadyNotified"),
    }
    for function, keys in own.items():
        statements = exercised.policies[function]
        # Then its own keys are allowed, alone and together
        for key in keys:
            assert _allows(statements, retag(key))[0], f"{function} may not write {key}"
        assert _allows(statements, retag(*keys))[0]
        # And ownership, creation time, scope and the other role's keys are not
        others = [k for other in own.values() if other != keys for k in other]
        for forbidden in ("RequestedByUserId", "CreatedAt", "ManagedBy", "Environment", *others):
            assert not _allows(statements, retag(forbidden))[0], f"{function} may write {forbidden}"
            assert not _allows(statements, retag(keys[0], forbidden))[0]
