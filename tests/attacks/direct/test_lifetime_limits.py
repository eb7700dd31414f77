"""Outliving the expiry: an extend once it has passed, extends past the hard cap, a create that
would hand back an expired bastion."""

from __future__ import annotations

import pytest

from tests.support.doors import direct

pytestmark = pytest.mark.integration


def test_an_extend_after_expiry_is_refused_and_changes_nothing(aws, clock, lambda_context):
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    iid = created["instance_id"]
    before = (aws.tags(iid)["ExpiresAt"], sorted(aws.schedules()))
    # When the expiry passes (the termination is under way) and the owner extends
    clock.advance(hours=3, minutes=1)
    refused = direct(lambda_context, {"action": "extend", "instance_id": iid, "user_id": "U1"})
    # Then LIMIT_EXCEEDED, and neither the tag nor the schedules moved
    assert refused["error"] == "LIMIT_EXCEEDED" and "expired" in refused["message"]
    assert (aws.tags(iid)["ExpiresAt"], sorted(aws.schedules())) == before


def test_an_extend_clamped_by_the_cap_says_so(aws, clock, lambda_context):
    created = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    iid = created["instance_id"]
    extends = []
    for _ in range(6):
        clock.advance(hours=1, minutes=50)
        extends.append(direct(lambda_context.next(), {"action": "extend", "instance_id": iid}))
    full = [e for e in extends if e.get("success") and not e.get("capped")]
    capped = [e for e in extends if e.get("capped")]
    assert full and len(capped) == 1
    assert "last extension" in capped[0]["message"]
    assert extends[-1]["error"] == "LIMIT_EXCEEDED"


def test_create_never_hands_back_an_expired_bastion(aws, clock, lambda_context, idempotency_table):
    first = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    # When its expiry has passed but the terminator has not run yet
    clock.advance(hours=3, minutes=5)
    second = direct(lambda_context, {"action": "create", "user_id": "U1", "username": "u"})
    # Then a new bastion is launched, not the expired one handed back as "existing"
    assert second["success"] is True and second["existing"] is False
    assert second["instance_id"] != first["instance_id"]
