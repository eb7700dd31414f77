"""Slack jobs: the slow half of a Slack request, once its door has decided it may run.

The function's direct-invoke door is open to operators, so the asynchronous half must prove
that this deployment's Slack door queued it: the door seals (``app.sealing``) the signed Slack
request and the time it was queued, and the continuation door refuses anything unsigned,
altered, malformed or stale before the request is read again (``doors.slack_forms``), decided
under the policy of that moment, and run here.

A genuine continuation delivered twice launches once: its ``request_id`` (from the signed Slack
request) is the RunInstances client token and, with ``IDEMPOTENCY_TABLE``, the Powertools
idempotency key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from bastion_orchestrator.app.dispatcher import Dispatcher
from bastion_orchestrator.clock import Clock, parse_iso
from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.domain.ids import USER_ID
from bastion_orchestrator.domain.ports import Notice, NoticeKind, Notifier
from bastion_orchestrator.observability import count, logger
from models import Approve, Create, Deny, Destroy, SlackJob, Status

# After a create, the requester is told when the bastion is ready, within this budget (and
# the invocation's remaining time, less a margin to report).
READY_WAIT: Final = timedelta(minutes=3)
READY_POLL_SECONDS: Final = 5.0
_REPORT_MARGIN: Final = timedelta(seconds=15)


def _budget(context: Any) -> timedelta:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return READY_WAIT
    left = timedelta(milliseconds=int(remaining())) - _REPORT_MARGIN
    return max(timedelta(0), min(READY_WAIT, left))


Reply = Callable[[str, Notice, bool], None]
# Runs a job at most once per request_id: (job, Lambda context, the work) -> its result.
Once = Callable[[SlackJob, Any, Callable[[SlackJob], dict[str, Any]]], dict[str, Any]]


@dataclass(frozen=True)
class SlackJobs:
    """Runs a verified job through the dispatcher, then tells the user where they asked
    (``response_url``) and in a direct message. Delivery failures never undo the work."""

    dispatcher: Dispatcher
    environment: Callable[[], str]
    clock: Clock
    notifier: Callable[[], Notifier]
    reply: Reply
    email_of: Callable[[str], str | None]
    once: Callable[[], Once | None]  # Powertools idempotency, with IDEMPOTENCY_TABLE
    diagnose: Callable[[str], list[str]]  # why a bastion's agent cannot come online
    sleep: Callable[[float], None]

    def run(self, job: SlackJob, context: Any) -> dict[str, Any]:
        guard = self.once()
        budget = _budget(context)
        return (
            guard(job, context, lambda j: self._run(j, budget)) if guard else self._run(job, budget)
        )

    def _run(self, job: SlackJob, budget: timedelta) -> dict[str, Any]:
        action = job.action
        # The e-mail tags a new bastion, and tells an approver from an IAM requester.
        email = self.email_of(job.user_id) if isinstance(action, Create | Approve) else None
        actor = Actor("slack", job.user_id, username=job.username, email=email)
        result = self.dispatcher.dispatch(actor, action, request_id=job.request_id)
        if result.get("pending_approval"):
            # The requester was told (by DM) when the request was stored; answer here too.
            waits = "waits for another person to approve it"
            self._deliver(job, self._approval_notice(job, result, "pending", waits), dm=False)
        elif isinstance(action, Create) and result.get("success"):
            self._watch(job, actor, result, budget)
        elif isinstance(action, Approve | Deny):
            self._decided(job, result, budget)
        else:
            self._deliver(job, self._notice(job, result))
        return result

    def _decided(self, job: SlackJob, result: dict[str, Any], budget: timedelta) -> None:
        """The approver hears what happened; a Slack requester is told launching, then ready."""
        if not result.get("success"):
            self._deliver(job, self._notice(job, result), dm=False)
            return
        status = result.get("approval_status")
        launched = result.get("instance_id")
        what = f"{status}" + (f": bastion {launched} launching" if launched else "")
        self._deliver(job, self._approval_notice(job, result, "decided", what), dm=False)
        requester = str(result.get("requester_id", ""))
        if (
            launched
            and result.get("requester_door") == "slack"
            and re.fullmatch(USER_ID, requester)
        ):
            for_requester = job.model_copy(update={"user_id": requester, "response_url": None})
            self._watch(for_requester, Actor("slack", requester), result, budget)

    def _approval_notice(
        self, job: SlackJob, result: dict[str, Any], cause: str, what: str | None = None
    ) -> Notice:
        return Notice(
            "approval",
            job.user_id,
            str(result.get("approval_id", "(request)")),
            parse_iso(result.get("expires_at")),
            self.environment(),
            cause=cause,
            detail=what or str(result.get("message", "")),
        )

    def _watch(
        self, job: SlackJob, actor: Actor, created: dict[str, Any], budget: timedelta
    ) -> None:
        """Tell the requester it is launching, then when it is really ready (its SSM agent is
        online), or, if it is not within the budget, why it probably is not."""
        iid = created["instance_id"]
        status = Status(action="status", instance_id=iid, user_id=job.user_id)
        deadline = self.clock() + budget
        view = self.dispatcher.dispatch(actor, status, request_id=job.request_id)
        if not view.get("ready"):
            self._deliver(job, self._notice(job, created, kind="launching"))
        while self._waiting(view) and self.clock() < deadline:
            self.sleep(READY_POLL_SECONDS)
            view = self.dispatcher.dispatch(actor, status, request_id=job.request_id)
        if view.get("ssm_status") == "Unknown":
            notice = self._notice(
                job,
                created,
                kind="not_ready",
                detail="• its readiness could not be checked (ssm:DescribeInstanceInformation "
                "failed); `/infra bastion status` shows it.",
            )
        elif view.get("ready"):
            took = view.get("seconds_to_ready")
            notice = self._notice(
                job,
                created,
                kind="ready",
                detail=f"{took} s after launch" if took is not None else None,
            )
            count("BastionsReady")
        else:
            waited = int((budget - max(deadline - self.clock(), timedelta(0))).total_seconds())
            problems = self._problems(iid) or [
                "nothing obvious: its instance profile, HTTPS egress and SSM endpoints look "
                "right. It may need another minute, or its OS did not boot (see its console "
                "output)."
            ]
            notice = self._notice(
                job,
                created,
                kind="not_ready",
                detail=f"after {waited} s:\n" + "\n".join(f"• {p}" for p in problems),
            )
            count("BastionsNotReady")
        self._deliver(job, notice)

    @staticmethod
    def _waiting(view: dict[str, Any]) -> bool:
        """Worth another look: found, not ready, and SSM answers (Unknown: it did not)."""
        return (
            bool(view.get("success"))
            and not view.get("ready")
            and (view.get("ssm_status") != "Unknown")
        )

    def _problems(self, instance_id: str) -> list[str]:
        try:
            return self.diagnose(instance_id)
        except Exception as e:  # a diagnosis is a courtesy; never worth failing the job
            logger.warning("readiness diagnosis failed", extra={"error": repr(e)})
            return []

    def _notice(
        self,
        job: SlackJob,
        result: dict[str, Any],
        *,
        kind: NoticeKind | None = None,
        detail: str | None = None,
    ) -> Notice:
        environment = self.environment()
        instance_id = result.get("instance_id") or getattr(job.action, "instance_id", None)
        if not result.get("success"):
            return Notice(
                "failed",
                job.user_id,
                instance_id or "(none)",
                None,
                environment,
                detail=str(result.get("message")),
            )
        expires = parse_iso(result.get("expires_at"))
        if kind is not None or isinstance(job.action, Create):  # a new bastion's progress
            return Notice(
                kind or "created",
                job.user_id,
                result["instance_id"],
                expires,
                environment,
                connection=result.get("connection", {}),
                detail=detail,
            )
        if isinstance(job.action, Destroy):
            created = parse_iso(result.get("created_at"))
            lived = int((self.clock() - created).total_seconds()) if created else None
            return Notice(
                "terminated",
                job.user_id,
                result["instance_id"],
                expires,
                environment,
                cause="destroy",
                lived_seconds=lived,
            )
        return Notice(
            "extended",
            job.user_id,
            result["instance_id"],
            expires,
            environment,
            detail=result.get("message"),
        )

    def _deliver(self, job: SlackJob, notice: Notice, *, dm: bool = True) -> None:
        if job.response_url:
            try:
                self.reply(job.response_url, notice, job.replace_original)
            except Exception as e:
                count("NotificationFailures")
                logger.warning("response_url post failed", extra={"error": repr(e)})
        if not dm:
            return
        try:
            self.notifier().send(notice)
        except Exception as e:
            count("NotificationFailures")
            logger.warning("direct message failed", extra={"error": repr(e)})
