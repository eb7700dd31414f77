"""The composition root: everything built from settings and a clock, once per container.

``handler.py`` and ``auto_terminate.py`` each hold one ``Root``; it builds nothing until an
event needs it, and each part at most once. Tests, the demo and the bench build their own
(``Root(clock=...)``): there are no module globals to reset.

Imports follow use: each part imports what it builds when first asked for, so a cold Slack
acknowledgement loads neither pydantic, nor the settings, nor a use case it never runs
(``make bench`` measures it against its floor).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bastion_orchestrator.composition.slack import SlackParts

if TYPE_CHECKING:
    from bastion_orchestrator.doors.http import HttpAnswer, HttpRequest, Route
    from bastion_orchestrator.doors.slack.decide import SlackForms
    from bastion_orchestrator.doors.slack.jobs import SlackJobs
    from bastion_orchestrator.usecases.create import CreateBastion
    from bastion_orchestrator.usecases.destroy import DestroyBastion
    from bastion_orchestrator.usecases.dispatcher import Dispatcher, UseCases
    from bastion_orchestrator.usecases.extend import ExtendBastion
    from bastion_orchestrator.usecases.listing import ListBastions
    from bastion_orchestrator.usecases.policy import Policy
    from bastion_orchestrator.usecases.readiness import Readiness
    from bastion_orchestrator.usecases.reaper import Reaper
    from bastion_orchestrator.usecases.status import ShowStatus
    from bastion_orchestrator.usecases.targets import Targets
    from bastion_orchestrator.usecases.verdict import DecideApproval


class Root(SlackParts):
    def orchestrator(self, event: Any, context: Any) -> dict[str, Any]:
        """The orchestrator's doors: the Function URL (Slack, IAM), the Slack door's sealed
        continuations, and direct payloads. Never raises for a request a caller sent."""
        from bastion_orchestrator.doors import http

        if isinstance(event, dict) and "requestContext" in event:
            return http.handle(event, context, self.http_doors())
        from bastion_orchestrator.doors import continuation

        if continuation.is_continuation(event):
            return continuation.handle(
                event,
                context,
                signing_secret=self.signing_secret,
                now=self.now(),
                resume=lambda job, ctx: self.slack_forms().resume(job, ctx),
            )
        from bastion_orchestrator.doors import direct

        return direct.handle(event, context.aws_request_id, self.dispatcher(), self.present)

    def scheduled(self, event: Any) -> dict[str, Any]:
        from bastion_orchestrator.doors import scheduled

        return scheduled.handle(event, self.reaper, self.expire_approvals, self.readiness)

    def http_doors(self) -> list[Route]:
        """The HTTP doors, in the order they are asked whether a request is theirs: the IAM
        URL's requests carry AWS's authorizer context (nobody on the public URL can add it);
        every other request must be Slack's, signed."""
        from bastion_orchestrator.doors.http import Route

        return [
            Route("iam", lambda request: request.iam is not None, self._iam_door),
            Route("slack", lambda request: True, self._slack_door),
        ]

    def _iam_door(self, request: HttpRequest, context: Any) -> HttpAnswer:
        from bastion_orchestrator.doors.iam import IamDoor

        return IamDoor(self.dispatcher(), self.present)(request, context)

    def _slack_door(self, request: HttpRequest, context: Any) -> HttpAnswer:
        from bastion_orchestrator.doors.slack.acknowledge import SlackDoor

        door = SlackDoor(
            forms=self.slack_forms,
            signing_secret=self.signing_secret,
            clock=self.now,
            enqueue=self.enqueue,
        )
        return door(request, context)

    def slack_forms(self) -> SlackForms:
        """The Slack door's deciding half (pydantic, settings, the use cases): built only when
        a request is decided, never for a slow verb's acknowledgement."""
        from bastion_orchestrator.doors.slack.decide import SlackForms

        return SlackForms(
            dispatcher=self.dispatcher(),
            jobs=self.slack_jobs,
            settings=lambda: self.settings,
            answer_back=self.answer_back,
            present=self.present,
            connection=lambda facts: self.guide.commands(facts.bastion),
        )

    def slack_jobs(self) -> SlackJobs:
        from bastion_orchestrator.doors.slack.jobs import SlackJobs

        return SlackJobs(
            dispatcher=self.dispatcher(),
            environment=lambda: self.settings.environment,
            clock=self.now,
            notifier=lambda: self.notifier,
            reply=self.reply,
            email_of=self.email_of,
            once=self.once,
            ready_checks=self.ready_checks,
            present=self.present,
            connection=lambda facts: self.guide.commands(facts.bastion),
        )

    def policy(self) -> Policy:
        from bastion_orchestrator.usecases.policy import Policy

        return Policy.of(self.settings)

    def dispatcher(self) -> Dispatcher:
        from bastion_orchestrator.usecases.dispatcher import Dispatcher

        return Dispatcher(policy=self.policy, cases=self.use_cases)

    @cached_property
    def use_cases(self) -> UseCases:
        from bastion_orchestrator.usecases.dispatcher import UseCases

        return UseCases(
            create=self.create,
            status=self.status,
            extend=self.extend,
            destroy=self.destroy,
            listing=self.listing,
            approvals=self.approvals,
            verdict=self.verdict,
        )

    @cached_property
    def targets(self) -> Targets:
        from bastion_orchestrator.usecases.targets import Targets

        s = self.settings
        return Targets(self.compute, f"{s.project_name}/{s.environment}")

    def create(self) -> CreateBastion:
        from bastion_orchestrator.usecases.create import CreateBastion

        return CreateBastion(
            settings=self.settings,
            rules=self.rules,
            compute=self.compute,
            schedules=self.schedules,
            clock=self.now,
            slots=self.slots,
            sleep=self.sleep,
        )

    def status(self) -> ShowStatus:
        from bastion_orchestrator.usecases.status import ShowStatus

        return ShowStatus(self.targets, self.sessions, self.rules, self.now)

    def extend(self) -> ExtendBastion:
        from bastion_orchestrator.usecases.extend import ExtendBastion, ExtendRules

        s = self.settings
        rules = ExtendRules(s.approval_required, s.break_glass_hours, s.max_lifetime_hours)
        return ExtendBastion(
            self.targets, self.compute, self.schedules, self.rules, rules, self.now
        )

    def destroy(self) -> DestroyBastion:
        from bastion_orchestrator.usecases.destroy import DestroyBastion

        return DestroyBastion(
            self.targets,
            self.compute,
            self.schedules,
            self.rules,
            self.now,
            slots=self.slots,
            forensics=self.forensics,
        )

    def listing(self) -> ListBastions:
        from bastion_orchestrator.usecases.listing import ListBastions

        return ListBastions(self.compute, self.rules, self.now)

    def verdict(self) -> DecideApproval:
        from bastion_orchestrator.usecases.verdict import DecideApproval

        return DecideApproval(self.approvals, self.create, self.extend)

    def ready_checks(self, instance_id: str, launched: datetime) -> None:
        """The one-shot schedules that tell a Slack requester when their bastion is ready."""
        from bastion_orchestrator.usecases.readiness import check_times

        self.schedules.put_ready_checks(instance_id, check_times(launched))

    def readiness(self) -> Readiness:
        from bastion_orchestrator.usecases.readiness import Readiness

        s = self.settings
        return Readiness(
            environment=s.environment,
            rules=self.rules,
            instances=self.compute,
            sessions=self.sessions,
            notifier=self.notifier,
            clock=self.now,
            connection=self.guide.commands,
            diagnose=lambda instance_id: self.reachability.problems(instance_id),  # noqa: PLW0108
        )

    def reaper(self) -> Reaper:
        from bastion_orchestrator.usecases.reaper import Reaper

        s = self.settings
        return Reaper(
            environment=s.environment,
            rules=self.rules,
            instances=self.compute,
            schedules=self.schedules,
            notifier=self.notifier,
            clock=self.now,
            slots=self.slots,
            sessions=self.sessions,
            idle=timedelta(minutes=s.idle_minutes) if s.idle_minutes else None,
            forensics=self.forensics,
        )
