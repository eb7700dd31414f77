"""Telling a Slack requester their bastion is ready, with short invocations only.

No invocation waits for a bastion's SSM agent. After a launch from Slack, the continuation
answers "launching" and puts ``READY_CHECKS`` one-shot schedules (``aws.scheduler``); each
delivers ``{"action": "ready", "instance_id", "attempt"}`` to the auto-terminator, which looks
once (``ssm:DescribeInstanceInformation``) and returns:

- online: the owner gets "ready" once; the ``ReadyNotified`` tag, claimed before telling, keeps
  a redelivered or later check silent;
- not online, an earlier check: nothing (the next one looks again);
- not online at the last check, ``READY_BUDGET`` after launch: "not ready", with the diagnosis.

A check for an instance without this deployment's tags, gone, already told, or long past its
launch (a very late redelivery) does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from bastion_orchestrator.clock import Clock
from bastion_orchestrator.domain.bastion import GONE_STATES, Bastion, Lifetime, Tag
from bastion_orchestrator.domain.ports import Instances, Notice, Notifier, SessionActivity
from bastion_orchestrator.observability import count, logger

# After launch: an agent usually registers within a minute; the last check gives up.
READY_CHECKS: Final = (timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=300))
READY_BUDGET: Final = READY_CHECKS[-1]
# A check delivered this long after launch is a stray redelivery: nobody waits for it now.
READY_STALE: Final = timedelta(minutes=30)


def check_times(launched: datetime) -> list[datetime]:
    """When the checks of a bastion launched at ``launched`` fire."""
    return [launched + after for after in READY_CHECKS]


@dataclass(frozen=True)
class Readiness:
    environment: str
    rules: Lifetime
    instances: Instances
    sessions: SessionActivity
    notifier: Notifier
    clock: Clock
    connection: Callable[[Bastion], Mapping[str, str]]  # the commands a "ready" message shows
    diagnose: Callable[[str], list[str]]  # why a bastion's agent cannot come online

    def check(self, instance_id: str, attempt: int) -> dict[str, Any]:
        bastion = self.instances.get(instance_id)  # None: gone, or not this deployment's
        if bastion is None or bastion.state in GONE_STATES:
            return _outcome(instance_id, attempt, "not_ours_or_gone")
        if bastion.tags.get(Tag.READY_NOTIFIED):
            return _outcome(instance_id, attempt, "already_notified")
        now = self.clock()
        age = now - bastion.created_at  # CreatedAt (the clock of the launch), capped by EC2's
        if age > READY_STALE:
            return _outcome(instance_id, attempt, "stale")
        agent = self.sessions.agent(instance_id)
        last = attempt >= len(READY_CHECKS) or age >= READY_BUDGET
        if not agent.ready and not last:
            return _outcome(instance_id, attempt, "not_yet")
        kind = "ready" if agent.ready else "not_ready"
        # Claim before telling: a redelivered check finds the claim and stays silent.
        self.instances.tag(instance_id, {Tag.READY_NOTIFIED: kind})
        if agent.ready:
            registered = agent.registered_at
            took = (registered - bastion.launch_time).total_seconds() if registered else None
            detail = f"{max(0, int(took))} s after launch" if took is not None else None
            count("BastionsReady")
        else:
            detail = self._why_not(instance_id, agent.status, int(age.total_seconds()))
            count("BastionsNotReady")
        self._notify(bastion, kind, detail)
        return _outcome(instance_id, attempt, kind)

    def _why_not(self, instance_id: str, status: str, waited: int) -> str:
        if status == "Unknown":
            return (
                "• its readiness could not be checked (ssm:DescribeInstanceInformation "
                "failed); `/infra bastion status` shows it."
            )
        problems = self._problems(instance_id) or [
            "nothing obvious: its instance profile, HTTPS egress and SSM endpoints look "
            "right. It may need another minute, or its OS did not boot (see its console "
            "output)."
        ]
        return f"after {waited} s:\n" + "\n".join(f"• {p}" for p in problems)

    def _problems(self, instance_id: str) -> list[str]:
        try:
            return self.diagnose(instance_id)
        except Exception as e:  # a diagnosis is a courtesy; never worth failing the check
            logger.warning("readiness diagnosis failed", extra={"error": repr(e)})
            return []

    def _notify(self, bastion: Bastion, kind: str, detail: str | None) -> None:
        notice = Notice(
            "ready" if kind == "ready" else "not_ready",
            bastion.user_id,
            bastion.instance_id,
            bastion.expires_at(self.rules),
            self.environment,
            connection=self.connection(bastion),
            detail=detail,
        )
        try:
            self.notifier.send(notice)
        except Exception as e:  # the claim stands: a lost message is counted, never retried
            count("NotificationFailures")
            logger.warning(
                "readiness message failed",
                extra={"instance_id": bastion.instance_id, "error": repr(e)},
            )


def _outcome(instance_id: str, attempt: int, outcome: str) -> dict[str, Any]:
    return {
        "success": True,
        "action": "ready",
        "instance_id": instance_id,
        "attempt": attempt,
        "outcome": outcome,
    }
