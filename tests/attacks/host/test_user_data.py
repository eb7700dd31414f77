"""Every bastion's user data powers it off at the hard cap, even if every function and schedule
fails."""

from __future__ import annotations

import base64

import pytest

from tests.support.doors import direct

pytestmark = pytest.mark.integration


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
