"""Lifecycle rules with an exact clock: no AWS, no wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bastion_orchestrator.clock import iso
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
    assert extended_expiry(b, RULES, T0 + timedelta(hours=1)) == T0 + timedelta(hours=5)


def test_extend_is_clamped_to_the_cap_then_refused():
    near_cap = bastion(T0 + timedelta(hours=11, minutes=30))
    assert extended_expiry(near_cap, RULES, T0 + timedelta(hours=11)) == T0 + timedelta(hours=12)
    at_cap = bastion(T0 + timedelta(hours=12))
    with pytest.raises(LimitExceeded) as refused:
        extended_expiry(at_cap, RULES, T0 + timedelta(hours=11))
    assert "maximum lifetime" in refused.value.message


def test_extend_of_an_overdue_bastion_counts_from_now():
    overdue = bastion(T0 + timedelta(hours=3))
    now = T0 + timedelta(hours=3, minutes=10)
    assert extended_expiry(overdue, RULES, now) == now + timedelta(hours=2)


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


def test_owner_admin_and_anonymous_may_act_others_may_not():
    b = bastion(T0 + timedelta(hours=3))
    ensure_may_act(b, "U1", frozenset())
    ensure_may_act(b, "UADMIN", frozenset({"UADMIN"}))
    ensure_may_act(b, None, frozenset())  # a direct invoke without a caller (IAM is the gate)
    with pytest.raises(Forbidden):
        ensure_may_act(b, "U2", frozenset({"UADMIN"}))


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
            new = extended_expiry(b, RULES, now)
        except LimitExceeded:
            assert before >= cap.replace(microsecond=0)
            continue
        assert before < new <= cap
        b = replace(b, tags={**b.tags, "ExpiresAt": iso(new)})
    assert b.expires_at(RULES) <= cap
