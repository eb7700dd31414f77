"""One way in: every door hands an authenticated actor and a parsed action to ``dispatch``.

Here, once: the policy decides, the use case runs, and errors become typed refusals. Doors
only translate their requests in and present the outcomes out (``presenters``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from bastion_orchestrator.domain.actor import Actor, Owner
from bastion_orchestrator.domain.results import Extended, Outcome, Refused, Result
from bastion_orchestrator.errors import (
    BastionError,
    Forbidden,
    InternalError,
    InvalidRequest,
    LimitExceeded,
    NotFound,
)
from bastion_orchestrator.observability import audit, count, logger
from bastion_orchestrator.usecases.policy import (
    Act,
    Action,
    Decision,
    Launch,
    Listing,
    Policy,
    RequestApproval,
    Verdict,
)

if TYPE_CHECKING:  # built by the composition root, on first use: the policy alone needs none
    from bastion_orchestrator.usecases.approvals import Approvals
    from bastion_orchestrator.usecases.create import CreateBastion
    from bastion_orchestrator.usecases.destroy import DestroyBastion
    from bastion_orchestrator.usecases.extend import ExtendBastion
    from bastion_orchestrator.usecases.listing import ListBastions
    from bastion_orchestrator.usecases.status import ShowStatus
    from bastion_orchestrator.usecases.verdict import DecideApproval

# Refusals a user caused are warnings; the rest (configuration, capacity, AWS) are errors.
USER_CAUSED: Final = (InvalidRequest, NotFound, Forbidden, LimitExceeded)


def refused(error: BastionError) -> Refused:
    """Log, count and answer a refusal: the one mapping of errors to outcomes."""
    level = logger.warning if isinstance(error, USER_CAUSED) else logger.error
    level("request refused", extra={"error": error.code, "reason": error.message})
    count("RequestsRefused")
    if isinstance(error, Forbidden):
        count("ForbiddenRequests")
    return Refused(error)


def failed(error: Exception) -> Refused:
    logger.exception("unexpected failure")
    count("InternalErrors")
    unreachable = _unreachable_endpoint(error)
    if unreachable:
        return Refused(
            InternalError(
                f"Could not reach the AWS endpoint {unreachable}. Nothing was left half-done "
                "that the sweep will not clean up; check the function's network path to it "
                "(VPC endpoints, NAT, AWS_ENDPOINT_URL) and retry.",
                endpoint=unreachable,
            )
        )
    return Refused(
        InternalError(
            "Unexpected failure; nothing was left half-done that the sweep will not clean up. "
            "Retry, and check the function's logs if it persists."
        )
    )


def _unreachable_endpoint(error: Exception) -> str | None:
    """The endpoint botocore could not connect to, as ``scheme://host[:port]``: its request
    URL's path and query (resource names, tokens) and any user info stay in the logs."""
    from urllib.parse import urlsplit

    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    if not isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return None
    try:
        url = urlsplit(str(error.kwargs.get("endpoint_url") or ""))
        port = f":{url.port}" if url.port else ""
    except ValueError:  # a port that is not a number: name nothing rather than guess
        return None
    return f"{url.scheme}://{url.hostname}{port}" if url.scheme and url.hostname else None


@dataclass(frozen=True)
class UseCases:
    """Each use case, built on first use (a status never builds the create)."""

    create: Callable[[], CreateBastion]
    status: Callable[[], ShowStatus]
    extend: Callable[[], ExtendBastion]
    destroy: Callable[[], DestroyBastion]
    listing: Callable[[], ListBastions]
    approvals: Callable[[], Approvals]
    verdict: Callable[[], DecideApproval]


@dataclass(frozen=True)
class Dispatcher:
    policy: Callable[[], Policy]
    cases: UseCases

    def decide(self, actor: Actor, action: Action) -> Decision:
        """The policy's answer alone, no AWS call: doors use it to refuse early."""
        return self.policy().decide(actor, action)

    def dispatch(self, actor: Actor, action: Action, *, request_id: str) -> Outcome:
        """Decide, act, answer. Never raises: every outcome is a result or a refusal."""
        logger.append_keys(actor=actor.label, door=actor.door, action=action.action)
        try:
            return self._run(self.decide(actor, action), actor, request_id)
        except BastionError as e:
            if isinstance(e, Forbidden):
                audit(
                    "request forbidden",
                    actor=actor.label,
                    action=action.action,
                    instance_id=getattr(action, "instance_id", None),
                    door=actor.door,
                    reason=e.message,
                )
            return refused(e)
        except Exception as e:
            return failed(e)

    def _run(self, decision: Decision, actor: Actor, request_id: str) -> Result:
        cases = self.cases
        match decision:
            case Launch(break_glass=True):
                return self._break_glass(decision, actor, request_id)
            case Launch():
                return cases.create()(decision.request, decision.owner, request_id=request_id)
            case RequestApproval():
                approvals = cases.approvals()
                return approvals.request(decision.request, decision.owner, actor, decision.hours)
            case Verdict():
                return cases.verdict()(decision, actor)
            case Listing():
                return cases.listing()(decision.user_id)
            case Act(verb="status"):
                return cases.status()(decision)
            case Act(verb="extend"):
                return self._extend(decision, actor, request_id)
            case Act():
                return cases.destroy()(decision, actor=actor.label)

    def _break_glass(self, launch: Launch, actor: Actor, request_id: str) -> Result:
        create = self.cases.create()
        result = create(launch.request, launch.owner, request_id=request_id, break_glass=True)
        hours, reason = launch.request.hours or 0.0, launch.request.reason or ""
        self.cases.approvals().news.break_glass(
            launch.owner, actor, result.facts.instance_id, hours, reason
        )
        return result

    def _extend(self, act: Act, actor: Actor, request_id: str) -> Result:
        """Within what was granted: extended. Past it, in a protected environment: a request
        to the approvers. A new break-glass: extended at once, and announced loudly."""
        from bastion_orchestrator.usecases.extend import BeyondGrant

        try:
            result = self.cases.extend()(act, actor=actor.label, request_id=request_id)
        except BeyondGrant as beyond:
            return self.cases.approvals().request_extension(
                beyond.bastion, beyond.until, beyond.by, actor
            )
        if isinstance(result, Extended) and result.break_glass is not None:
            who = Owner(actor.user_id or "operator", actor.username or "", arn=actor.arn)
            glass = result.break_glass
            self.cases.approvals().news.break_glass(
                who, actor, result.facts.instance_id, glass.hours, glass.reason, extended=True
            )
        return result
