"""``ALLOWED_USER_IDS`` on the direct door: someone off the list launches nothing."""

from __future__ import annotations

import pytest

from tests.support.doors import direct

pytestmark = pytest.mark.integration


def test_a_direct_create_by_someone_off_the_allow_list_launches_nothing(
    aws, clock, lambda_context, monkeypatch
):
    from tests.support import roots

    # Given an allow-list that does not name U666
    monkeypatch.setenv("ALLOWED_USER_IDS", "U12345")
    roots.fresh()
    # When U666 creates through the direct door
    refused = direct(lambda_context, {"action": "create", "user_id": "U666", "username": "eve"})
    # Then it is FORBIDDEN, says how to fix it, and nothing runs
    assert refused["error"] == "FORBIDDEN" and "ALLOWED_USER_IDS" in refused["message"]
    assert aws.running() == []
    # And a listed user still launches
    allowed = direct(lambda_context, {"action": "create", "user_id": "U12345", "username": "j"})
    assert allowed["success"] is True and len(aws.running()) == 1
