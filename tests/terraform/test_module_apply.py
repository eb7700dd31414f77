"""The Terraform module applied to a local moto server, then the real handlers run with the
environment Terraform gave the deployed functions.

What this proves: the module applies, and the configuration it wires (names, ARNs, subnets,
security group, schedule group, instance profile, idempotency table) is one the code accepts
and works with, end to end: create, extend, destroy, sweep.

What it cannot prove: IAM. moto does not evaluate policies; they are checked statically by
checkov (``make tf-check``) and by the assertions on the policy documents below.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.terraform.stack import REGION, Deployed, use

pytestmark = pytest.mark.terraform

# The module is applied once per test session (tests/terraform/conftest.py: moto_endpoint,
# deployed); every module of this directory shares it.


@pytest.fixture
def deployed_env(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, dict[str, str]]]:
    """Puts one function's deployed environment in os.environ; reset between functions."""
    from tests.support import roots

    envs = {
        "orchestrator": deployed.environment("orchestrator_function_name"),
        "auto_terminate": deployed.environment("auto_terminate_function_name"),
    }
    monkeypatch.setenv("AWS_ENDPOINT_URL", deployed.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    roots.fresh()
    yield envs
    roots.fresh()


_use = use


def _tags(ec2: Any, instance_id: str) -> dict[str, str]:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservations[0]["Instances"][0].get("Tags", [])}


def _state(ec2: Any, instance_id: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def _schedules(scheduler: Any, group: str) -> dict[str, dict[str, Any]]:
    names = [
        s["Name"]
        for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group)
        for s in page["Schedules"]
    ]
    return {n: scheduler.get_schedule(Name=n, GroupName=group) for n in names}


def _at(expires_at: str) -> str:
    return "at(" + datetime.fromisoformat(expires_at).strftime("%Y-%m-%dT%H:%M:%S") + ")"


def test_module_wires_the_contract_environment_into_both_functions(deployed: Deployed) -> None:
    # Given the module applied to moto
    orchestrator = deployed.environment("orchestrator_function_name")
    terminator = deployed.environment("auto_terminate_function_name")
    lambda_client = deployed.client("lambda")
    terminator_arn = lambda_client.get_function_configuration(
        FunctionName=deployed.outputs["auto_terminate_function_name"]
    )["FunctionArn"]

    # Then both functions carry the same contract configuration (only the service differs)
    assert {k: v for k, v in orchestrator.items() if k != "POWERTOOLS_SERVICE_NAME"} == {
        k: v for k, v in terminator.items() if k != "POWERTOOLS_SERVICE_NAME"
    }
    # And the computed ARN is the auto-terminator's real one (no dependency cycle needed)
    assert orchestrator["AUTO_TERMINATE_LAMBDA_ARN"] == terminator_arn
    assert orchestrator["WARNING_LAMBDA_ARN"] == terminator_arn
    assert orchestrator["SCHEDULE_GROUP"] == deployed.outputs["schedule_group_name"]
    assert orchestrator["SUBNET_IDS"].split(",")[0] == orchestrator["SUBNET_ID"]
    assert len(orchestrator["SUBNET_IDS"].split(",")) == 2
    # Optional values Terraform was not given are absent, so the code's defaults apply
    assert "IDLE_MINUTES" not in orchestrator
    assert "SLACK_CHANNEL" not in orchestrator
    # The image is pinned: the AL2023 arm64 release the public parameter named at apply time
    ami = deployed.client("ssm").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    )["Parameter"]["Value"]
    assert orchestrator["AMI_ID"] == ami == deployed.outputs["bastion_ami_id"]
    # And the bastion host's settings: boot profiles (the first is the default), the
    # operator's script base64-encoded, forensic snapshots
    assert orchestrator["BOOT_PROFILES"] == "minimal,db-clients"
    assert base64.b64decode(orchestrator["BOOT_SCRIPT"]).decode() == (
        "echo 'operator script ran' > /var/log/bastion-operator.log\n"
    )
    assert orchestrator["SNAPSHOT_ON_TERMINATE"] == "true"
    assert orchestrator["SNAPSHOT_RETENTION_DAYS"] == "30"
    # And the whole environment stays under Lambda's 4 KB
    assert len(json.dumps(orchestrator, separators=(",", ":"))) < 4096
    assert orchestrator["IDEMPOTENCY_TABLE"] == "docustack-dev-idempotency"
    # And the IAM door's admins and the module's logged session documents are named
    assert orchestrator["ADMIN_PRINCIPAL_ARNS"] == "arn:aws:iam::123456789012:role/platform-admin"
    assert orchestrator["SESSION_DOCUMENT"] == "docustack-dev-bastion-session"
    assert orchestrator["PORT_FORWARD_DOCUMENT"] == "docustack-dev-bastion-port-forward"

    for name in ("orchestrator_function_name", "auto_terminate_function_name"):
        config = lambda_client.get_function_configuration(FunctionName=deployed.outputs[name])
        assert config["Architectures"] == ["arm64"]
        assert config["Runtime"] == "python3.12"
        assert config["TracingConfig"] == {"Mode": "Active"}

    # And the recurring sweep is in the group, with its input and the scheduler role
    sweep = deployed.client("scheduler").get_schedule(
        Name="docustack-dev-sweep", GroupName=orchestrator["SCHEDULE_GROUP"]
    )
    assert sweep["ScheduleExpression"] == "rate(15 minutes)"
    assert json.loads(sweep["Target"]["Input"]) == {"action": "sweep"}
    assert sweep["Target"]["Arn"] == terminator_arn
    assert sweep["Target"]["RoleArn"] == orchestrator["SCHEDULER_ROLE_ARN"]
    assert sweep["Target"]["DeadLetterConfig"]["Arn"].endswith(":docustack-dev-sweep-dlq")


def test_the_iam_door_is_an_alias_of_the_orchestrator_with_signed_callers_only(
    deployed: Deployed,
) -> None:
    # Given the module applied to moto
    lambda_client = deployed.client("lambda")
    function = deployed.outputs["orchestrator_function_name"]

    # Then the IAM door is the alias `iam` on $LATEST: both doors run the same code
    alias = lambda_client.get_alias(FunctionName=function, Name="iam")
    assert alias["FunctionVersion"] == "$LATEST"
    assert alias["AliasArn"] == deployed.outputs["iam_door_function_arn"]
    assert deployed.outputs["cli_config"] == {
        "environment": "dev",
        "project": "docustack",
        "region": REGION,
        "url": deployed.outputs["cli_config"]["url"],
    }
    assert deployed.outputs["cli_config"]["url"].startswith("https://")

    # And its URL takes SigV4-signed requests only (moto keeps one URL per function, so the
    # configuration is read from the state Terraform got back from the create)
    (door,) = [u for u in deployed.resources("aws_lambda_function_url") if u["qualifier"]]
    assert (door["qualifier"], door["authorization_type"]) == ("iam", "AWS_IAM")
    (slack,) = [u for u in deployed.resources("aws_lambda_function_url") if not u["qualifier"]]
    assert slack["authorization_type"] == "NONE"

    # And its permission is for this account's IAM-authenticated callers, never "*"
    permissions = {p["statement_id"]: p for p in deployed.resources("aws_lambda_permission")}
    door_permission = permissions["AllowIamDoorForThisAccountsSignedCallers"]
    assert door_permission["qualifier"] == "iam"
    assert door_permission["function_url_auth_type"] == "AWS_IAM"
    assert door_permission["principal"] == "123456789012"

    # And asynchronous continuations older than the code's 15 minutes are not retried, on
    # either qualifier
    for qualifier in (None, "iam"):
        config = lambda_client.get_function_event_invoke_config(
            FunctionName=function, **({"Qualifier": qualifier} if qualifier else {})
        )
        assert config["MaximumEventAgeInSeconds"] == 900


def test_bastion_security_group_has_no_ingress_and_narrow_egress(deployed: Deployed) -> None:
    env = deployed.environment("orchestrator_function_name")
    ec2 = deployed.client("ec2")
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [env["BASTION_SECURITY_GROUP_ID"]]}]
    )["SecurityGroupRules"]
    assert [r for r in rules if not r["IsEgress"]] == []
    egress = {(r["FromPort"], r["ToPort"]) for r in rules if r["IsEgress"]}
    assert egress == {(443, 443), (int(env["RDS_PORT"]), int(env["RDS_PORT"]))}
    assert all("CidrIpv4" not in r for r in rules if r["IsEgress"])


def test_policies_scope_destructive_actions_to_this_deployments_bastions(
    deployed: Deployed,
) -> None:
    # moto does not evaluate IAM: assert on the documents Terraform rendered instead
    policies = {
        p["name"]: json.loads(p["policy"]) for p in deployed.resources("aws_iam_role_policy")
    }
    orchestrator = policies["bastion-orchestrator"]["Statement"]
    terminator = policies["bastion-auto-terminate"]["Statement"]
    scheduler = policies["invoke-auto-terminate"]["Statement"]

    (profile,) = deployed.resources("aws_iam_instance_profile")
    for statements in (orchestrator, terminator):
        for statement in statements:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if statement["Effect"] == "Deny":
                # the only Deny: no tag is ever deleted, whatever keys are named
                assert (statement["Action"], statement["Resource"], "Condition" in statement) == (
                    "ec2:DeleteTags",
                    "*",
                    False,
                )
                continue
            if {"ec2:TerminateInstances", "ec2:DeleteTags", "ec2:DeleteSnapshot"} & set(actions):
                if statement.get("Sid") == "TerminateBastionsByTheModulesInstanceProfile":
                    # the sweep's way to a de-tagged bastion: the module's profile, and only
                    # for the auto-terminator
                    assert statements is terminator
                    assert statement["Condition"] == {
                        "ArnEquals": {"ec2:InstanceProfile": profile["arn"]}
                    }
                    continue
                condition = statement["Condition"]["StringEquals"]
                assert condition["ec2:ResourceTag/ManagedBy"] == "bastion-orchestrator"
                assert condition["ec2:ResourceTag/Project"] == "docustack"
                assert condition["ec2:ResourceTag/Environment"] == "dev"
            if statement.get("Resource") == "*":
                assert set(actions) <= {
                    "ec2:DescribeInstances",
                    "ec2:DescribeSnapshots",
                    # the readiness diagnosis ("why isn't my bastion ready?"): read-only
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:DescribeNatGateways",
                    "ssm:DescribeInstanceInformation",
                    "ssm:DescribeSessions",
                    "scheduler:ListSchedules",
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                }, statement

    run = [s for s in orchestrator if s["Action"] == "ec2:RunInstances"]
    instance = next(s for s in run if str(s["Resource"]).endswith(":instance/*"))
    assert (
        instance["Condition"]["StringEquals"]["aws:RequestTag/ManagedBy"] == "bastion-orchestrator"
    )
    assert instance["Condition"]["StringEquals"]["ec2:MetadataHttpTokens"] == "required"
    assert instance["Condition"]["StringEquals"]["ec2:InstanceMetadataTags"] == "disabled"
    assert instance["Condition"]["NumericEquals"]["ec2:MetadataHttpPutResponseHopLimit"] == "1"
    assert instance["Condition"]["StringEquals"]["ec2:InstanceType"] == "t4g.nano"
    (image,) = [s for s in run if ":image/" in str(s["Resource"])]
    assert image["Resource"].endswith(f":image/{deployed.outputs['bastion_ami_id']}")

    invoke = [s for s in scheduler if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert len(invoke) == 1
    assert all(":function:docustack-dev-auto-terminate" in r for r in invoke[0]["Resource"])


def test_real_handlers_run_with_the_deployed_environment(
    deployed: Deployed,
    deployed_env: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    import auto_terminate
    import handler

    ec2 = deployed.client("ec2")
    scheduler = deployed.client("scheduler")
    env = deployed_env["orchestrator"]
    group = env["SCHEDULE_GROUP"]
    prefix = f"{env['PROJECT_NAME']}-{env['ENVIRONMENT']}-"

    # Given the orchestrator's deployed environment
    _use(env, monkeypatch)

    # When a user creates a bastion
    created = handler.lambda_handler(
        {"action": "create", "user_id": "U1", "username": "alice"}, lambda_context
    )

    # Then it is launched with the contract's tags, in the module's subnet and security group
    assert created["success"] is True, created
    iid = created["instance_id"]
    tags = _tags(ec2, iid)
    assert tags == tags | {
        "ManagedBy": "bastion-orchestrator",
        "Project": env["PROJECT_NAME"],
        "Environment": env["ENVIRONMENT"],
        "Name": f"{prefix}bastion-alice",
        "RequestedByUserId": "U1",
        "RequestedBy": "alice",
        "CreatedAt": created["created_at"],
        "ExpiresAt": created["expires_at"],
        "RdsEndpoint": env["RDS_ENDPOINT"],
    }
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert instance["SubnetId"] in env["SUBNET_IDS"].split(",")
    eni = instance["NetworkInterfaces"][0]
    assert [g["GroupId"] for g in eni["Groups"]] == [env["BASTION_SECURITY_GROUP_ID"]]
    assert instance["IamInstanceProfile"]["Arn"].endswith(f"/{env['IAM_INSTANCE_PROFILE']}")
    assert instance["InstanceType"] == env["INSTANCE_TYPE"]

    # And both schedules exist in the module's group, aimed at the deployed targets
    schedules = _schedules(scheduler, group)
    termination = schedules[f"{prefix}{iid}-termination"]
    warning = schedules[f"{prefix}{iid}-warning"]
    assert termination["ScheduleExpression"] == _at(created["expires_at"])
    assert termination["Target"]["Arn"] == env["AUTO_TERMINATE_LAMBDA_ARN"]
    assert warning["Target"]["Arn"] == env["WARNING_LAMBDA_ARN"]
    assert termination["Target"]["RoleArn"] == env["SCHEDULER_ROLE_ARN"]
    assert json.loads(termination["Target"]["Input"]) == {"action": "terminate", "instance_id": iid}

    # When the bastion is extended
    extended = handler.lambda_handler({"action": "extend", "instance_id": iid}, lambda_context)

    # Then its expiry tag and termination schedule move together
    assert extended["success"] is True, extended
    assert extended["expires_at"] > created["expires_at"]
    assert _tags(ec2, iid)["ExpiresAt"] == extended["expires_at"]
    moved = _schedules(scheduler, group)[f"{prefix}{iid}-termination"]
    assert moved["ScheduleExpression"] == _at(extended["expires_at"])

    # When the auto-terminator sweeps with its own deployed environment
    _use(deployed_env["auto_terminate"], monkeypatch)
    auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)

    # Then the unexpired bastion survives
    assert _state(ec2, iid) in {"pending", "running"}

    # When it is destroyed through the orchestrator
    _use(env, monkeypatch)
    destroyed = handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)

    # Then it is terminated and its schedules are gone; the sweep schedule stays
    assert destroyed["success"] is True, destroyed
    assert _state(ec2, iid) in {"shutting-down", "terminated"}
    remaining = set(_schedules(scheduler, group))
    assert not {name for name in remaining if iid in name}
    # (Other tests' Slack bastions leave their one-shot readiness checks here: moto never fires
    # them, so ActionAfterCompletion DELETE never removes them as Scheduler would.)
    assert {name for name in remaining if "-ready-" not in name} == {f"{prefix}sweep"}


def test_a_slack_flood_cannot_take_the_iam_door_or_the_terminator(deployed: Deployed) -> None:
    """Security review, issue 17, finding 2: reserved concurrency is per function, and the
    public Slack URL (auth NONE) used to share the orchestrator's 10 with the IAM door. Now
    it has a function, and so a pool, of its own."""
    lambda_client = deployed.client("lambda")
    names = {
        door: deployed.outputs[output]
        for door, output in (
            ("slack", "slack_function_name"),
            ("iam", "orchestrator_function_name"),
            ("terminator", "auto_terminate_function_name"),
        )
    }
    # Given the applied module: the public URL is the Slack function's, the signed one the
    # orchestrator's alias, and they are different functions running the same handler
    urls = {u["authorization_type"]: u for u in deployed.resources("aws_lambda_function_url")}
    assert urls["NONE"]["function_name"] == names["slack"] and not urls["NONE"]["qualifier"]
    assert urls["AWS_IAM"]["function_name"] == names["iam"]
    assert urls["AWS_IAM"]["qualifier"] == "iam"
    assert len(set(names.values())) == 3
    configs = {
        d: lambda_client.get_function_configuration(FunctionName=n) for d, n in names.items()
    }
    assert configs["slack"]["Handler"] == configs["iam"]["Handler"] == "handler.lambda_handler"
    assert configs["slack"]["Role"] == configs["iam"]["Role"]
    slack_env = configs["slack"]["Environment"]["Variables"]
    iam_env = configs["iam"]["Environment"]["Variables"]
    assert {k: v for k, v in slack_env.items() if k != "POWERTOOLS_SERVICE_NAME"} == {
        k: v for k, v in iam_env.items() if k != "POWERTOOLS_SERVICE_NAME"
    }
    # And each function reserves a pool of its own (the module's defaults: 10, 10, 5)
    pools = {
        d: lambda_client.get_function_concurrency(FunctionName=n)["ReservedConcurrentExecutions"]
        for d, n in names.items()
    }
    assert pools == {"slack": 10, "iam": 10, "terminator": 5}
    # And the Slack function's continuations are not retried past the code's 15 minutes
    config = lambda_client.get_function_event_invoke_config(FunctionName=names["slack"])
    assert config["MaximumEventAgeInSeconds"] == 900

    # When a flood on the public URL holds every execution the Slack function may run
    # (Lambda throttles a function at its reservation: that pool, and no other)
    flood = 1000
    in_use = {door: 0 for door in pools} | {"slack": min(flood, pools["slack"])}
    # Then the IAM door (the bastion CLI) and the terminator still have all of theirs
    free = {door: pools[door] - in_use[door] for door in pools}
    assert free == {"slack": 0, "iam": 10, "terminator": 5}
