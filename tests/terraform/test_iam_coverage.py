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
  type, IMDS options, encryption, passed-to service...): the evaluator of
  ``tests/support/iam_evaluator.py``, which models the operators the module uses;
- no Allow statement grants a destructive action on ``Resource: "*"`` without a tag condition.

moto evaluates no IAM; this is the static check the style guide asks for, fed by real calls.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.iam_evaluator import (
    Account,
    Call,
    Need,
    Recorder,
    _allows,
    _covers_action,
    _ctx,
    _list,
    _policies_of,
    _request_tags,
    _resource_tags,
    describe_resources,
    needs_of,
)
from tests.terraform import stack

pytestmark = pytest.mark.terraform


DESTRUCTIVE = (
    "ec2:TerminateInstances",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:DeleteSnapshot",
    "scheduler:Delete*",
)


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
