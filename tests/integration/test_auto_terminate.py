"""The auto-terminator's scheduler events against moto, Slack on a local stand-in."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import auto_terminate
import handler
from bastion_orchestrator.clock import iso
from tests.conftest import event

pytestmark = pytest.mark.integration


def launch(ctx, user="U12345", username="john.doe"):
    payload = {"action": "create", "user_id": user, "username": username}
    return handler.lambda_handler(payload, ctx)["instance_id"]


def fire(ctx, name, **fields):
    return auto_terminate.lambda_handler(event(name, **fields), ctx)


def test_warning_goes_to_the_requester_once_with_buttons(aws, slack, clock, lambda_context):
    iid = launch(lambda_context)
    expires = clock() + timedelta(hours=3)
    clock.advance(hours=2, minutes=30)  # the warning schedule's time

    first = fire(lambda_context, "warn", instance_id=iid)
    again = fire(lambda_context, "warn", instance_id=iid)  # at-least-once delivery

    assert first["outcome"] == "warned" and again["outcome"] == "already_warned"
    dms = slack.to("U12345")
    assert len(dms) == 1
    assert dms[0].token == "xoxb-test-token"
    assert iid in dms[0].all_text() and iso(expires) in dms[0].all_text()
    assert dms[0].action_ids() == ["bastion_extend", "bastion_destroy"]
    buttons = dms[0].body["blocks"][-1]["elements"]
    assert {b["value"] for b in buttons} == {iid}
    assert slack.to("C0PLATFORM") == []  # warnings are personal


def test_warning_for_an_extended_bastion_stays_silent(aws, slack, clock, lambda_context):
    iid = launch(lambda_context)
    clock.advance(hours=2)
    handler.lambda_handler({"action": "extend", "instance_id": iid}, lambda_context)
    clock.advance(minutes=30)  # the old warning time, delivered late
    assert fire(lambda_context, "warn", instance_id=iid)["outcome"] == "not_due"
    assert slack.messages == []


def test_warning_again_after_an_extension(aws, slack, clock, lambda_context):
    iid = launch(lambda_context)
    clock.advance(hours=2, minutes=30)
    fire(lambda_context, "warn", instance_id=iid)
    handler.lambda_handler({"action": "extend", "instance_id": iid}, lambda_context)
    clock.advance(hours=2)
    assert fire(lambda_context, "warn", instance_id=iid)["outcome"] == "warned"
    assert len(slack.to("U12345")) == 2


def test_termination_at_expiry_notifies_once(aws, slack, clock, lambda_context):
    iid = launch(lambda_context)
    clock.advance(hours=3)

    first = fire(lambda_context, "terminate", instance_id=iid)
    again = fire(lambda_context, "terminate", instance_id=iid)

    assert first["outcome"] == "terminated" and again["outcome"] == "already_gone"
    assert aws.state(iid) in {"shutting-down", "terminated"}
    assert aws.schedules() == {}
    dm, channel = slack.to("U12345"), slack.to("C0PLATFORM")
    assert len(dm) == 1 and len(channel) == 1
    assert iid in channel[0].all_text() and "expiry" in channel[0].all_text()
    assert not [m for m in slack.messages if m.endpoint == "webhook"]  # never both


def test_termination_of_an_extended_bastion_does_nothing(aws, slack, clock, lambda_context):
    iid = launch(lambda_context)
    clock.advance(hours=1)
    handler.lambda_handler({"action": "extend", "instance_id": iid}, lambda_context)
    clock.advance(hours=2)  # the original expiry
    assert fire(lambda_context, "terminate", instance_id=iid)["outcome"] == "not_expired"
    assert aws.state(iid) == "running"
    assert slack.messages == []


def test_termination_after_a_destroy_notifies_nobody(aws, slack, clock, lambda_context):
    iid = launch(lambda_context)
    handler.lambda_handler({"action": "destroy", "instance_id": iid}, lambda_context)
    clock.advance(hours=3)
    assert fire(lambda_context, "terminate", instance_id=iid)["outcome"] == "already_gone"
    assert fire(lambda_context, "warn", instance_id=iid)["outcome"] == "not_running"
    assert slack.messages == []


def test_slack_down_never_stops_a_termination(aws, slack, clock, lambda_context, capsys, caplog):
    iid = launch(lambda_context)
    slack.fail_with = 500
    clock.advance(hours=3, minutes=1)
    result = fire(lambda_context, "terminate", instance_id=iid)
    assert result["outcome"] == "terminated"
    assert aws.state(iid) in {"shutting-down", "terminated"}
    assert "notification failed" in caplog.messages
    assert '"NotificationFailures"' in capsys.readouterr().out  # the EMF metric


def test_webhook_only_gets_the_channel_notice(aws, clock, lambda_context, monkeypatch):
    import boto3

    from tests.support import roots
    from tests.support.slack_standin import SlackStandIn

    standin = SlackStandIn().start()
    try:
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="hook-only", SecretString=json.dumps({"webhook_url": standin.webhook_url})
        )["ARN"]
        monkeypatch.setenv("SLACK_SECRET_ARN", arn)
        roots.fresh()
        iid = launch(lambda_context)
        clock.advance(hours=3)
        fire(lambda_context, "terminate", instance_id=iid)
        assert [m.endpoint for m in standin.messages] == ["webhook"]
        assert iid in standin.messages[0].all_text()
    finally:
        standin.stop()


def test_without_slack_notifications_are_logged(aws, clock, lambda_context, caplog):
    import logging

    iid = launch(lambda_context)
    clock.advance(hours=3)
    with caplog.at_level(logging.DEBUG, logger="bastion-orchestrator"):
        assert fire(lambda_context, "terminate", instance_id=iid)["outcome"] == "terminated"
    [notice] = [r for r in caplog.records if r.getMessage() == "notification (no Slack configured)"]
    assert notice.instance_id == iid and iid in notice.text
    # A termination's audit line says it at INFO; its notice text (the same facts) at DEBUG, so
    # a sweep of thousands writes each termination once at the default level
    [audited] = [r for r in caplog.records if r.getMessage() == "bastion terminated"]
    assert audited.levelno == logging.INFO and audited.instance_id == iid
    assert notice.levelno == logging.DEBUG


def test_without_slack_a_warning_is_logged_at_info(aws, clock, lambda_context, caplog):
    import logging

    iid = launch(lambda_context)
    clock.advance(hours=2, minutes=31)
    with caplog.at_level(logging.INFO, logger="bastion-orchestrator"):
        fire(lambda_context, "warn", instance_id=iid)
    [notice] = [r for r in caplog.records if r.getMessage() == "notification (no Slack configured)"]
    assert notice.levelno == logging.INFO and notice.kind == "warning"


def test_sweep_terminates_expired_bastions_whose_schedules_were_lost(
    aws, slack, clock, lambda_context
):
    old = launch(lambda_context, "U1", "alice")
    clock.advance(hours=2)
    young = launch(lambda_context, "U2", "bob")
    # Schedules lost (deleted by hand, a failed deploy...)
    for name in list(aws.schedules()):
        if old in name:
            aws.scheduler.delete_schedule(Name=name, GroupName=aws.group)
    clock.advance(hours=1, minutes=5)

    result = fire(lambda_context, "sweep")

    assert result["terminated"] == 1 and result["checked"] == 2
    assert aws.state(old) in {"shutting-down", "terminated"}
    assert aws.state(young) == "running"
    assert any(old in m.all_text() and "sweep" in m.all_text() for m in slack.to("C0PLATFORM"))
    assert fire(lambda_context, "sweep")["terminated"] == 0  # idempotent


def test_sweep_deletes_schedules_whose_instance_is_gone(aws, clock, lambda_context):
    iid = launch(lambda_context)
    aws.ec2.terminate_instances(InstanceIds=[iid])  # someone terminated it by hand
    clock.advance(minutes=15)  # past the grace for just-launched instances
    result = fire(lambda_context, "sweep")
    assert result["schedules_deleted"] == 2
    assert aws.schedules() == {}


def test_sweep_never_touches_what_is_not_ours(aws, clock, lambda_context):
    tags = [
        {"Key": "ManagedBy", "Value": "bastion-orchestrator"},
        {"Key": "Project", "Value": "docustack"},
        {"Key": "Environment", "Value": "prod"},
        {"Key": "ExpiresAt", "Value": "2000-01-01T00:00:00+00:00"},
    ]
    prod = aws.ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    plain = aws.ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    # another deployment's schedule in the same group, for an instance we cannot see
    aws.scheduler.create_schedule(
        Name=f"docustack-prod-{prod}-termination",
        GroupName=aws.group,
        ScheduleExpression="at(2030-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:lambda:us-east-1:123456789012:function:x",
            "RoleArn": "arn:aws:iam::123456789012:role/x",
        },
    )
    clock.advance(hours=24)
    result = fire(lambda_context, "sweep")
    assert result["terminated"] == 0 and result["schedules_deleted"] == 0
    assert aws.state(prod) == "running" and aws.state(plain) == "running"
    assert f"docustack-prod-{prod}-termination" in aws.schedules()


def test_terminate_and_warn_ignore_foreign_instances(aws, clock, lambda_context):
    plain = aws.ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    clock.advance(hours=48)
    assert fire(lambda_context, "terminate", instance_id=plain)["outcome"] == "already_gone"
    assert fire(lambda_context, "warn", instance_id=plain)["outcome"] == "not_running"
    assert aws.state(plain) == "running"


def test_tampered_expiry_cannot_outlive_the_cap(aws, clock, lambda_context):
    iid = launch(lambda_context)
    aws.ec2.create_tags(
        Resources=[iid], Tags=[{"Key": "ExpiresAt", "Value": "2099-01-01T00:00:00+00:00"}]
    )
    clock.advance(hours=12)
    assert fire(lambda_context, "terminate", instance_id=iid)["outcome"] == "terminated"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"action": "explode"},
        {"action": "terminate"},
        {"action": "terminate", "instance_id": "i-nothex"},
        {"action": "sweep", "instance_id": "i-0123456789abcdef0"},
        ["terminate"],
    ],
)
def test_bad_scheduler_events_are_refused_without_side_effects(aws, clock, lambda_context, bad):
    iid = launch(lambda_context)
    clock.advance(hours=5)
    result = auto_terminate.lambda_handler(bad, lambda_context)
    assert result["success"] is False and result["error"] == "VALIDATION_ERROR"
    assert aws.state(iid) == "running"


def test_unexpected_failures_are_raised_for_lambda_retries(aws, clock, lambda_context):
    from tests.support.roots import clients

    iid = launch(lambda_context)

    def boom(**_):
        raise RuntimeError("EC2 is having a day")

    clients.ec2().meta.events.register("provide-client-params.ec2.DescribeInstances", boom)
    with pytest.raises(RuntimeError):
        fire(lambda_context, "terminate", instance_id=iid)


def test_notifications_can_be_handed_to_a_notifier_lambda(
    aws, clock, lambda_context, monkeypatch, lambda_async
):
    from tests.support import roots

    notifier = "arn:aws:lambda:us-east-1:123456789012:function:slack-notifier"
    monkeypatch.setenv("SLACK_NOTIFIER_LAMBDA_ARN", notifier)
    roots.fresh()
    iid = launch(lambda_context)
    clock.advance(hours=3)
    fire(lambda_context, "terminate", instance_id=iid)
    [payload] = lambda_async
    assert payload["type"] == "bastion_notification" and payload["kind"] == "terminated"
    assert payload["instance_id"] == iid and payload["user_id"] == "U12345"
    assert payload["channel_notice"] is True and payload["blocks"]
