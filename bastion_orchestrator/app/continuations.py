"""Slack jobs: the slow half of a Slack request, once its door has decided it may run.

The function's direct-invoke door is open to operators, so the asynchronous half must prove
that this deployment's Slack door queued it: the door seals (``app.sealing``) the signed Slack
request and the time it was queued, and the continuation door refuses anything unsigned,
altered, malformed or stale before the request is read again (``doors.slack_forms``), decided
under the policy of that moment, and run here.

A genuine continuation delivered twice launches once: its ``request_id`` (from the signed Slack
request) is the RunInstances client token and, with ``IDEMPOTENCY_TABLE``, the Powertools
idempotency key.

No job waits for a bastion to come online: a launch is answered "launching" and a few one-shot
readiness checks are scheduled (``app.readiness``), each a short invocation of the
auto-terminator; a create answered with the requester's existing bastion is answered at once.
One Slack create holds an execution for about a second, however slow its bastion.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bastion_orchestrator.app.dispatcher import Dispatcher
from bastion_orchestrator.app.readiness import READY_BUDGET
from bastion_orchestrator.clock import Clock, parse_iso
from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.domain.ids import USER_ID
from bastion_orchestrator.domain.ports import Notice, NoticeKind, Notifier
from bastion_orchestrator.observability import count, logger
from models import Approve, Create, Deny, Destroy, SlackJob

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
    ready_checks: Callable[[str, datetime], None]  # (instance id, launched): schedules checks

    def run(self, job: SlackJob, context: Any) -> dict[str, Any]:
        guard = self.once()
        return guard(job, context, self._run) if guard else self._run(job)

    def _run(self, job: SlackJob) -> dict[str, Any]:
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
            self._launched(job, result)
        elif isinstance(action, Approve | Deny):
            self._decided(job, result)
        else:
            self._deliver(job, self._notice(job, result))
        return result

    def _decided(self, job: SlackJob, result: dict[str, Any]) -> None:
        """The approver hears what happened; a Slack requester is told launching, then ready."""
        if not result.get("success"):
            self._deliver(job, self._notice(job, result), dm=False)
            return
        status = result.get("approval_status")
        instance_id = result.get("instance_id")
        extension = result.get("approval_kind") == "extend"
        done = f"extended to {result.get('expires_at')}" if extension else "launching"
        what = f"{status}" + (f": bastion {instance_id} {done}" if instance_id else "")
        self._deliver(job, self._approval_notice(job, result, "decided", what), dm=False)
        requester = str(result.get("requester_id", ""))
        if (
            instance_id
            and result.get("requester_door") == "slack"
            and re.fullmatch(USER_ID, requester)
        ):
            for_requester = job.model_copy(update={"user_id": requester, "response_url": None})
            if extension:  # the owner hears the new expiry; the bastion was ready already
                self._deliver(for_requester, self._notice(for_requester, result))
            else:
                self._launched(for_requester, result)

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

    def _launched(self, job: SlackJob, created: dict[str, Any]) -> None:
        """The requester's existing bastion is answered at once; a new one is "launching",
        and its readiness checks are scheduled (they tell the requester; nobody waits here)."""
        if created.get("existing"):
            # One post, no check: a bastion launched moments ago is still "launching" (its
            # own launch scheduled the checks that will tell), an older one is shown ready.
            launched = parse_iso(created.get("created_at"))
            young = launched is not None and self.clock() - launched < READY_BUDGET
            self._deliver(job, self._notice(job, created, kind="launching" if young else None))
            return
        self._deliver(job, self._notice(job, created, kind="launching"))
        try:
            self.ready_checks(created["instance_id"], self.clock())
        except Exception as e:  # the bastion stands; `/infra bastion status` still tells
            count("ReadyCheckScheduleFailures")
            logger.warning("readiness checks not scheduled", extra={"error": repr(e)})

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
