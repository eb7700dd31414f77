"""Lifecycle rules with an exact clock: no AWS, no wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.actor import Principal
from bastion_orchestrator.domain.bastion import (
    Bastion,
    Lifetime,
    ensure_may_act,
    extended_expiry,
    initial_expiry,
    warning_due,
)
from bastion_orchestrator.errors import Forbidden, LimitExceeded

pytestmark = pytest.mark.unit

T0 = datetime(2025, 12, 18, 12, 0, tzinfo=UTC)
RULES = Lifetime.of_hours(3, 2, 12, 30)


def bastion(expires: datetime | str | None = None, created: datetime = T0, **tags: str) -> Bastion:
    all_tags = {"CreatedAt": iso(created), "RequestedByUserId": "U1", **tags}
    if expires is not None:
        all_tags["ExpiresAt"] = expires if isinstance(expires, str) else iso(expires)
    return Bastion(
        "i-0123456789abcdef0", "running", "10.0.1.100", T0 + timedelta(seconds=5), all_tags
    )


def test_initial_expiry_is_three_hours_to_the_second():
    assert initial_expiry(T0.replace(microsecond=999), RULES) == T0 + timedelta(hours=3)


def test_extend_adds_two_hours():
    b = bastion(T0 + timedelta(hours=3))
    extension = extended_expiry(b, RULES, T0 + timedelta(hours=1))
    assert extension.expires_at == T0 + timedelta(hours=5)
    assert extension.capped is False


def test_extend_is_clamped_to_the_cap_then_refused():
    near_cap = bastion(T0 + timedelta(hours=11, minutes=30))
    extension = extended_expiry(near_cap, RULES, T0 + timedelta(hours=11))
    assert extension.expires_at == T0 + timedelta(hours=12)
    assert extension.capped is True  # 30 minutes granted, not 2 hours: the caller is told
    at_cap = bastion(T0 + timedelta(hours=12))
    with pytest.raises(LimitExceeded) as refused:
        extended_expiry(at_cap, RULES, T0 + timedelta(hours=11))
    assert "maximum lifetime" in refused.value.message


def test_extend_after_expiry_is_refused_not_a_revival():
    # Given a bastion whose ExpiresAt passed ten minutes ago (its termination is under way)
    overdue = bastion(T0 + timedelta(hours=3))
    now = T0 + timedelta(hours=3, minutes=10)
    # When it is extended, Then it is refused: an extend must never bring it back
    with pytest.raises(LimitExceeded) as refused:
        extended_expiry(overdue, RULES, now)
    assert "expired" in refused.value.message


@pytest.mark.parametrize("tampered", ["2099-01-01T00:00:00+00:00", "not-a-date", ""])
def test_tag_tampering_never_buys_lifetime(tampered):
    b = bastion(tampered)
    assert b.expires_at(RULES) <= T0 + timedelta(hours=12)


def test_a_later_created_at_tag_cannot_move_the_cap():
    # CreatedAt pushed into the future: the launch time (set by EC2) still bounds the cap.
    b = bastion(T0 + timedelta(days=3), created=T0 + timedelta(days=2))
    assert b.cap(RULES) == T0 + timedelta(seconds=5) + timedelta(hours=12)


def test_missing_expiry_means_the_initial_lifetime():
    assert bastion(None).expires_at(RULES) == T0 + timedelta(hours=3)


@pytest.mark.parametrize(
    ("minutes_left", "due"),
    [(31, True), (30, True), (1, True), (0, False), (-5, False), (33, False), (120, False)],
)
def test_warning_is_due_only_in_the_lead_time(minutes_left, due):
    b = bastion(T0 + timedelta(hours=3))
    now = T0 + timedelta(hours=3) - timedelta(minutes=minutes_left)
    assert warning_due(b, RULES, now, timedelta(minutes=2)) is due


def test_owner_admin_and_operator_may_act_others_may_not():
    b = bastion(T0 + timedelta(hours=3))
    ensure_may_act(b, Principal("U1"))
    ensure_may_act(b, Principal("UADMIN", admin=True))
    ensure_may_act(b, Principal(None))  # a direct invoke naming nobody: the operator
    with pytest.raises(Forbidden):
        ensure_may_act(b, Principal("U2"))


# ---------------------------------------------------------------- properties
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(steps=st.lists(st.integers(min_value=0, max_value=240), max_size=30))
def test_extend_sequences_never_pass_the_cap(steps):
    from dataclasses import replace

    b = bastion(T0 + timedelta(hours=3))
    now = T0
    cap = b.cap(RULES)
    for minutes in steps:
        now += timedelta(minutes=minutes)
        before = b.expires_at(RULES)
        try:
            new = extended_expiry(b, RULES, now).expires_at
        except LimitExceeded:
            assert before >= cap.replace(microsecond=0) or before <= now
            continue
        assert before < new <= cap
        b = replace(b, tags={**b.tags, "ExpiresAt": iso(new)})
    assert b.expires_at(RULES) <= cap
