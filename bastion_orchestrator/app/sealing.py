"""Sealing and unsealing continuations: a job of the Slack door, signed for its async half.

HMAC-SHA256 over the canonical JSON of the job and the time it was issued, under a key derived
from the Slack signing secret (never the secret itself: a continuation signature can never
pass as a Slack request signature, nor the reverse). ``unseal`` refuses anything unsigned,
altered, malformed or older than ``MAX_AGE_SECONDS`` and only then hands the job (plain JSON)
to its reader. Light on purpose: the Slack acknowledgement seals, with no pydantic and nothing
of the slow half loaded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeGuard

# The module sets the orchestrator's maximum async event age to the same 15 minutes.
MAX_AGE_SECONDS: Final = 900
CLOCK_SKEW_SECONDS: Final = 60
_KEY_LABEL: Final = b"bastion-orchestrator/continuation/v1"
_VERSION: Final = "v1="
_FIELDS: Final = frozenset({"job", "issued_at", "signature"})


class ForgedContinuation(Exception):
    """A continuation this deployment did not produce (or no longer vouches for)."""


def usable(signing_secret: str | None) -> TypeGuard[str]:
    """A signing secret that can vouch for anything: set, and not blank. The Slack door and
    the continuation door both ask this one question."""
    return bool(signing_secret and signing_secret.strip())


def _key(signing_secret: str) -> bytes:
    return hmac.new(signing_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _mac(signing_secret: str, job: Mapping[str, Any], issued_at: int) -> str:
    canonical = json.dumps(
        {"issued_at": issued_at, "job": job}, sort_keys=True, separators=(",", ":")
    ).encode()
    return _VERSION + hmac.new(_key(signing_secret), canonical, hashlib.sha256).hexdigest()


def seal(job: Mapping[str, Any], signing_secret: str, now: datetime) -> dict[str, Any]:
    """The payload of the async invocation: the job (plain JSON), when it was issued, and
    their MAC."""
    body = dict(job)
    issued_at = int(now.timestamp())
    return {
        "continuation": {
            "job": body,
            "issued_at": issued_at,
            "signature": _mac(signing_secret, body, issued_at),
        }
    }


def unseal(envelope: Any, signing_secret: str | None, now: datetime) -> dict[str, Any]:
    """The job inside a genuine, fresh continuation; ``ForgedContinuation`` otherwise."""
    if not isinstance(envelope, dict) or set(envelope) != _FIELDS:
        raise ForgedContinuation("not a continuation envelope (job, issued_at, signature)")
    job, issued_at, signature = envelope["job"], envelope["issued_at"], envelope["signature"]
    if not isinstance(job, dict) or type(issued_at) is not int or not isinstance(signature, str):
        raise ForgedContinuation("malformed envelope")
    if not usable(signing_secret):
        raise ForgedContinuation("no signing_secret configured: no continuation can be genuine")
    try:
        expected = _mac(signing_secret, job, issued_at)
    except (TypeError, ValueError, RecursionError) as e:  # not plain JSON, or absurdly deep
        raise ForgedContinuation("job is not canonical JSON") from e
    if not signature.isascii() or not hmac.compare_digest(expected, signature):
        raise ForgedContinuation("signature does not match")
    age = now.timestamp() - issued_at
    if age > MAX_AGE_SECONDS or age < -CLOCK_SKEW_SECONDS:
        raise ForgedContinuation(f"stale: issued {int(age)} s ago")
    return job
