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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bastion_orchestrator.clock import Clock, iso
from bastion_orchestrator.domain.actor import Actor
from bastion_orchestrator.domain.ids import USER_ID
from bastion_orchestrator.domain.ports import Notice, NoticeKind, Notifier
from bastion_orchestrator.domain.results import (
    AlreadyExtended,
    Created,
    Decided,
    Destroyed,
    Extended,
    Facts,
    Outcome,
    Pending,
    Refused,
)
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.usecases.dispatcher import Dispatcher
from bastion_orchestrator.usecases.readiness import READY_BUDGET
from models import Approve, Create, Deny, SlackJob

Reply = Callable[[str, Notice, bool], None]
# Runs a job at most once per request_id: (job, Lambda context, the work) -> its result.
Once = Callable[[SlackJob, Any, Callable[[SlackJob], dict[str, Any]]], dict[str, Any]]


@dataclass(frozen=True)
class SlackJobs:
    """Runs a verified job through the dispatcher, then tells the user where they asked
    (``response_url``) and in a direct message. Delivery failures never undo the work.
    Answers the contract's JSON (what the idempotency store keeps)."""

    dispatcher: Dispatcher
    environment: Callable[[], str]
    clock: Clock
    notifier: Callable[[], Notifier]
    reply: Reply
    email_of: Callable[[str], str | None]
    once: Callable[[], Once | None]  # Powertools idempotency, with IDEMPOTENCY_TABLE
    ready_checks: Callable[[str, datetime], None]  # (instance id, launched): schedules checks
    present: Callable[[Outcome], dict[str, Any]]  # the contract's JSON
    connection: Callable[[Facts], Mapping[str, str]]  # the commands a message shows

    def run(self, job: SlackJob, context: Any) -> dict[str, Any]:
        guard = self.once()
        return guard(job, context, self._run) if guard else self._run(job)

    def _run(self, job: SlackJob) -> dict[str, Any]:
        action = job.action
        # The e-mail tags a new bastion, and tells an approver from an IAM requester.
        email = self.email_of(job.user_id) if isinstance(action, Create | Approve) else None
        actor = Actor("slack", job.user_id, username=job.username, email=email)
        outcome = self.dispatcher.dispatch(actor, action, request_id=job.request_id)
        self.tell(job, outcome)
        return self.present(outcome)

    def tell(self, job: SlackJob, outcome: Outcome) -> None:
        """Where the user asked, and by direct message: what the outcome means for them."""
        if isinstance(outcome, Pending):
            # The requester was told (by DM) when the request was stored; answer here too.
            waits = "waits for another person to approve it"
            notice = self._approval_notice(job, outcome.approval.id, "pending", waits)
            self._deliver(job, replace(notice, expires_at=outcome.approval.expires_at), dm=False)
        elif isinstance(outcome, Created):
            self._launched(job, outcome)
        elif isinstance(action := job.action, Approve | Deny):
            self._decided(job, outcome, action)
        else:
            self._deliver(job, self._notice(job, outcome))

    def _decided(self, job: SlackJob, outcome: Outcome, action: Approve | Deny) -> None:
        """The approver hears what happened; a Slack requester is told launching, then ready."""
        if not isinstance(outcome, Decided) or outcome.stale:
            self._deliver(job, self._notice(job, outcome), dm=False)
            return
        done = outcome.outcome
        facts = done.facts if done is not None else None
        extension = outcome.approval.kind == "extend"
        what: str = outcome.approval.status
        if facts is not None:
            did = f"extended to {iso(facts.expires_at)}" if extension else "launching"
            what += f": bastion {facts.instance_id} {did}"
        notice = self._approval_notice(job, outcome.approval.id, "decided", what)
        expires = facts.expires_at if facts is not None else None
        self._deliver(job, replace(notice, expires_at=expires), dm=False)
        self._tell_requester(job, outcome)

    def _tell_requester(self, job: SlackJob, decided: Decided) -> None:
        requester, done = decided.approval.requester_id, decided.outcome
        if done is None or decided.approval.door != "slack":
            return
        if not re.fullmatch(USER_ID, requester):
            return
        for_requester = job.model_copy(update={"user_id": requester, "response_url": None})
        if isinstance(done, Created):
            self._launched(for_requester, done)
        else:  # the owner hears the new expiry; the bastion was ready already
            self._deliver(for_requester, self._notice(for_requester, done))

    def _approval_notice(self, job: SlackJob, approval_id: str, cause: str, what: str) -> Notice:
        return Notice(
            "approval", job.user_id, approval_id, None, self.environment(), cause=cause, detail=what
        )

    def _launched(self, job: SlackJob, created: Created) -> None:
        """The requester's existing bastion is answered at once; a new one is "launching",
        and its readiness checks are scheduled (they tell the requester; nobody waits here)."""
        if created.existing:
            # One post, no check: a bastion launched moments ago is still "launching" (its
            # own launch scheduled the checks that will tell), an older one is shown ready.
            young = self.clock() - created.facts.created_at < READY_BUDGET
            kind: NoticeKind = "launching" if young else "created"
            self._deliver(job, self._progress(job, created.facts, kind))
            return
        self._deliver(job, self._progress(job, created.facts, "launching"))
        try:
            self.ready_checks(created.facts.instance_id, self.clock())
        except Exception as e:  # the bastion stands; `/infra bastion status` still tells
            count("ReadyCheckScheduleFailures")
            logger.warning("readiness checks not scheduled", extra={"error": repr(e)})

    def _progress(self, job: SlackJob, facts: Facts, kind: NoticeKind) -> Notice:
        """A new bastion's progress: launching, or created (ready to connect)."""
        return Notice(
            kind,
            job.user_id,
            facts.instance_id,
            facts.expires_at,
            self.environment(),
            connection=self.connection(facts),
        )

    def _notice(self, job: SlackJob, outcome: Outcome) -> Notice:
        environment = self.environment()
        if isinstance(outcome, Refused) or (isinstance(outcome, Decided) and outcome.stale):
            return self._failed(job, outcome)
        facts = _facts_of(outcome)
        if isinstance(outcome, Destroyed):
            lived = int((self.clock() - facts.created_at).total_seconds())
            return Notice(
                "terminated",
                job.user_id,
                facts.instance_id,
                facts.expires_at,
                environment,
                cause="destroy",
                lived_seconds=lived,
            )
        message = outcome.message if isinstance(outcome, Extended | AlreadyExtended) else None
        return Notice(
            "extended",
            job.user_id,
            facts.instance_id,
            facts.expires_at,
            environment,
            detail=message,
        )

    def _failed(self, job: SlackJob, outcome: Refused | Decided) -> Notice:
        named = getattr(job.action, "instance_id", None)
        if isinstance(outcome, Refused):
            message = outcome.error.message
            named = outcome.error.details.get("instance_id") or named
        else:
            message = outcome.message or ""
        return Notice(
            "failed", job.user_id, named or "(none)", None, self.environment(), detail=message
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


def _facts_of(outcome: Outcome) -> Facts:
    facts = getattr(outcome, "facts", None)
    if not isinstance(facts, Facts):  # pragma: no cover - every other outcome carries facts
        raise TypeError(f"no bastion in {outcome!r}")
    return facts
