"""The Terraform module applied to a local moto server, then the real handlers run with the
environment Terraform gave the deployed functions.

What this proves: the module applies, and the configuration it wires (names, ARNs, subnets,
security group, schedule group, instance profile, idempotency table) is one the code accepts
and works with, end to end: create, extend, destroy, sweep.

What it cannot prove: IAM. moto does not evaluate policies; they are checked statically by
checkov (``make tf-check``) and by the assertions on the policy documents below.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "terraform"
EXAMPLE = Path("examples") / "moto"
PLUGIN_DIR = os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins")
TERRAFORM = shutil.which(os.environ.get("TERRAFORM", "terraform"))
SOURCES = ("handler.py", "auto_terminate.py", "models.py", "bastion_orchestrator")
REGION = "us-east-1"

# Every variable of the contract: those Terraform did not set must not leak in from elsewhere.
CONTRACT_VARIABLES = [
    "PROJECT_NAME",
    "ENVIRONMENT",
    "IAM_INSTANCE_PROFILE",
    "AUTO_TERMINATE_LAMBDA_ARN",
    "SCHEDULER_ROLE_ARN",
    "WARNING_LAMBDA_ARN",
    "SCHEDULE_GROUP",
    "AMI_ID",
    "AMI_SSM_PARAMETER",
    "INSTANCE_TYPE",
    "SUBNET_ID",
    "SUBNET_IDS",
    "BASTION_SECURITY_GROUP_ID",
    "RDS_ENDPOINT",
    "RDS_PORT",
    "BASTION_LIFETIME_HOURS",
    "EXTEND_HOURS",
    "MAX_LIFETIME_HOURS",
    "WARNING_MINUTES",
    "MAX_BASTIONS_PER_USER",
    "ADMIN_USER_IDS",
    "ALLOWED_USER_IDS",
    "IDLE_MINUTES",
    "IDEMPOTENCY_TABLE",
    "SLACK_SECRET_ARN",
    "SLACK_CHANNEL",
    "SLACK_API_URL",
    "SLACK_NOTIFIER_LAMBDA_ARN",
    "ADMIN_PRINCIPAL_ARNS",
    "SESSION_DOCUMENT",
    "PORT_FORWARD_DOCUMENT",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _package(path: Path) -> Path:
    """A small deployment zip of the real sources (the dependencies are not needed by moto)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in SOURCES:
            source = ROOT / name
            files = sorted(source.rglob("*.py")) if source.is_dir() else [source]
            for file in files:
                if "__pycache__" not in file.parts:
                    zf.write(file, file.relative_to(ROOT).as_posix())
    return path


def _terraform(workdir: Path, *args: str) -> str:
    assert TERRAFORM is not None
    env = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",  # no version check call home
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }
    # The moto provider block has its own dummy credentials; nothing else may leak in.
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        env.pop(key, None)
    result = subprocess.run(
        [TERRAFORM, f"-chdir={workdir}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr}")
    return result.stdout


@dataclass
class Deployed:
    endpoint: str
    outputs: dict[str, Any]
    state: dict[str, Any]

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def environment(self, function_output: str) -> dict[str, str]:
        config = self.client("lambda").get_function_configuration(
            FunctionName=self.outputs[function_output]
        )
        return dict(config["Environment"]["Variables"])

    def resources(self, type_: str) -> list[dict[str, Any]]:
        return [
            instance["attributes"]
            for resource in self.state["resources"]
            if resource["type"] == type_ and resource["mode"] == "managed"
            for instance in resource["instances"]
        ]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    if TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH")
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # The bastion role attaches the AWS managed AmazonSSMManagedInstanceCore: moto knows AWS
    # managed policies only when asked, and reads the switch when a backend is (re)created.
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    try:
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=30) as response:
            assert response.status == 200
        yield endpoint
    finally:
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous
        server.stop()


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    # A private copy of the module tree: no .terraform or state lands in the checkout.
    base = tmp_path_factory.mktemp("tf")
    tree = base / "terraform"
    shutil.copytree(
        MODULE,
        tree,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
    )
    workdir = tree / EXAMPLE
    package = _package(base / "bastion-orchestrator.zip")

    _terraform(workdir, "init", "-backend=false", f"-plugin-dir={PLUGIN_DIR}", "-no-color")
    _terraform(
        workdir,
        "apply",
        "-auto-approve",
        "-no-color",
        f"-var=endpoint={moto_endpoint}",
        f"-var=package_path={package}",
    )
    outputs = {k: v["value"] for k, v in json.loads(_terraform(workdir, "output", "-json")).items()}
    state = json.loads((workdir / "terraform.tfstate").read_text())
    return Deployed(moto_endpoint, outputs, state)


@pytest.fixture
def deployed_env(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, dict[str, str]]]:
    """Puts one function's deployed environment in os.environ; reset between functions."""
    from bastion_orchestrator.app import wiring

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
    wiring.reset()
    yield envs
    wiring.reset()


def _use(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion_orchestrator.app import wiring

    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring.reset()


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
    assert "AMI_ID" not in orchestrator and "IDLE_MINUTES" not in orchestrator
    assert "SLACK_CHANNEL" not in orchestrator
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

    for statements in (orchestrator, terminator):
        for statement in statements:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if {"ec2:TerminateInstances", "ec2:DeleteTags"} & set(actions):
                condition = statement["Condition"]["StringEquals"]
                assert condition["ec2:ResourceTag/ManagedBy"] == "bastion-orchestrator"
                assert condition["ec2:ResourceTag/Project"] == "docustack"
                assert condition["ec2:ResourceTag/Environment"] == "dev"
            if statement.get("Resource") == "*":
                assert set(actions) <= {
                    "ec2:DescribeInstances",
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
    assert instance["Condition"]["StringEquals"]["ec2:InstanceType"] == "t4g.nano"

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
    assert remaining == {f"{prefix}sweep"}
