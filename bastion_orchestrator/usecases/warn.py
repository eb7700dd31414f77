"""Warn a bastion's owner that it expires soon: only a running bastion within the lead time,
and once per ``ExpiresAt`` (the ``WarnedFor`` tag records which expiry was announced)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from bastion_orchestrator.clock import iso
from bastion_orchestrator.domain.bastion import Tag, warning_due
from bastion_orchestrator.domain.ports import Notice
from bastion_orchestrator.observability import audit
from bastion_orchestrator.usecases.reaping import Reaping, result

WARNING_TOLERANCE: Final = timedelta(minutes=2)


def warn(r: Reaping, instance_id: str) -> dict[str, Any]:
    bastion = r.instances.get(instance_id)
    if bastion is None or bastion.state != "running":
        return result("warn", instance_id, "not_running")
    now = r.clock()
    if not warning_due(bastion, r.rules, now, WARNING_TOLERANCE):
        return result("warn", instance_id, "not_due")
    expires = bastion.expires_at(r.rules)
    if bastion.warned_for == iso(expires):
        return result("warn", instance_id, "already_warned")
    # Claim before telling: a retried event then finds the claim and stays silent.
    r.instances.tag(instance_id, {Tag.WARNED_FOR: iso(expires)})
    r.notify(Notice("warning", bastion.user_id, instance_id, expires, r.environment))
    audit(
        "bastion expiry warning sent",
        actor="auto-terminator",
        action="warn",
        instance_id=instance_id,
        user_id=bastion.user_id,
        expires_at=iso(expires),
    )
    return result("warn", instance_id, "warned", expires_at=iso(expires))
