"""status: one bastion, and whether its SSM agent is online (1 call, 2 with the agent)."""

from __future__ import annotations

from dataclasses import dataclass

from bastion_orchestrator.clock import Clock
from bastion_orchestrator.domain.bastion import Lifetime
from bastion_orchestrator.domain.ports import SessionActivity
from bastion_orchestrator.domain.results import Facts, Inspected
from bastion_orchestrator.usecases.policy import Act
from bastion_orchestrator.usecases.targets import Targets


@dataclass(frozen=True)
class ShowStatus:
    targets: Targets
    sessions: SessionActivity
    rules: Lifetime
    clock: Clock

    def __call__(self, act: Act) -> Inspected:
        bastion = self.targets.find(act)
        facts = Facts.of(bastion, self.rules, self.clock())
        if bastion.state != "running":
            return Inspected(facts, "NotRegistered", ready=False)
        agent = self.sessions.agent(bastion.instance_id)
        took = None
        if agent.ready and agent.registered_at:
            # From launch to the agent's registration: how long "ready" took.
            took = max(0, int((agent.registered_at - bastion.launch_time).total_seconds()))
        return Inspected(facts, agent.status, ready=agent.ready, seconds_to_ready=took)
