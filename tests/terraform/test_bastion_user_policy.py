"""Who may connect: the module's policies for developers, evaluated.

The moto example attaches ``bastion_user_policy_json`` and ``iam_door_invoke_policy_json`` to
a developer role. moto evaluates no IAM, so the role's policies are read back from moto and
evaluated with ``tests/support/iam_evaluator.py`` (policy variables such as
``${aws:userid}`` and ``${aws:PrincipalTag/email}`` resolved from the request), for a caller
as AWS sees an IAM Identity Center user: ``aws:userid`` = ``AROA…:<email>`` and the ``email``
principal tag from the instance's attributes for access control.

A ``StartSession`` is authorised twice, once for the target instance and once for the
session document; it is allowed only when both are. Each refusal has a negative control: the
same check on a mutant policy (owner condition dropped, any document, any session) lets the
request through, so the refusals are the policy's doing and not the test's.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import iam_evaluator as iam
from tests.terraform import stack

pytestmark = pytest.mark.terraform


Statements = list[dict[str, Any]]

# The caller: an Identity Center user (or anyone on a role whose session name is their email).
ALICE = {
    "aws:userid": "AROAEXAMPLEDEVROLE01:alice@example.com",
    "aws:PrincipalTag/email": "alice@example.com",
}
BOB = {
    "aws:userid": "AROAEXAMPLEDEVROLE01:bob@example.com",
    "aws:PrincipalTag/email": "bob@example.com",
}
INSTANCE_ID = "i-0123456789abcdef0"
METADATA_HOST = "169.254.169.254"


@dataclass(frozen=True)
class Developer:
    """The example developer role's statements and what they refer to."""

    statements: Statements
    user_policy: Statements  # the module output bastion_user_policy_json
    door_policy: Statements  # the module output iam_door_invoke_policy_json
    account: iam.Account
    env: dict[str, str]
    outputs: dict[str, Any]
    port_forward: dict[str, Any]  # the port-forward document's content, as SSM holds it
    document_tags: dict[str, str]

    def document(self, name: str) -> str:
        a = self.account
        return f"arn:{a.partition}:ssm:{a.region}:{a.account_id}:document/{name}"

    @property
    def scope(self) -> dict[str, str]:
        return {
            "ManagedBy": "bastion-orchestrator",
            "Project": self.env["PROJECT_NAME"],
            "Environment": self.env["ENVIRONMENT"],
        }


@pytest.fixture(scope="module")
def developer(deployed: stack.Deployed) -> Developer:
    iam_client = deployed.client("iam")
    role = iam_client.get_role(RoleName=deployed.outputs["developer_role_name"])["Role"]
    env = deployed.environment("orchestrator_function_name")
    _, partition, _, region, account_id, *_ = env["AUTO_TERMINATE_LAMBDA_ARN"].split(":")
    document = deployed.client("ssm").get_document(Name=env["PORT_FORWARD_DOCUMENT"])
    (shell,) = [
        d for d in deployed.resources("aws_ssm_document") if d["name"] == env["SESSION_DOCUMENT"]
    ]
    return Developer(
        statements=iam._policies_of(iam_client, role["Arn"]),
        user_policy=json.loads(deployed.outputs["bastion_user_policy_json"])["Statement"],
        door_policy=json.loads(deployed.outputs["iam_door_invoke_policy_json"])["Statement"],
        account=iam.Account(partition, region, account_id, lambda arn: arn),
        env=env,
        outputs=deployed.outputs,
        port_forward=json.loads(document["Content"]),
        document_tags=dict(shell["tags"] or {}),
    )


# ------------------------------------------------------------------------------ requests
def _tags_of(kind: str, d: Developer, owner: dict[str, str]) -> dict[str, str]:
    """A bastion's tags as the orchestrator writes them, for the door it was made through."""
    if kind == "iam door":
        return d.scope | {
            "RequestedByUserId": owner["aws:userid"],
            "RequestedByArn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_dev/x",
        }
    if kind == "slack":
        return d.scope | {
            "RequestedByUserId": "U0OWNER01",
            "RequestedByEmail": owner["aws:PrincipalTag/email"],
        }
    raise AssertionError(kind)


def _start_session(
    statements: Statements,
    d: Developer,
    instance_tags: dict[str, str],
    document: str,
    caller: dict[str, str] = ALICE,
) -> bool:
    """StartSession is authorised on the instance and on the document: both must pass."""
    check = {"ssm:SessionDocumentAccessCheck": True}

    def resource_tags(tags: dict[str, str]) -> dict[str, str]:
        return {f"ssm:resourceTag/{k}": v for k, v in tags.items()}

    on_instance = iam.Need(
        "ssm:StartSession",
        d.account.ec2(f"instance/{INSTANCE_ID}"),
        iam._ctx(p=caller, r=resource_tags(instance_tags), c=check),
        "target",
    )
    on_document = iam.Need(
        "ssm:StartSession",
        d.document(document),
        iam._ctx(p=caller, r=resource_tags(d.document_tags), c=check),
        "document",
    )
    return iam._allows(statements, on_instance)[0] and iam._allows(statements, on_document)[0]


def _session_action(
    statements: Statements, d: Developer, action: str, started_by: str, caller: dict[str, str]
) -> bool:
    """Terminate/ResumeSession: Session Manager tags the session with its starter's userid."""
    a = d.account
    name = started_by.rsplit(":", maxsplit=1)[-1]
    need = iam.Need(
        action,
        f"arn:{a.partition}:ssm:{a.region}:{a.account_id}:session/{name}-0a1b2c3d4e5f67890",
        iam._ctx(
            p=caller,
            r={
                "ssm:resourceTag/aws:ssmmessages:session-id": started_by,
                "ssm:resourceTag/aws:ssmmessages:target-id": INSTANCE_ID,
            },
        ),
        "own session",
    )
    return iam._allows(statements, need)[0]


def _documents(d: Developer) -> dict[str, str]:
    return {"shell": d.env["SESSION_DOCUMENT"], "port forward": d.env["PORT_FORWARD_DOCUMENT"]}


# --------------------------------------------------------------------------------- tests
def test_the_developer_role_carries_exactly_the_module_policies(developer: Developer) -> None:
    # Given the developer role of the moto example
    d = developer
    # Then its statements are the two module outputs, nothing else
    canonical = [json.dumps(s, sort_keys=True) for s in d.user_policy + d.door_policy]
    assert sorted(json.dumps(s, sort_keys=True) for s in d.statements) == sorted(canonical)
    # And the user policy grants only session actions and the data key, never on "*"
    actions = {a for s in d.user_policy for a in iam._list(s["Action"])}
    assert actions == {
        "ssm:StartSession",
        "ssm:TerminateSession",
        "ssm:ResumeSession",
        "kms:GenerateDataKey",
    }
    assert all(s["Effect"] == "Allow" and "NotAction" not in s for s in d.user_policy)
    assert "*" not in [r for s in d.user_policy for r in iam._list(s["Resource"])]
    # And the orchestrator names the module's documents (connection_instructions)
    assert d.env["SESSION_DOCUMENT"] == d.outputs["session_document_name"]
    assert d.env["PORT_FORWARD_DOCUMENT"] == d.outputs["port_forward_document_name"]


@pytest.mark.parametrize("document", ["shell", "port forward"])
@pytest.mark.parametrize("door", ["iam door", "slack"])
def test_the_owner_may_open_a_shell_and_the_database_forward_on_their_own_bastion(
    developer: Developer, door: str, document: str
) -> None:
    # Given Alice's bastion, made through the IAM door (RequestedByUserId = her aws:userid)
    # or through Slack (RequestedByEmail = her email, from users.info)
    tags = _tags_of(door, developer, ALICE)
    # When Alice starts a session on it with one of the module's documents
    allowed = _start_session(developer.statements, developer, tags, _documents(developer)[document])
    # Then it is allowed
    assert allowed


def _someone_elses(d: Developer, door: str) -> dict[str, str]:
    return _tags_of(door, d, BOB)


def _without(key: str) -> Callable[[Developer, str], dict[str, str]]:
    def tags(d: Developer, door: str) -> dict[str, str]:
        return {k: v for k, v in _tags_of(door, d, ALICE).items() if k != key}

    return tags


def _with(key: str, value: str) -> Callable[[Developer, str], dict[str, str]]:
    def tags(d: Developer, door: str) -> dict[str, str]:
        return _tags_of(door, d, ALICE) | {key: value}

    return tags


def _not_a_bastion(d: Developer, door: str) -> dict[str, str]:
    # Any instance of the account that happens to carry an owner tag
    owned = _tags_of(door, d, ALICE)
    return {k: v for k, v in owned.items() if k.startswith("RequestedBy")} | {"Name": "web-1"}


NOT_HERS = {
    "someone else's bastion": _someone_elses,
    "no ManagedBy tag": _without("ManagedBy"),
    "no Project tag": _without("Project"),
    "no Environment tag": _without("Environment"),
    "another environment's bastion": _with("Environment", "prod"),
    "another project's bastion": _with("Project", "other"),
    "not a bastion at all": _not_a_bastion,
}


@pytest.mark.parametrize("document", ["shell", "port forward"])
@pytest.mark.parametrize("door", ["iam door", "slack"])
@pytest.mark.parametrize("case", list(NOT_HERS))
def test_nobody_may_open_a_session_on_an_instance_that_is_not_their_bastion(
    developer: Developer, case: str, door: str, document: str
) -> None:
    # Given an instance that is not Alice's bastion of this deployment
    tags = NOT_HERS[case](developer, door)
    # When Alice starts a session on it
    allowed = _start_session(developer.statements, developer, tags, _documents(developer)[document])
    # Then it is refused
    assert not allowed


@pytest.mark.parametrize(
    ("case", "tags", "caller"),
    [
        # a Slack bastion whose requester's email the app could not read: no RequestedByEmail
        ("slack bastion without an email tag", {"RequestedByUserId": "U0OWNER01"}, ALICE),
        # a caller without the email principal tag (an IAM user, a role without ABAC)
        (
            "caller without an email tag",
            {"RequestedByEmail": "alice@example.com"},
            {"aws:userid": "AIDAEXAMPLEUSER00001"},
        ),
        # the same session name on another role is another aws:userid
        (
            "same session name, another role",
            {"RequestedByUserId": "AROAOTHERROLE0000001:alice@example.com"},
            ALICE,
        ),
    ],
)
def test_an_owner_tag_that_is_absent_or_not_the_callers_matches_nobody(
    developer: Developer, case: str, tags: dict[str, str], caller: dict[str, str]
) -> None:
    # Given a bastion of this deployment and a caller whose owner tags do not meet
    bastion = developer.scope | tags
    # Then no session may be started on it
    for document in _documents(developer).values():
        assert not _start_session(developer.statements, developer, bastion, document, caller)


@pytest.mark.parametrize(
    "document",
    [
        "AWS-StartSSHSession",
        # any host, 169.254.169.254 (the instance metadata service) included
        "AWS-StartPortForwardingSessionToRemoteHost",
        "AWS-StartPortForwardingSession",
        "AWS-StartInteractiveCommand",
        # a plain start-session: the account's default preferences, not the module's log
        "SSM-SessionManagerRunShell",
    ],
)
@pytest.mark.parametrize("door", ["iam door", "slack"])
def test_the_owner_may_not_use_other_documents_on_their_own_bastion(
    developer: Developer, door: str, document: str
) -> None:
    # Given Alice's own bastion
    tags = _tags_of(door, developer, ALICE)
    # When she starts a session with a document that is not the module's
    allowed = _start_session(developer.statements, developer, tags, document)
    # Then it is refused
    assert not allowed


def test_the_port_forward_document_forwards_to_the_database_only(developer: Developer) -> None:
    # Given the port-forward document as SSM holds it, and the deployment's database
    doc = developer.port_forward
    params = doc["parameters"]
    endpoint, port = developer.env["RDS_ENDPOINT"], developer.env["RDS_PORT"]

    def accepts(parameter: str, value: str) -> bool:
        return re.search(params[parameter]["allowedPattern"], value) is not None

    # Then it is a port session whose host and port come from those parameters
    assert doc["sessionType"] == "Port"
    assert doc["properties"] == {
        "type": "LocalPortForwarding",
        "host": "{{ host }}",
        "portNumber": "{{ portNumber }}",
        "localPortNumber": "{{ localPortNumber }}",
    }
    # And by default they are the database's
    assert params["host"]["default"] == endpoint
    assert params["portNumber"]["default"] == port
    # And nothing else is accepted
    assert accepts("host", endpoint)
    for host in (
        METADATA_HOST,
        "localhost",
        f"{endpoint}.attacker.example",
        f"attacker.example.{endpoint}",
        endpoint.replace(".", "x", 1),  # the dots are literal, not "any character"
        endpoint.upper(),
        "",
    ):
        assert not accepts("host", host), host
    assert accepts("portNumber", port)
    for other in ("22", "80", "443", f"{port}0", f"1{port}", ""):
        assert not accepts("portNumber", other), other
    # And the local end stays free, 0 (any free port) to 65535
    for local in ("0", "5432", "15432", "65535"):
        assert accepts("localPortNumber", local), local
    for local in ("65536", "-1", "99999", "1e3", ""):
        assert not accepts("localPortNumber", local), local

    # Negative controls: AWS-StartPortForwardingSessionToRemoteHost's own host pattern takes
    # the metadata address, and the endpoint with unescaped dots takes a look-alike host
    aws_host_pattern = r"^[^,$^&\(\)!;'\"<>\`{}\[\]\|#=]{3,}$"
    assert re.search(aws_host_pattern, METADATA_HOST)
    assert re.search(f"^{endpoint}$", endpoint.replace(".", "x", 1))


@pytest.mark.parametrize("action", ["ssm:TerminateSession", "ssm:ResumeSession"])
def test_the_owner_may_end_or_resume_their_own_sessions_only(
    developer: Developer, action: str
) -> None:
    # Given sessions started by Alice and by Bob
    statements = developer.statements
    # Then Alice may act on hers
    assert _session_action(statements, developer, action, ALICE["aws:userid"], ALICE)
    # And not on Bob's
    assert not _session_action(statements, developer, action, BOB["aws:userid"], ALICE)


def test_the_session_data_key_is_only_for_sessions(developer: Developer) -> None:
    # Given the module key that encrypts session data
    key = developer.outputs["kms_key_arn"]
    session = {"kms:EncryptionContext:aws:ssm:SessionId": "alice@example.com-0a1b2c3d4e5f67890"}
    target = {"kms:EncryptionContext:aws:ssm:TargetId": INSTANCE_ID}

    def allowed(action: str, resource: str = key, **context: dict[str, Any]) -> bool:
        need = iam.Need(action, resource, iam._ctx(p=ALICE, **context), "data key")
        return iam._allows(developer.statements, need)[0]

    # Then the session-manager-plugin may make a session's data key
    assert allowed("kms:GenerateDataKey", s=session, t=target)
    # And not a data key outside a session, nor decrypt, nor with another key
    assert not allowed("kms:GenerateDataKey")
    assert not allowed("kms:GenerateDataKey", s=session)
    assert not allowed("kms:Decrypt", s=session, t=target)
    other_key = key.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert not allowed("kms:GenerateDataKey", other_key, s=session, t=target)


def test_the_iam_door_may_be_called_only_signed_and_only_through_its_url(
    developer: Developer,
) -> None:
    # Given the IAM door's alias and the orchestrator itself (the direct-invoke door)
    alias = developer.outputs["iam_door_function_arn"]
    function = alias.rsplit(":", 1)[0]
    assert alias == f"{function}:iam"
    assert developer.outputs["cli_config"]["url"]

    def allowed(action: str, resource: str, **context: Any) -> bool:
        need = iam.Need(action, resource, iam._ctx(p=ALICE, c=context), "IAM door")
        return iam._allows(developer.statements, need)[0]

    # Then a signed call through the IAM door's URL is allowed
    assert allowed("lambda:InvokeFunctionUrl", alias, **{"lambda:FunctionUrlAuthType": "AWS_IAM"})
    assert allowed("lambda:InvokeFunction", alias, **{"lambda:InvokedViaFunctionUrl": True})
    # And neither a direct invoke (which trusts the payload's user_id) nor the Slack URL
    assert not allowed("lambda:InvokeFunction", alias)
    assert not allowed("lambda:InvokeFunction", function)
    assert not allowed("lambda:InvokeFunction", function, **{"lambda:InvokedViaFunctionUrl": True})
    assert not allowed(
        "lambda:InvokeFunctionUrl", function, **{"lambda:FunctionUrlAuthType": "NONE"}
    )
    assert not allowed("lambda:InvokeFunctionUrl", alias, **{"lambda:FunctionUrlAuthType": "NONE"})


# ---------------------------------------------------------------------- negative controls
def _mutant(statements: Statements, change: Callable[[dict[str, Any]], None]) -> Statements:
    mutated = copy.deepcopy(statements)
    for statement in mutated:
        change(statement)
    return mutated


def _drop_owner_conditions(statement: dict[str, Any]) -> None:
    for pairs in (statement.get("Condition") or {}).values():
        for key in [k for k in pairs if k.startswith("ssm:resourceTag/RequestedBy")]:
            del pairs[key]


def _drop_environment_condition(statement: dict[str, Any]) -> None:
    for pairs in (statement.get("Condition") or {}).values():
        pairs.pop("ssm:resourceTag/Environment", None)


def _any_document(statement: dict[str, Any]) -> None:
    if any(":document/" in r for r in iam._list(statement.get("Resource", []))):
        statement["Resource"] = "arn:*:ssm:*:*:document/*"


def _any_session(statement: dict[str, Any]) -> None:
    if "ssm:TerminateSession" in iam._list(statement["Action"]):
        statement.pop("Condition", None)


def test_the_refusals_above_are_the_policys_doing(developer: Developer) -> None:
    """Negative controls: each check above lets the request through a weakened policy."""
    d = developer
    own = _tags_of("iam door", d, ALICE)
    shell = d.env["SESSION_DOCUMENT"]

    # Given the real policy, the checks refuse
    assert not _start_session(d.statements, d, _someone_elses(d, "iam door"), shell)
    assert not _start_session(d.statements, d, _someone_elses(d, "slack"), shell)
    assert not _start_session(d.statements, d, own, "AWS-StartSSHSession")
    prod = _with("Environment", "prod")(d, "iam door")
    assert not _start_session(d.statements, d, prod, shell)
    assert not _session_action(d.statements, d, "ssm:TerminateSession", BOB["aws:userid"], ALICE)

    # When the owner condition is dropped, someone else's bastion is reachable
    no_owner = _mutant(d.statements, _drop_owner_conditions)
    assert _start_session(no_owner, d, _someone_elses(d, "iam door"), shell)
    assert _start_session(no_owner, d, _someone_elses(d, "slack"), shell)
    # When the environment is not checked, another environment's bastion is reachable
    any_environment = _mutant(d.statements, _drop_environment_condition)
    assert _start_session(any_environment, d, prod, shell)
    # When any document is allowed, the SSH tunnel and the open port forward are
    any_document = _mutant(d.statements, _any_document)
    assert _start_session(any_document, d, own, "AWS-StartSSHSession")
    assert _start_session(any_document, d, own, "AWS-StartPortForwardingSessionToRemoteHost")
    # When sessions are not matched to their starter, Bob's session can be ended
    any_session = _mutant(d.statements, _any_session)
    assert _session_action(any_session, d, "ssm:TerminateSession", BOB["aws:userid"], ALICE)


# ------------------------------------------------------------------- the orchestrator side
def _data_source(deployed: stack.Deployed, type_: str, name: str) -> dict[str, Any]:
    for resource in deployed.state["resources"]:
        if resource["mode"] == "data" and resource["type"] == type_ and resource["name"] == name:
            return dict(resource["instances"][0]["attributes"])
    raise AssertionError(f"data.{type_}.{name} not in state")


def test_the_orchestrator_may_launch_with_the_new_owner_tags(
    deployed: stack.Deployed, developer: Developer
) -> None:
    # Given a launch with every tag of the contract, the IAM door's and Slack's owners included
    env = developer.env
    tags = [
        {"Key": k, "Value": v}
        for k, v in (
            developer.scope
            | {
                "Name": f"{env['PROJECT_NAME']}-{env['ENVIRONMENT']}-bastion-alice",
                "RequestedByUserId": ALICE["aws:userid"],
                "RequestedBy": "alice",
                "RequestedByName": "Alice",
                "RequestedByArn": "arn:aws:sts::123456789012:assumed-role/dev/alice@example.com",
                "RequestedByEmail": "alice@example.com",
                "CreatedAt": "2025-12-18T12:00:00+00:00",
                "ExpiresAt": "2025-12-18T15:00:00+00:00",
                "RdsEndpoint": env["RDS_ENDPOINT"],
                "RdsPort": env["RDS_PORT"],
                "Reason": "INC-42 slow queries",
            }
        ).items()
    ]
    iam_client = deployed.client("iam")
    role = deployed.client("lambda").get_function_configuration(
        FunctionName=deployed.outputs["orchestrator_function_name"]
    )["Role"]
    statements = iam._policies_of(iam_client, role)
    profile = f"arn:aws:iam::{developer.account.account_id}:instance-profile/"
    params = {
        "ImageId": env["AMI_ID"],
        "InstanceType": env["INSTANCE_TYPE"],
        "IamInstanceProfile": {"Arn": profile + env["IAM_INSTANCE_PROFILE"]},
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpPutResponseHopLimit": 1,
            "InstanceMetadataTags": "disabled",
        },
        "NetworkInterfaces": [
            {
                "SubnetId": env["SUBNET_ID"],
                "Groups": [env["BASTION_SECURITY_GROUP_ID"]],
                "AssociatePublicIpAddress": False,
            }
        ],
        "BlockDeviceMappings": [{"Ebs": {"Encrypted": True, "VolumeType": "gp3"}}],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    }

    def role_of(arn: str) -> str:
        name = arn.rsplit("/", 1)[-1]
        found = iam_client.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        return str(found["Roles"][0]["Arn"])

    account = iam.Account(
        developer.account.partition, developer.account.region, developer.account.account_id, role_of
    )
    # When its requests are evaluated against the orchestrator's role
    refused = [
        n.describe()
        for n in iam._run_instances_needs(params, account)
        if not iam._allows(statements, n)[0]
    ]
    # Then every one is allowed (no tag-key allow-list leaves the new owner tags out)
    assert not refused, refused


@pytest.mark.parametrize("key", ["RequestedByUserId", "RequestedByArn", "RequestedByEmail"])
def test_nobody_but_the_module_roles_may_rewrite_an_owner_tag(
    deployed: stack.Deployed, developer: Developer, key: str
) -> None:
    # Given the tag protection policy (an SCP or boundary) over an allow-everything policy
    protection = json.loads(
        _data_source(deployed, "aws_iam_policy_document", "tag_protection")["json"]
    )
    statements = [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, *protection["Statement"]]
    bastion = iam._resource_tags(developer.scope | {key: "someone"})

    def may_write(principal: str) -> bool:
        need = iam.Need(
            "ec2:CreateTags",
            developer.account.ec2(f"instance/{INSTANCE_ID}"),
            iam._ctx(
                r=bastion,
                q=iam._request_tags([{"Key": key, "Value": "alice@example.com"}]),
                p={"aws:PrincipalArn": principal},
            ),
            "retag owner",
        )
        return iam._allows(statements, need)[0]

    a = developer.account
    developer_role = (
        f"arn:{a.partition}:iam::{a.account_id}:role/{deployed.outputs['developer_role_name']}"
    )
    orchestrator_role = deployed.client("lambda").get_function_configuration(
        FunctionName=deployed.outputs["orchestrator_function_name"]
    )["Role"]
    # Then a developer may not claim a bastion by rewriting its owner tag
    assert not may_write(developer_role)
    # And the orchestrator's role is not in the way of the deny (its own policy decides)
    assert may_write(orchestrator_role)
