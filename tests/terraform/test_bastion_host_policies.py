"""The bastion host's side of IAM, evaluated: its instance role, the endpoints it talks
through, the transcripts it leaves, and what keeps a bastion a bastion (tags, snapshots, the
sweep's way to a de-tagged one, the launch conditions).

A session user holds the instance role's credentials (instance metadata serves them to
every local user, root or not, and ``session_sudo`` makes them root). These tests evaluate
what those credentials may do, from where, with ``tests/support/iam_evaluator.py`` over
the policies moto holds after the session's apply (``deployed``). Calls the code does not
make yet (snapshots by the auto-terminator, the sweep's terminate of a de-tagged bastion) are
evaluated with the call shapes the code uses.
Every refusal that the tests rely on has a control: the same request allowed where it
should be, or allowed by a weakened policy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import iam_evaluator as iam
from tests.terraform import stack

pytestmark = pytest.mark.terraform

Statements = list[dict[str, Any]]
INSTANCE_ID = "i-0123456789abcdef0"
BASTION_IP = "10.42.0.10"


@dataclass(frozen=True)
class Host:
    """The applied example, as the bastion host's policies see it."""

    deployed: stack.Deployed
    account: iam.Account
    env: dict[str, str]
    role_arn: str
    role: Statements  # the bastion's instance role, every statement
    orchestrator: Statements
    auto_terminate: Statements
    function_roles: dict[str, str]  # function -> its role ARN
    profile_arn: str
    vpc_id: str
    key_arn: str
    bucket: str
    log_group: str

    @property
    def scope(self) -> dict[str, str]:
        return {
            "ManagedBy": "bastion-orchestrator",
            "Project": self.env["PROJECT_NAME"],
            "Environment": self.env["ENVIRONMENT"],
        }

    def on_bastion(self, **overrides: Any) -> dict[str, Any]:
        """The request context of a call the bastion makes through the module's endpoints."""
        return {
            "aws:PrincipalArn": self.role_arn,
            "ec2:SourceInstanceARN": self.account.ec2(f"instance/{INSTANCE_ID}"),
            "aws:Ec2InstanceSourceVpc": self.vpc_id,
            "aws:Ec2InstanceSourcePrivateIPv4": BASTION_IP,
            "aws:SourceVpc": self.vpc_id,
            "aws:VpcSourceIp": BASTION_IP,
            "aws:SecureTransport": True,
        } | overrides


@pytest.fixture(scope="module")
def host(deployed: stack.Deployed) -> Host:
    client = deployed.client("iam")
    lambda_client = deployed.client("lambda")
    roles = {
        fn: lambda_client.get_function_configuration(FunctionName=deployed.outputs[out])["Role"]
        for fn, out in (
            ("orchestrator", "orchestrator_function_name"),
            ("auto_terminate", "auto_terminate_function_name"),
        )
    }
    env = deployed.environment("orchestrator_function_name")
    _, partition, _, region, account_id, *_ = env["AUTO_TERMINATE_LAMBDA_ARN"].split(":")
    role_arn = deployed.outputs["bastion_role_arn"]
    (profile,) = deployed.resources("aws_iam_instance_profile")
    (log_group,) = [
        g["name"]
        for g in deployed.resources("aws_cloudwatch_log_group")
        if "/aws/ssm/" in g["name"]
    ]
    return Host(
        deployed=deployed,
        account=iam.Account(partition, region, account_id, lambda arn: arn),
        env=env,
        role_arn=role_arn,
        role=iam._policies_of(client, role_arn),
        orchestrator=iam._policies_of(client, roles["orchestrator"]),
        auto_terminate=iam._policies_of(client, roles["auto_terminate"]),
        function_roles=roles,
        profile_arn=profile["arn"],
        vpc_id=deployed.outputs["vpc_id"],
        key_arn=deployed.outputs["kms_key_arn"],
        bucket=deployed.outputs["session_logs_bucket_name"],
        log_group=log_group,
    )


def _allowed(statements: Statements, action: str, resource: str | None, **context: Any) -> bool:
    return iam._allows(statements, iam.Need(action, resource, iam._ctx(c=context), action))[0]


def _without(statements: Statements, *sids: str) -> Statements:
    return [s for s in statements if s.get("Sid") not in sids]


# ----------------------------------------------------------------------- the instance role
def test_the_instance_role_allows_only_session_manager_and_its_logging(host: Host) -> None:
    # Given the bastion's instance role as moto holds it: no managed policy at all
    role_name = host.role_arn.rsplit("/", 1)[-1]
    attached = host.deployed.client("iam").list_attached_role_policies(RoleName=role_name)
    assert attached["AttachedPolicies"] == []
    # Then it allows exactly the agent's session calls and the logging of sessions
    allowed = {a for s in host.role if s["Effect"] == "Allow" for a in iam._list(s["Action"])}
    assert allowed == {
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
        "logs:DescribeLogGroups",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "s3:PutObject",
        "s3:GetEncryptionConfiguration",
    }
    # And what AmazonSSMManagedInstanceCore also gave is refused, even from the bastion
    parameter = f"arn:aws:ssm:{host.account.region}:{host.account.account_id}:parameter/db/password"
    for action, resource in (
        ("ssm:GetParameter", parameter),
        ("ssm:GetParameters", parameter),
        ("ssm:GetParametersByPath", parameter),
        ("ssm:GetDocument", "*"),
        ("ssm:ListAssociations", "*"),
        ("ssm:PutInventory", "*"),
        ("ec2messages:GetMessages", "*"),
        ("ec2messages:SendReply", "*"),
    ):
        assert not _allowed(host.role, action, resource, **host.on_bastion()), action
    # Control: the heartbeat is allowed from the bastion
    heartbeat = host.account.ec2(f"instance/{INSTANCE_ID}")
    assert _allowed(host.role, "ssm:UpdateInstanceInformation", heartbeat, **host.on_bastion())


@pytest.mark.parametrize(
    ("where", "context"),
    [
        # copied to a laptop: no VPC endpoint, so no aws:SourceVpc / aws:VpcSourceIp
        (
            "a laptop",
            {"aws:SourceVpc": None, "aws:VpcSourceIp": None, "aws:SourceIp": "198.51.100.7"},
        ),
        # through another VPC's endpoint (a peered or shared one)
        ("another VPC's endpoint", {"aws:SourceVpc": "vpc-0fedcba9876543210"}),
        # another host of the same VPC with the copied credentials
        ("another host of the VPC", {"aws:VpcSourceIp": "10.42.1.99"}),
    ],
)
def test_instance_credentials_work_only_on_their_bastion(
    host: Host, where: str, context: dict[str, Any]
) -> None:
    heartbeat = host.account.ec2(f"instance/{INSTANCE_ID}")
    # Given the agent's own heartbeat, allowed on the bastion through the module's endpoints
    assert _allowed(host.role, "ssm:UpdateInstanceInformation", heartbeat, **host.on_bastion())
    # When the same credentials are used from elsewhere
    elsewhere = host.on_bastion(**context)
    # Then the call is denied
    assert not _allowed(host.role, "ssm:UpdateInstanceInformation", heartbeat, **elsewhere), where
    # And it is the VPC binding that denies it (control: without it, it would pass)
    unbound = _without(host.role, "DenyOutsideTheInstancesVpc", "DenyFromAnyOtherAddressInTheVpc")
    assert _allowed(unbound, "ssm:UpdateInstanceInformation", heartbeat, **elsewhere), where


def test_aws_services_acting_for_the_bastion_are_not_bound_to_its_vpc(host: Host) -> None:
    # Given S3 asking KMS for a transcript's data key on the bastion's behalf: S3 calls KMS,
    # so the request carries no aws:SourceVpc, but aws:ViaAWSService
    bucket = f"arn:aws:s3:::{host.bucket}"
    via_s3 = host.on_bastion(
        **{
            "aws:SourceVpc": None,
            "aws:VpcSourceIp": None,
            "aws:ViaAWSService": True,
            "kms:ViaService": f"s3.{host.account.region}.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": bucket,
        }
    )
    # Then it is allowed
    assert _allowed(host.role, "kms:GenerateDataKey", host.key_arn, **via_s3)
    # And the same call made directly from a laptop is not
    direct = via_s3 | {"aws:ViaAWSService": False, "kms:ViaService": None}
    assert not _allowed(host.role, "kms:GenerateDataKey", host.key_arn, **direct)


def test_session_users_cannot_delete_shorten_or_read_transcripts(host: Host) -> None:
    # Given root on a bastion, with the instance role's credentials, on the bastion
    on = host.on_bastion()
    group = (
        f"arn:aws:logs:{host.account.region}:{host.account.account_id}:log-group:{host.log_group}"
    )
    stream = f"{group}:log-stream:someone-else-0a1b2c3d4e5f67890"
    functions = group.replace(host.log_group, "/aws/lambda/docustack-dev-orchestrator")
    # Then CloudWatch transcripts can be neither deleted, expired early, nor read
    for action, resource in (
        ("logs:DeleteLogStream", stream),
        ("logs:DeleteLogGroup", f"{group}:*"),
        ("logs:PutRetentionPolicy", f"{group}:*"),
        ("logs:DeleteRetentionPolicy", f"{group}:*"),
        ("logs:GetLogEvents", stream),
        ("logs:FilterLogEvents", f"{group}:*"),
        ("logs:CreateExportTask", f"{group}:*"),
        ("logs:PutLogEvents", f"{functions}:log-stream:x"),  # no other log group
    ):
        assert not _allowed(host.role, action, resource, **on), action
    # And what remains possible is appending: a new event in any stream of the group (the
    # residual power the module documents; no CloudWatch API edits a written event)
    assert _allowed(host.role, "logs:PutLogEvents", stream, **on)

    # Then S3 transcripts can only be added: never read, deleted, expired or unversioned
    objects = f"arn:aws:s3:::{host.bucket}"
    bucket_policy = json.loads(
        host.deployed.client("s3").get_bucket_policy(Bucket=host.bucket)["Policy"]
    )["Statement"]
    both = host.role + bucket_policy  # same account: either may allow, any Deny wins
    assert _allowed(both, "s3:PutObject", f"{objects}/sessions/alice-0a1b2c3d.log", **on)
    for action, resource in (
        ("s3:PutObject", f"{objects}/elsewhere/forged.log"),
        ("s3:GetObject", f"{objects}/sessions/alice-0a1b2c3d.log"),
        ("s3:DeleteObject", f"{objects}/sessions/alice-0a1b2c3d.log"),
        ("s3:DeleteObjectVersion", f"{objects}/sessions/alice-0a1b2c3d.log"),
        ("s3:PutObjectAcl", f"{objects}/sessions/alice-0a1b2c3d.log"),
        ("s3:PutLifecycleConfiguration", objects),
        ("s3:PutBucketVersioning", objects),
        ("s3:PutBucketPolicy", objects),
        ("s3:DeleteBucket", objects),
        ("s3:ListBucket", objects),
    ):
        assert not _allowed(both, action, resource, **on), action
    # And the bucket policy alone refuses the bastion anything but adding transcripts, even
    # if its role were ever given more (control: PutObject stays allowed there)
    anything = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    assert not _allowed(anything + bucket_policy, "s3:DeleteObjectVersion", f"{objects}/x", **on)
    assert _allowed(anything + bucket_policy, "s3:PutObject", f"{objects}/sessions/x", **on)


def test_the_module_key_opens_only_session_keys_for_the_bastion(host: Host) -> None:
    on = host.on_bastion()
    session = {
        "kms:EncryptionContext:aws:ssm:SessionId": "alice-0a1b2c3d4e5f67890",
        "kms:EncryptionContext:aws:ssm:TargetId": INSTANCE_ID,
    }
    # Given the agent decrypting a session's data key with Session Manager's context: allowed
    assert _allowed(host.role, "kms:Decrypt", host.key_arn, **on, **session)
    # Then a Decrypt of anything else the key protects is not: no context (queues, table),
    # CloudWatch's context, S3's context without S3, a non-instance target
    for context in (
        {},
        {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{host.account.region}:x"},
        {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{host.bucket}"},
        {**session, "kms:EncryptionContext:aws:ssm:TargetId": "mi-0123456789abcdef0"},
    ):
        assert not _allowed(host.role, "kms:Decrypt", host.key_arn, **on, **context), context
    for action in ("kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:GenerateDataKey"):
        assert not _allowed(host.role, action, host.key_arn, **on, **session), action
    # And the functions reach the key only through the queue and the table
    for statements in (host.orchestrator, host.auto_terminate):
        assert not _allowed(statements, "kms:Decrypt", host.key_arn, **session)
        for service in ("sqs", "dynamodb"):
            via = {"kms:ViaService": f"{service}.{host.account.region}.amazonaws.com"}
            assert _allowed(statements, "kms:Decrypt", host.key_arn, **via)


# ------------------------------------------------------------------------------- endpoints
def _endpoint_policies(host: Host) -> dict[str, Statements]:
    endpoints = host.deployed.resources("aws_vpc_endpoint")
    return {
        e["service_name"].rsplit(".", 1)[-1]: json.loads(e["policy"])["Statement"]
        for e in endpoints
    }


def test_endpoint_policies_carry_only_this_deployments_bastions(host: Host) -> None:
    # Given the module's interface endpoints and their policies
    policies = _endpoint_policies(host)
    # Then there are exactly the ones the bastions need: no ec2messages (Run Command)
    assert set(policies) == {"ssm", "ssmmessages", "logs", "kms", "s3"}
    # And every call the bastion role may make is carried by its service's endpoint for the
    # bastion role, and refused for anyone else of the account
    someone_else = host.on_bastion(
        **{
            "aws:PrincipalArn": host.role_arn.replace(
                host.role_arn.rsplit("/", 1)[-1], "some-other-role"
            )
        }
    )
    session = {
        "kms:EncryptionContext:aws:ssm:SessionId": "alice-0a1b2c3d4e5f67890",
        "kms:EncryptionContext:aws:ssm:TargetId": INSTANCE_ID,
    }
    for statement in host.role:
        if statement["Effect"] != "Allow" or "kms:ViaService" in json.dumps(statement):
            continue  # S3 calls KMS itself for transcripts: not through the kms endpoint
        for action in iam._list(statement["Action"]):
            resource = iam._list(statement["Resource"])[0].replace("*", "x-0a1b2c3d")
            service = action.split(":", 1)[0]
            context = host.on_bastion(**(session if service == "kms" else {}))
            assert _allowed(policies[service], action, resource, **context), action
            denied = someone_else | (session if service == "kms" else {})
            assert not _allowed(policies[service], action, resource, **denied), action
    # And nothing else passes, even for the bastion role
    parameter = f"arn:aws:ssm:{host.account.region}:{host.account.account_id}:parameter/x"
    for service, action, resource in (
        ("ssm", "ssm:GetParameter", parameter),
        ("ssm", "ssm:SendCommand", "*"),
        ("ssm", "ssm:StartSession", "*"),
        ("s3", "s3:GetObject", f"arn:aws:s3:::{host.bucket}/sessions/x"),
        ("s3", "s3:PutObject", "arn:aws:s3:::somebody-elses-bucket/sessions/x"),
        ("kms", "kms:Decrypt", host.key_arn),  # no session context
        ("logs", "logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:x:*"),
    ):
        assert not _allowed(policies[service], action, resource, **host.on_bastion()), action


# ----------------------------------------------------------------- transcripts and sessions
def test_the_transcript_bucket_is_encrypted_versioned_private_and_tls_only(host: Host) -> None:
    s3 = host.deployed.client("s3")
    # Given the transcripts bucket of the example (session_logs_to_s3 = true)
    rule = s3.get_bucket_encryption(Bucket=host.bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ][0]
    # Then it encrypts with the module key, keeps versions, blocks public access, owns every
    # object, and expires transcripts (and overwritten versions) after the retention
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": host.key_arn,
    }
    assert s3.get_bucket_versioning(Bucket=host.bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=host.bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
        True,
    )
    ownership = s3.get_bucket_ownership_controls(Bucket=host.bucket)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=host.bucket)["Rules"]}
    assert rules["expire-transcripts"]["Expiration"]["Days"] == 365
    assert rules["expire-transcripts"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 365
    # And its policy refuses anything without TLS 1.2, to anyone (control: with TLS, allowed)
    policy = json.loads(s3.get_bucket_policy(Bucket=host.bucket)["Policy"])["Statement"]
    anyone = [{"Effect": "Allow", "Action": "*", "Resource": "*"}, *policy]
    obj = f"arn:aws:s3:::{host.bucket}/sessions/x"
    admin = {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/admin"}
    assert not _allowed(anyone, "s3:GetObject", obj, **admin, **{"aws:SecureTransport": False})
    assert not _allowed(
        anyone, "s3:GetObject", obj, **admin, **{"aws:SecureTransport": True, "s3:TlsVersion": 1.0}
    )
    assert _allowed(
        anyone, "s3:GetObject", obj, **admin, **{"aws:SecureTransport": True, "s3:TlsVersion": 1.2}
    )


def test_the_session_document_logs_to_both_and_shows_the_motd(host: Host) -> None:
    # Given the logged shell document as SSM holds it
    content = json.loads(
        host.deployed.client("ssm").get_document(Name=host.env["SESSION_DOCUMENT"])["Content"]
    )["inputs"]
    # Then transcripts go to CloudWatch (encrypted, streamed) and to the bucket's prefix
    assert content["cloudWatchLogGroupName"] == host.log_group
    assert content["cloudWatchEncryptionEnabled"] is True
    assert content["cloudWatchStreamingEnabled"] is True
    assert (content["s3BucketName"], content["s3KeyPrefix"]) == (host.bucket, "sessions")
    assert content["s3EncryptionEnabled"] is True
    assert content["kmsKeyId"] == host.key_arn
    # And a session starts by showing the bastion's MOTD (sessions bypass PAM's motd), the
    # very file the boot script writes
    assert content["shellProfile"]["linux"] == "cat /etc/motd.d/30-bastion 2>/dev/null; cd ~"
    from bastion_orchestrator.adapters.aws.ec2 import boot

    assert '"$ROOT/etc/motd.d/30-bastion"' in Path(boot.__file__).read_text()


def test_shell_sessions_run_as_the_boot_scripts_user_without_sudo_by_default(host: Host) -> None:
    from bastion_orchestrator.adapters.aws.ec2 import boot

    ssm = host.deployed.client("ssm")
    # Given the module's shell document as SSM holds it (SSM-SessionManagerRunShell, when the
    # module manages it, is rendered from the same preferences)
    shell = json.loads(ssm.get_document(Name=host.env["SESSION_DOCUMENT"])["Content"])["inputs"]
    # Then shells run as the user the boot script creates, never as ssm-user (whom SSM Agent
    # gives passwordless sudo): Run As never falls back to it
    assert (shell["runAsEnabled"], shell["runAsDefaultUser"]) == (True, boot.SESSION_USER)
    (preferences,) = host.deployed.resource("aws_ssm_document.session")
    assert json.loads(preferences["content"])["inputs"]["runAsDefaultUser"] == "bastion"
    # And the deployment has not opted into sudo, so the boot script grants that user none
    assert host.env["SESSION_SUDO"] == "false"
    # And the database forward starts no shell, so it runs as nobody at all
    forward = json.loads(ssm.get_document(Name=host.env["PORT_FORWARD_DOCUMENT"])["Content"])
    assert forward["sessionType"] == "Port" and "runAsEnabled" not in forward["inputs"]


# ----------------------------------------------------------------------- tag protection
def _tag_protection(host: Host) -> Statements:
    return list(json.loads(host.deployed.outputs["tag_protection_policy_json"])["Statement"])


@pytest.mark.parametrize("keys", [None, [], ["Scratch"], ["ExpiresAt"]])
@pytest.mark.parametrize("kind", ["instance", "volume", "snapshot"])
def test_tag_protection_refuses_delete_tags_whatever_keys_are_named(
    host: Host, keys: list[str] | None, kind: str
) -> None:
    # Given the SCP/boundary on top of an account where everyone may do anything
    anything = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    scp = anything + _tag_protection(host)
    resource = {
        "instance": host.account.ec2(f"instance/{INSTANCE_ID}"),
        "volume": host.account.ec2("volume/vol-0123456789abcdef0"),
        "snapshot": f"arn:aws:ec2:{host.account.region}::snapshot/snap-0123456789abcdef0",
    }[kind]
    bastion = iam._resource_tags(host.scope)

    def delete_tags(statements: Statements, principal: str, tags: dict[str, Any]) -> bool:
        # a DeleteTags naming no keys strips them all: aws:TagKeys is then absent
        named = {} if keys is None else {"aws:TagKeys": keys}
        context = {"aws:PrincipalArn": principal} | named
        need = iam.Need("ec2:DeleteTags", resource, iam._ctx(r=tags, c=context), "DeleteTags")
        return iam._allows(statements, need)[0]

    admin = "arn:aws:iam::123456789012:role/platform-admin"
    # Then nobody deletes a bastion's tags, the module's own roles and admins included
    for principal in (admin, *host.function_roles.values()):
        assert not delete_tags(scp, principal, bastion), principal
    # Control: tags of what is not a bastion stay deletable
    assert delete_tags(scp, admin, iam._resource_tags({"ManagedBy": "someone-else"}))
    # Control: the former Deny (protected keys, ForAnyValue) let a key-less DeleteTags through
    former = _former_protected_keys_deny(host) | {"Action": ["ec2:CreateTags", "ec2:DeleteTags"]}
    if not keys:
        assert delete_tags([*anything, former], admin, bastion)


FORMER_PROTECTED_KEYS = [
    *("ExpiresAt", "ExtendedByRequest", "RequestedByUserId", "RequestedByArn"),
    *("RequestedByEmail", "CreatedAt", "ManagedBy", "Project", "Environment"),
]


def _former_protected_keys_deny(host: Host) -> dict[str, Any]:
    """The Deny of CreateTags the module had before it covered every key: a list of keys."""
    return {
        "Effect": "Deny",
        "Action": ["ec2:CreateTags"],
        "Resource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"],
        "Condition": {
            "StringEquals": {"ec2:ResourceTag/ManagedBy": "bastion-orchestrator"},
            "ForAnyValue:StringEquals": {"aws:TagKeys": FORMER_PROTECTED_KEYS},
            "ArnNotEquals": {"aws:PrincipalArn": sorted(host.function_roles.values())},
        },
    }


# Every key the code writes on a bastion, the evidence the finding named, one the code does
# not write yet (an approval's granted hours) and one nobody has thought of.
EVIDENCE_KEYS = [
    "BreakGlass",
    "ApprovedBy",
    "GrantedUntil",
    "WarnedFor",
    "Reason",
    "RequestedByUserId",
    "RequestedBy",
    "Name",
    "RdsEndpoint",
    "ExpiresAt",
    "SomeKeyAddedNextYear",
]


@pytest.mark.parametrize("key", EVIDENCE_KEYS)
def test_only_the_module_roles_write_any_tag_of_a_bastion(host: Host, key: str) -> None:
    # Given the SCP/boundary on top of an account where everyone may do anything
    anything = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    scp = anything + _tag_protection(host)
    instance = host.account.ec2(f"instance/{INSTANCE_ID}")
    admin = "arn:aws:iam::123456789012:role/platform-admin"

    def create_tags(statements: Statements, principal: str, on: dict[str, str]) -> bool:
        context = {"aws:PrincipalArn": principal}
        need = iam.Need(
            "ec2:CreateTags",
            instance,
            iam._ctx(
                r=iam._resource_tags(on),
                q=iam._request_tags([{"Key": key, "Value": "forged"}]),
                c=context,
            ),
            f"CreateTags {key}",
        )
        return iam._allows(statements, need)[0]

    # Then nobody but the module's roles writes the key on a bastion, admins included
    assert not create_tags(scp, admin, host.scope), key
    # And the module's own roles are not in the way of the deny (their own policies decide)
    for role in host.function_roles.values():
        assert create_tags(scp, role, host.scope), role
    # Control: an instance that is not a bastion stays taggable by anyone
    assert create_tags(scp, admin, {"ManagedBy": "someone-else", "Project": "other"})
    # Control: the former Deny named keys, so every other key was anyone's to write
    former = [*anything, _former_protected_keys_deny(host)]
    assert create_tags(former, admin, host.scope) is (key not in FORMER_PROTECTED_KEYS)


def test_the_module_roles_never_delete_tags_even_if_allowed_elsewhere(host: Host) -> None:
    bastion = iam._resource_tags(host.scope)
    need = iam.Need(
        "ec2:DeleteTags", host.account.ec2(f"instance/{INSTANCE_ID}"), iam._ctx(r=bastion), "x"
    )
    for statements in (host.orchestrator, host.auto_terminate):
        # Given a role of the module, even with ec2:* added to it
        widened = [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, *statements]
        # Then a DeleteTags is denied (explicit Deny in the role's own policy)
        assert not iam._allows(widened, need)[0]
        # Control: the widening would otherwise allow it
        assert iam._allows(_without(widened, "NeverDeleteTags"), need)[0]


def test_nobody_else_forges_bastions_or_evidence_or_passes_the_bastion_role(host: Host) -> None:
    scp = [{"Effect": "Allow", "Action": "*", "Resource": "*"}, *_tag_protection(host)]
    orchestrator = host.function_roles["orchestrator"]
    admin = "arn:aws:iam::123456789012:role/platform-admin"
    snapshot = f"arn:aws:ec2:{host.account.region}::snapshot/*"
    ours = {"aws:RequestTag/ManagedBy": "bastion-orchestrator"}
    for principal, allowed in ((admin, False), (orchestrator, True)):
        context = {"aws:PrincipalArn": principal}
        # a snapshot tagged as a bastion's evidence
        assert _allowed(scp, "ec2:CreateSnapshot", snapshot, **context, **ours) is allowed
        # handing the bastion role (and so the sweep's profile) to any instance
        assert _allowed(scp, "iam:PassRole", host.role_arn, **context) is allowed
    # Control: an untagged snapshot is nobody's business here
    assert _allowed(scp, "ec2:CreateSnapshot", snapshot, **{"aws:PrincipalArn": admin})


# ---------------------------------------------------------------------------- snapshots
def _snapshot_call(host: Host, volume_tags: dict[str, str], tags: dict[str, str]) -> iam.Call:
    """``ec2.create_snapshot`` as Ec2Snapshots.take makes it, with the volume as IAM sees it."""
    volume = "vol-0123456789abcdef0"
    return iam.Call(
        "ec2",
        "CreateSnapshot",
        {
            "VolumeId": volume,
            "Description": f"bastion-orchestrator: {INSTANCE_ID} before its termination (expiry)",
            "TagSpecifications": [
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        },
        {volume: iam._resource_tags(volume_tags) | {"ec2:Encrypted": True}},
    )


@pytest.mark.parametrize("function", ["orchestrator", "auto_terminate"])
def test_snapshots_only_of_this_deployments_volumes_tagged_as_ours_when_created(
    host: Host, function: str
) -> None:
    statements = getattr(host, function)
    tags = host.scope | {
        "RequestedByUserId": "U1",
        "RequestedBy": "alice",
        "Reason": "INC-42",
        "Cause": "expiry",
        "SourceInstanceId": INSTANCE_ID,
        "CreatedAt": "2025-12-18T15:00:00+00:00",
    }

    def allowed(call: iam.Call) -> list[str]:
        return [
            n.describe()
            for n in iam.needs_of(call, host.account)
            if not iam._allows(statements, n)[0]
        ]

    # Given a snapshot of a bastion's root volume, tagged as the code tags it: allowed
    assert allowed(_snapshot_call(host, host.scope, tags)) == []
    # And without the optional owner tags (a bastion that had none): allowed
    assert (
        allowed(
            _snapshot_call(
                host,
                host.scope,
                {
                    k: v
                    for k, v in tags.items()
                    if k not in {"RequestedByUserId", "RequestedBy", "Reason"}
                },
            )
        )
        == []
    )
    # Then another deployment's volume, or anybody's, is refused
    assert allowed(_snapshot_call(host, host.scope | {"Environment": "prod"}, tags))
    assert allowed(_snapshot_call(host, {}, tags))
    # And a snapshot not tagged as ours at creation, or with a tag the code never writes
    assert allowed(
        _snapshot_call(host, host.scope, {k: v for k, v in tags.items() if k != "Project"})
    )
    assert allowed(_snapshot_call(host, host.scope, tags | {"Environment": "prod"}))
    assert allowed(_snapshot_call(host, host.scope, tags | {"Owner": "mallory"}))
    # And snapshot tags are written only while creating it
    snapshot = f"arn:aws:ec2:{host.account.region}::snapshot/snap-0123456789abcdef0"
    retag = iam._ctx(t=iam._request_tags([{"Key": "Cause", "Value": "x"}]))
    assert not iam._allows(statements, iam.Need("ec2:CreateTags", snapshot, retag, "x"))[0]
    # And the sweep lists our snapshots and deletes only those tagged ours
    assert _allowed(statements, "ec2:DescribeSnapshots", "*")
    ours = iam._resource_tags(host.scope)
    delete = iam.Call(
        "ec2",
        "DeleteSnapshot",
        {"SnapshotId": "snap-0123456789abcdef0"},
        {"snap-0123456789abcdef0": ours},
    )
    assert [
        n for n in iam.needs_of(delete, host.account) if not iam._allows(statements, n)[0]
    ] == []
    foreign = iam.Call(
        "ec2",
        "DeleteSnapshot",
        {"SnapshotId": "snap-0fedcba9876543210"},
        {"snap-0fedcba9876543210": iam._resource_tags({"ManagedBy": "backup"})},
    )
    assert [n for n in iam.needs_of(foreign, host.account) if not iam._allows(statements, n)[0]]


# --------------------------------------------------------- the sweep and a de-tagged bastion
def test_the_sweep_terminates_a_detagged_bastion_by_its_instance_profile(host: Host) -> None:
    # Given a bastion someone stripped of its tags: only its instance profile says what it is
    instance = host.account.ec2(f"instance/{INSTANCE_ID}")

    def terminate(statements: Statements, tags: dict[str, str], profile: str | None) -> bool:
        context = iam._resource_tags(tags) | {"ec2:InstanceProfile": profile}
        need = iam.Need("ec2:TerminateInstances", instance, iam._ctx(r=context), "terminate")
        return iam._allows(statements, need)[0]

    # Then the auto-terminator may terminate it (the sweep found it with DescribeInstances
    # filtered on iam-instance-profile.arn, which has no resource scope)
    assert _allowed(host.auto_terminate, "ec2:DescribeInstances", "*")
    assert terminate(host.auto_terminate, {}, host.profile_arn)
    # And not an instance with another profile, or none, or the orchestrator at all
    other = host.profile_arn.rsplit("/", 1)[0] + "/someone-elses-profile"
    assert not terminate(host.auto_terminate, {}, other)
    assert not terminate(host.auto_terminate, {}, None)
    assert not terminate(host.orchestrator, {}, host.profile_arn)
    # Control: tagged bastions stay terminable by both, whatever their profile
    for statements in (host.orchestrator, host.auto_terminate):
        assert terminate(statements, host.scope, None)


# ----------------------------------------------------------------------------- launching
def test_run_instances_needs_hop_limit_one_no_metadata_tags_and_the_pinned_image(
    host: Host,
) -> None:
    env = host.env
    params: dict[str, Any] = {
        "ImageId": env["AMI_ID"],
        "InstanceType": env["INSTANCE_TYPE"],
        "IamInstanceProfile": {"Name": env["IAM_INSTANCE_PROFILE"]},
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpEndpoint": "enabled",
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
            {"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in host.scope.items()]}
            for kind in ("instance", "volume")
        ],
    }
    account = iam.Account(
        host.account.partition,
        host.account.region,
        host.account.account_id,
        lambda arn: host.role_arn,
    )

    def refused(p: dict[str, Any]) -> list[str]:
        return [
            n.describe()
            for n in iam._run_instances_needs(p, account)
            if not iam._allows(host.orchestrator, n)[0]
        ]

    # Given the launch the code makes: allowed
    assert refused(params) == []
    # Then a hop limit above 1, metadata tags on, or either left out is refused
    for change in (
        {"HttpPutResponseHopLimit": 2},
        {"InstanceMetadataTags": "enabled"},
        {"HttpPutResponseHopLimit": None},
        {"InstanceMetadataTags": None},
    ):
        metadata = {k: v for k, v in (params["MetadataOptions"] | change).items() if v is not None}
        assert refused(params | {"MetadataOptions": metadata}), change
    # And any image but the pinned one, another Amazon image included
    assert refused(params | {"ImageId": "ami-0fedcba9876543210"})


# -------------------------------------------------------------------------- the variables
BAD_INPUTS = {
    "log_retention_days": ("30", "HIPAA"),
    "boot_profiles": ('["minimal", "gpu"]', "boot_profiles must name"),
    "boot_script": (json.dumps("x" * 2049), "4 KB"),
    "snapshot_retention_days": ("0", "snapshot_retention_days must be"),
    "session_logs_s3_retention_days": ("30", "HIPAA"),
    "instance_credentials_nat_cidrs": ('["nat-gateway"]', "IPv4 CIDR"),
}


def test_the_module_refuses_what_its_variables_forbid(tmp_path: Path) -> None:
    if stack.TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH")
    # Given a configuration calling the module once per bad input (and once with the good
    # ones at their edges)
    required = f"""
      source                = "{stack.MODULE}"
      project_name          = "p"
      environment           = "e"
      vpc_id                = "vpc-0123456789abcdef0"
      subnet_ids            = ["subnet-0123456789abcdef0"]
      rds_security_group_id = "sg-0123456789abcdef0"
      package_path          = "x.zip"
    """
    blocks = [
        f'module "bad_{name}" {{\n{required}\n  {name} = {value}\n}}\n'
        for name, (value, _) in BAD_INPUTS.items()
    ]
    good = {
        "log_retention_days": "90",
        "boot_profiles": '["db-clients", "minimal"]',
        "boot_script": json.dumps("x" * 2048),
        "session_logs_s3_retention_days": "90",
        "instance_credentials_nat_cidrs": '["203.0.113.10/32"]',
    }
    blocks.append(
        'module "good" {\n'
        + required
        + "\n".join(f"  {k} = {v}" for k, v in good.items())
        + "\n}\n"
    )
    (tmp_path / "main.tf").write_text(
        'provider "aws" {\n  region = "us-east-1"\n}\n' + "".join(blocks)
    )
    stack.terraform(
        tmp_path, "init", "-backend=false", f"-plugin-dir={stack.PLUGIN_DIR}", "-no-color"
    )
    # When Terraform validates it
    result = stack.terraform(tmp_path, "validate", "-no-color", check=False)
    output = re.sub(r"\s+", " ", result.stdout + result.stderr)
    # Then each bad input is refused, with the reason, and the good module is not
    assert result.returncode != 0
    for name, (_, reason) in BAD_INPUTS.items():
        assert f'in module "bad_{name}"' in output, name
        assert reason in output, (name, reason)
    assert 'in module "good"' not in output
