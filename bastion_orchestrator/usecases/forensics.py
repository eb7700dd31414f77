"""Forensic snapshots (``SNAPSHOT_ON_TERMINATE``): the root volume is snapshotted before any
termination (destroy, expiry, sweep, idle), tagged with owner, reason and cause, and deleted
after ``SNAPSHOT_RETENTION_DAYS`` by the sweep. A snapshot failure is logged and counted and
never stops the termination: a bastion outliving its welcome is the worse outcome."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bastion_orchestrator.domain.bastion import Bastion
from bastion_orchestrator.domain.ports import Evidence, Snapshots
from bastion_orchestrator.observability import audit, count, logger


def evidence_of(bastion: Bastion) -> Evidence | None:
    """What to snapshot of a bastion; None when EC2 showed no root volume."""
    if bastion.root_volume_id is None:
        return None
    return Evidence(
        bastion.instance_id,
        bastion.root_volume_id,
        bastion.user_id,
        bastion.username,
        bastion.reason,
    )


@dataclass(frozen=True)
class Forensics:
    snapshots: Snapshots | None  # None: SNAPSHOT_ON_TERMINATE is off
    retention: timedelta

    def preserve(self, evidence: Iterable[Evidence | None], cause: str, now: datetime) -> int:
        """Snapshot each volume; answers how many snapshots were started. Never raises."""
        if self.snapshots is None:
            return 0
        taken = 0
        for item in evidence:
            if item is None:
                continue
            try:
                snapshot_id = self.snapshots.take(item, cause, now)
            except Exception as e:
                count("SnapshotFailures")
                logger.error(
                    "forensic snapshot failed; terminating anyway",
                    extra={"instance_id": item.instance_id, "error": repr(e)},
                )
                continue
            taken += 1
            audit(
                "forensic snapshot taken",
                actor="bastion-orchestrator",
                action="snapshot",
                instance_id=item.instance_id,
                snapshot_id=snapshot_id,
                cause=cause,
                user_id=item.user_id,
            )
        if taken:
            count("SnapshotsTaken", taken)
        return taken

    def prune(self, now: datetime) -> int:
        """Delete our snapshots older than the retention; answers how many."""
        if self.snapshots is None:
            return 0
        deleted = 0
        for snapshot_id in list(self.snapshots.older_than(now - self.retention)):
            self.snapshots.delete(snapshot_id)
            deleted += 1
        if deleted:
            logger.info("expired forensic snapshots deleted", extra={"deleted": deleted})
        return deleted
