"""EBS snapshots: a bastion's root volume kept before its termination, when forensics is on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from bastion_orchestrator.adapters.aws.clients import error_code
from bastion_orchestrator.clock import iso, to_utc
from bastion_orchestrator.domain.bastion import MANAGED_BY, Tag
from bastion_orchestrator.domain.ports import Evidence

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


class Ec2Snapshots:
    """Forensic snapshots of bastions' root volumes, tagged as this deployment's."""

    def __init__(self, client: Callable[[], EC2Client], *, project: str, environment: str) -> None:
        self._client = client
        self._project = project
        self._environment = environment

    def take(self, evidence: Evidence, cause: str, now: datetime) -> str:
        tags = {
            Tag.MANAGED_BY: MANAGED_BY,
            Tag.PROJECT: self._project,
            Tag.ENVIRONMENT: self._environment,
            "Cause": cause,
            "SourceInstanceId": evidence.instance_id,
            Tag.CREATED_AT: iso(now),
        }
        if evidence.user_id:
            tags[Tag.USER_ID] = evidence.user_id
        if evidence.username:
            tags[Tag.USERNAME] = evidence.username
        if evidence.reason:
            tags[Tag.REASON] = evidence.reason
        response = self._client().create_snapshot(
            VolumeId=evidence.volume_id,
            Description=f"bastion-orchestrator: {evidence.instance_id} before its termination "
            f"({cause})",
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
        return response["SnapshotId"]

    def older_than(self, moment: datetime) -> Iterator[str]:
        pages = (
            self._client()
            .get_paginator("describe_snapshots")
            .paginate(
                OwnerIds=["self"],
                Filters=[
                    {"Name": f"tag:{Tag.MANAGED_BY}", "Values": [MANAGED_BY]},
                    {"Name": f"tag:{Tag.PROJECT}", "Values": [self._project]},
                    {"Name": f"tag:{Tag.ENVIRONMENT}", "Values": [self._environment]},
                ],
            )
        )
        for page in pages:
            for snapshot in page.get("Snapshots", []):
                started = snapshot.get("StartTime")
                if isinstance(started, datetime) and to_utc(started) < moment:
                    yield snapshot["SnapshotId"]

    def delete(self, snapshot_id: str) -> None:
        try:
            self._client().delete_snapshot(SnapshotId=snapshot_id)
        except Exception as e:
            if error_code(e) != "InvalidSnapshot.NotFound":
                raise
