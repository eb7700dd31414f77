"""A small IAM evaluator: botocore calls recorded as they are made, turned into the IAM requests
AWS would authorise (the implicit ones added: ``iam:PassRole``, ``ec2:CreateTags`` on create),
and checked against policy statements with their resource ARNs and condition keys (the
operators and policy variables the module uses). moto evaluates no IAM; the tests of
tests/terraform read each role's policies back from moto (``_policies_of``) and evaluate them
with this.
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
from typing import Any

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
