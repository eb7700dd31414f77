"""Sealing and unsealing continuations: a job of the Slack door, signed for its async half.

HMAC-SHA256 over the canonical JSON of the job and the time it was issued, under a key derived
from the Slack signing secret and the deployment (``Scope``: project, environment, function
name), never the secret itself: a continuation signature can never pass as a Slack request
signature, nor the reverse, and a job one deployment sealed (dev and prod may share a Slack
app, and so its signing secret) is forged in any other. ``unseal`` refuses anything unsigned,
altered, malformed, sealed elsewhere or older than ``MAX_AGE_SECONDS`` and only then hands the
job (plain JSON) to its reader. Light on purpose: the Slack acknowledgement seals, with no
pydantic and nothing of the slow half loaded (the scope is read from the environment, not the
settings model).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeGuard

# The module sets the orchestrator's maximum async event age to the same 15 minutes.
MAX_AGE_SECONDS: Final = 900
CLOCK_SKEW_SECONDS: Final = 60
_KEY_LABEL: Final = "bastion-continuation"
_VERSION: Final = "v2="
_EARLIER: Final = ("v1=",)  # sealed by a release whose key named no deployment
_FIELDS: Final = frozenset({"job", "issued_at", "signature"})


@dataclass(frozen=True)
class Scope:
    """The deployment a continuation is sealed for, and the only one that obeys it."""

    project: str
    environment: str
    function: str

    @classmethod
    def here(cls) -> Scope:
        """This deployment: ``PROJECT_NAME``, ``ENVIRONMENT`` and Lambda's
        ``AWS_LAMBDA_FUNCTION_NAME``, read from the environment (no settings model: the
        acknowledgement seals)."""
        project, environment, function = (
            os.environ.get(name, "").strip()
            for name in ("PROJECT_NAME", "ENVIRONMENT", "AWS_LAMBDA_FUNCTION_NAME")
        )
        return cls(project, environment, function)

    def info(self) -> bytes:
        """The derivation's context, unambiguous whatever the names hold (JSON, not a join)."""
        parts = [_KEY_LABEL, self.project, self.environment, self.function]
        return json.dumps(parts, separators=(",", ":")).encode()


class ForgedContinuation(Exception):
    """A continuation this deployment did not produce (or no longer vouches for)."""


def usable(signing_secret: str | None) -> TypeGuard[str]:
    """A signing secret that can vouch for anything: set, and not blank. The Slack door and
    the continuation door both ask this one question."""
    return bool(signing_secret and signing_secret.strip())


def continuation_key(signing_secret: str, scope: Scope) -> bytes:
    """HKDF-style extract-and-expand in one HMAC step: HMAC-SHA256(signing secret, [label,
    project, environment, function]). The secret is high-entropy already, so no salt."""
    return hmac.new(signing_secret.encode(), scope.info(), hashlib.sha256).digest()


def _mac(signing_secret: str, scope: Scope, job: Mapping[str, Any], issued_at: int) -> str:
    canonical = json.dumps(
        {"issued_at": issued_at, "job": job}, sort_keys=True, separators=(",", ":")
    ).encode()
    key = continuation_key(signing_secret, scope)
    return _VERSION + hmac.new(key, canonical, hashlib.sha256).hexdigest()


def seal(
    job: Mapping[str, Any], signing_secret: str, now: datetime, *, scope: Scope | None = None
) -> dict[str, Any]:
    """The payload of the async invocation: the job (plain JSON), when it was issued, and
    their MAC, for ``scope`` (this deployment unless told)."""
    body = dict(job)
    issued_at = int(now.timestamp())
    return {
        "continuation": {
            "job": body,
            "issued_at": issued_at,
            "signature": _mac(signing_secret, scope or Scope.here(), body, issued_at),
        }
    }


def unseal(
    envelope: Any, signing_secret: str | None, now: datetime, *, scope: Scope | None = None
) -> dict[str, Any]:
    """The job inside a genuine, fresh continuation sealed for ``scope`` (this deployment
    unless told); ``ForgedContinuation`` otherwise."""
    if not isinstance(envelope, dict) or set(envelope) != _FIELDS:
        raise ForgedContinuation("not a continuation envelope (job, issued_at, signature)")
    job, issued_at, signature = envelope["job"], envelope["issued_at"], envelope["signature"]
    if not isinstance(job, dict) or type(issued_at) is not int or not isinstance(signature, str):
        raise ForgedContinuation("malformed envelope")
    if not usable(signing_secret):
        raise ForgedContinuation("no signing_secret configured: no continuation can be genuine")
    if signature.startswith(_EARLIER):
        raise ForgedContinuation("sealed by an earlier release, for no deployment in particular")
    try:
        expected = _mac(signing_secret, scope or Scope.here(), job, issued_at)
    except (TypeError, ValueError, RecursionError) as e:  # not plain JSON, or absurdly deep
        raise ForgedContinuation("job is not canonical JSON") from e
    if not signature.isascii() or not hmac.compare_digest(expected, signature):
        raise ForgedContinuation("signature does not match (altered, or another deployment's)")
    age = now.timestamp() - issued_at
    if age > MAX_AGE_SECONDS or age < -CLOCK_SKEW_SECONDS:
        raise ForgedContinuation(f"stale: issued {int(age)} s ago")
    return job
