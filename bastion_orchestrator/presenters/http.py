"""Outcomes as HTTP status codes (the IAM door): success 200, each refusal its own code."""

from __future__ import annotations

from typing import Final

from bastion_orchestrator.domain.results import Decided, Outcome, Refused

STATUS: Final = {
    "VALIDATION_ERROR": 400,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "LIMIT_EXCEEDED": 409,
    "CAPACITY_UNAVAILABLE": 503,
    "CONFIGURATION_ERROR": 500,
    "INTERNAL_ERROR": 500,
}


def status_of(outcome: Outcome) -> int:
    if isinstance(outcome, Refused):
        return STATUS.get(outcome.error.code, 500)
    if isinstance(outcome, Decided) and outcome.stale:  # a click on a decided request
        return STATUS["LIMIT_EXCEEDED"]
    return 200
