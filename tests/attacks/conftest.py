"""Attack tests, grouped by the door or surface they attack: tests/attacks/<door>/ (slack, iam,
direct, function_url, approvals, host, terminator), and files here for what every door shares.
Each file is named for what it attacks.

Each test encodes the secure behaviour. A ``# HOLE:`` comment marks an attack that got through
when its test was first written; each is closed now (the test passes), and the comment says
what the attacker got and the fix.

The fixtures: the integration suite's deployment in moto (``aws``, ``slack``, ``approvals``,
``lambda_async``, ``idempotency_table``), ``outbound`` for the tests of the acknowledge-then-decide
path, which answer where the request said, and ``signing`` for those that need only the signing
secret."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401 (moto fixtures)
    CHANNEL,
    approvals,
    aws,
    idempotency_table,
    lambda_async,
    slack,
)
from tests.support.doors import SECRET


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every webhook/response_url post that would leave 127.0.0.1: recorded, never sent. (The
    ``slack`` fixture routes Slack's own hooks to its stand-in before this sees them.)"""
    from bastion_orchestrator.adapters.slack import notifier
    from bastion_orchestrator.errors import NotificationFailed

    attempts: list[str] = []
    post = notifier._post_webhook

    def guarded(url: str, what: str, **message: Any) -> None:
        if not url.startswith("http://127.0.0.1:"):
            attempts.append(url)
            raise NotificationFailed("blocked by the test: not 127.0.0.1")
        post(url, what, **message)

    monkeypatch.setattr(notifier, "_post_webhook", guarded)
    return attempts


@pytest.fixture
def signing(aws: Any, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """The Slack signing secret, without the Slack stand-in (whose stop costs 0.5 s a test)."""
    from tests.support import roots

    monkeypatch.setattr(roots.current(), "signing_secret", lambda: SECRET)
    return SECRET


def approval_posts(slack: Any) -> list[Any]:  # noqa: F811
    return [m for m in slack.to(CHANNEL) if "Approval needed" in m.text]
