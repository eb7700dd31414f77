"""Terminate a bastion when its termination schedule fires: only past ``ExpiresAt`` (an
extension wins). "Notify once" falls out of EC2's answer: only the call that saw the instance
alive (``PreviousState``) notifies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.bastion import GONE_STATES
from bastion_orchestrator.usecases.reaping import Reaping, doomed, result

# Scheduler fires at the minute; a clock a little behind must not skip a due termination.
TERMINATION_TOLERANCE: Final = timedelta(seconds=60)


def terminate(r: Reaping, instance_id: str) -> dict[str, Any]:
    bastion = r.instances.get(instance_id)
    if bastion is None:
        return result("terminate", instance_id, "already_gone")
    if bastion.state in GONE_STATES:
        # A retry after a terminate whose schedule clean-up failed: finish it, tell nobody.
        r.schedules.remove(instance_id)
        return result("terminate", instance_id, "already_gone")
    now = r.clock()
    expires = bastion.expires_at(r.rules)
    if expires > now + TERMINATION_TOLERANCE:
        return result("terminate", instance_id, "not_expired", expires_at=iso(expires))
    notified, _ = r.terminate_and_tell([doomed(bastion, r.rules)], cause="expiry", now=now)
    r.schedules.remove(instance_id)
    outcome = "terminated" if notified else "already_gone"
    return result("terminate", instance_id, outcome, expires_at=iso(expires))
