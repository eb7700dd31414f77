"""Approval requests in DynamoDB (the ``IDEMPOTENCY_TABLE`` the module creates).

Items ``approval#<project>#<environment>#<id>`` hold a request; ``approval-user#…#<user>``
points at a user's pending one, so asking twice returns the same request. Every status change
is one conditional update on ``#status = pending`` (and, for a decision, before the request's
expiry): whoever's write lands first decides, and everyone after finds it decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from bastion_orchestrator.adapters.aws.clients import error_code
from bastion_orchestrator.clock import iso, parse_iso
from bastion_orchestrator.domain.approval import Approval, Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_TAKEN: Final = "ConditionalCheckFailedException"
# Decided requests are kept this long for the audit trail (the table's TTL deletes them).
KEEP_DECIDED: Final = timedelta(days=30)


class DynamoApprovals:
    def __init__(
        self, client: Callable[[], DynamoDBClient], *, table: str, project: str, environment: str
    ) -> None:
        self._client = client
        self._table = table
        self._scope = f"{project}#{environment}"

    def _key(self, approval_id: str) -> dict[str, Any]:
        return {"id": {"S": f"approval#{self._scope}#{approval_id}"}}

    def _pointer(self, user_id: str) -> dict[str, Any]:
        return {"id": {"S": f"approval-user#{self._scope}#{user_id}"}}

    def add(self, approval: Approval) -> Approval:
        """Store a new request, or answer the requester's pending one (one at a time)."""
        try:
            self._client().put_item(
                TableName=self._table,
                Item=self._pointer_to(approval),
                ConditionExpression="attribute_not_exists(id) OR expiration < :now",
                ExpressionAttributeValues={
                    ":now": {"N": str(int(approval.created_at.timestamp()))}
                },
            )
        except Exception as e:
            if error_code(e) != _TAKEN:
                raise
            existing = self._pending_of(approval.pointer)
            if existing is not None and existing.is_open(approval.created_at):
                return existing
            # the pointer outlived its request: take it over
            self._client().put_item(TableName=self._table, Item=self._pointer_to(approval))
        self._client().put_item(
            TableName=self._table,
            Item=_item(self._key(approval.id), approval),
            ConditionExpression="attribute_not_exists(id)",
        )
        return approval

    def _pointer_to(self, approval: Approval) -> dict[str, Any]:
        """The item that points the requester (or the bastion) at this request until it
        expires."""
        return {
            **self._pointer(approval.pointer),
            "approval_id": {"S": approval.id},
            "expiration": {"N": str(int(approval.expires_at.timestamp()))},
        }

    def get(self, approval_id: str) -> Approval | None:
        found = self._client().get_item(
            TableName=self._table, Key=self._key(approval_id), ConsistentRead=True
        )
        return _approval(found["Item"]) if "Item" in found else None

    def _pending_of(self, user_id: str) -> Approval | None:
        pointer = self._client().get_item(
            TableName=self._table, Key=self._pointer(user_id), ConsistentRead=True
        )
        if "Item" not in pointer:
            return None
        return self.get(pointer["Item"]["approval_id"]["S"])

    def decide(
        self,
        approval_id: str,
        status: Status,
        *,
        by: str,
        now: datetime,
        reason: str | None = None,
        before_expiry: bool = True,
    ) -> bool:
        """Move a pending request to ``status``; False when someone else already decided it
        (or, with ``before_expiry``, when it has expired)."""
        update, condition, values = _decision(status, by, now, reason, before_expiry)
        try:
            self._client().update_item(
                TableName=self._table,
                Key=self._key(approval_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except Exception as e:
            if error_code(e) == _TAKEN:
                return False
            raise
        approval = self.get(approval_id)
        if approval is not None:
            self._release_pointer(approval.pointer, approval_id)
        return True

    def _release_pointer(self, user_id: str, approval_id: str) -> None:
        """The user may ask again: drop their pointer, unless it already points elsewhere."""
        try:
            self._client().delete_item(
                TableName=self._table,
                Key=self._pointer(user_id),
                ConditionExpression="approval_id = :id",
                ExpressionAttributeValues={":id": {"S": approval_id}},
            )
        except Exception as e:
            if error_code(e) != _TAKEN:
                raise

    def annotate(self, approval_id: str, **fields: str) -> None:
        """Record the approval message (channel, ts) or the launched instance_id."""
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": {"S": v} for k, v in fields.items()}
        self._client().update_item(
            TableName=self._table,
            Key=self._key(approval_id),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def overdue(self, now: datetime) -> Iterator[Approval]:
        """Pending requests of this deployment whose time is up (the sweep expires them)."""
        pages = (
            self._client()
            .get_paginator("scan")
            .paginate(
                TableName=self._table,
                FilterExpression="begins_with(id, :scope) AND #status = :pending "
                "AND expires_epoch <= :now",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":scope": {"S": f"approval#{self._scope}#"},
                    ":pending": {"S": "pending"},
                    ":now": {"N": str(int(now.timestamp()))},
                },
            )
        )
        for page in pages:
            for item in page.get("Items", []):
                yield _approval(item)


def _decision(
    status: Status, by: str, now: datetime, reason: str | None, before_expiry: bool
) -> tuple[str, str, dict[str, Any]]:
    """The update, its condition (still pending, and before the expiry if asked) and values."""
    condition = "#status = :pending"
    values: dict[str, Any] = {
        ":pending": {"S": "pending"},
        ":status": {"S": status},
        ":by": {"S": by},
        ":at": {"S": iso(now)},
        ":ttl": {"N": str(int((now + KEEP_DECIDED).timestamp()))},
    }
    if before_expiry:
        condition += " AND expires_epoch > :now"
        values[":now"] = {"N": str(int(now.timestamp()))}
    update = "SET #status = :status, decided_by = :by, decided_at = :at, expiration = :ttl"
    if reason:
        update += ", reason = :reason"
        values[":reason"] = {"S": reason}
    return update, condition, values


def _item(key: dict[str, Any], a: Approval) -> dict[str, Any]:
    item: dict[str, Any] = {
        **key,
        "approval_id": {"S": a.id},
        "status": {"S": a.status},
        "environment": {"S": a.environment},
        "requester_id": {"S": a.requester_id},
        "requester_label": {"S": a.requester_label},
        "door": {"S": a.door},
        "request": {"S": json.dumps(a.request, sort_keys=True)},
        "owner": {"S": json.dumps(a.owner, sort_keys=True)},
        "hours": {"N": repr(a.hours)},
        "created_at": {"S": iso(a.created_at)},
        "expires_at": {"S": iso(a.expires_at)},
        "expires_epoch": {"N": str(int(a.expires_at.timestamp()))},
        # kept past its expiry for the audit trail; the table's TTL deletes it after that
        "expiration": {"N": str(int((a.expires_at + KEEP_DECIDED).timestamp()))},
    }
    if a.requester_email:
        item["requester_email"] = {"S": a.requester_email}
    if a.kind != "create":
        item["kind"] = {"S": a.kind}
        item["instance_id"] = {"S": a.instance_id or ""}
    return item


def _approval(item: dict[str, Any]) -> Approval:
    def text(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return str(value) if value is not None else None

    created = parse_iso(text("created_at"))
    expires = parse_iso(text("expires_at"))
    assert created is not None and expires is not None
    approval = Approval(
        id=text("approval_id") or "",
        status=text("status") or "pending",  # type: ignore[arg-type]
        environment=text("environment") or "",
        requester_id=text("requester_id") or "",
        requester_label=text("requester_label") or "",
        requester_email=text("requester_email"),
        door=text("door") or "",
        request=json.loads(text("request") or "{}"),
        owner=json.loads(text("owner") or "{}"),
        hours=float(item.get("hours", {}).get("N", "0")),
        created_at=created,
        expires_at=expires,
    )
    return replace(
        approval,
        decided_by=text("decided_by"),
        decided_at=parse_iso(text("decided_at")),
        reason=text("reason"),
        instance_id=text("instance_id"),
        channel=text("channel"),
        ts=text("ts"),
        kind="extend" if text("kind") == "extend" else "create",
    )
