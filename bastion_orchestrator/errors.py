"""The project's typed errors. Each carries the public error code of the contract."""

from __future__ import annotations

from typing import Any, ClassVar


class BastionError(Exception):
    """A failure the caller is told about: a code from the contract and a remedy."""

    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "error": self.code, "message": self.message}
        body.update(self.details)
        return body


class InvalidRequest(BastionError):
    code = "VALIDATION_ERROR"


class NotFound(BastionError):
    code = "NOT_FOUND"


class Forbidden(BastionError):
    code = "FORBIDDEN"


class LimitExceeded(BastionError):
    code = "LIMIT_EXCEEDED"


class CapacityUnavailable(BastionError):
    code = "CAPACITY_UNAVAILABLE"


class ConfigurationError(BastionError):
    code = "CONFIGURATION_ERROR"


class InternalError(BastionError):
    code = "INTERNAL_ERROR"


class LaunchRejected(BastionError):
    """EC2 refused a launch parameter (unknown subnet, security group, profile or image).

    The orchestrator re-raises it as ``VALIDATION_ERROR`` when the caller chose the value and
    as ``CONFIGURATION_ERROR`` when the deployment did.
    """

    def __init__(self, message: str, *, aws_code: str) -> None:
        super().__init__(message)
        self.aws_code = aws_code


class NoCapacity(BastionError):
    """EC2 has no capacity for the instance type in one subnet (try the next one)."""

    code = "CAPACITY_UNAVAILABLE"


class NotificationFailed(Exception):
    """Slack (or the notifier Lambda) could not be reached or refused the message."""
