"""Per-user launch slots in DynamoDB (the ``IDEMPOTENCY_TABLE``): concurrent creates for one
user launch exactly one instance.

A slot is an item ``slot#<project>#<environment>#<user>#<n>`` claimed with a conditional put
before ``RunInstances`` (free, expired, or already held by the same request), given the
instance id after the launch, and deleted when the bastion is terminated. Its ``expiration``
(the bastion's lifetime cap; also the table's TTL attribute) frees a slot whose release was
lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bastion_orchestrator.adapters.aws.clients import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_TAKEN = "ConditionalCheckFailedException"


class DynamoSlots:
    def __init__(
        self,
        client: Callable[[], DynamoDBClient],
        *,
        table: str,
        project: str,
        environment: str,
        per_user: int,
    ) -> None:
        self._client = client
        self._table = table
        self._scope = f"slot#{project}#{environment}"
        self._per_user = per_user

    def _key(self, user_id: str, n: int) -> dict[str, Any]:
        return {"id": {"S": f"{self._scope}#{user_id}#{n}"}}

    def acquire(self, user_id: str, token: str, until: datetime, now: datetime) -> int | None:
        """Claim a slot for this request; None when every slot is held by someone else."""
        for n in range(self._per_user):
            try:
                self._client().put_item(
                    TableName=self._table,
                    Item={
                        **self._key(user_id, n),
                        "token": {"S": token},
                        "user_id": {"S": user_id},
                        "expiration": {"N": str(int(until.timestamp()))},
                    },
                    ConditionExpression=(
                        "attribute_not_exists(id) OR expiration < :now OR #token = :token"
                    ),
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={
                        ":now": {"N": str(int(now.timestamp()))},
                        ":token": {"S": token},
                    },
                )
            except Exception as e:
                if error_code(e) == _TAKEN:
                    continue
                raise
            return n
        return None

    def record(self, user_id: str, n: int, token: str, instance_id: str, until: datetime) -> None:
        """The launch succeeded: hold the slot for the bastion's whole lifetime."""
        self._client().update_item(
            TableName=self._table,
            Key=self._key(user_id, n),
            UpdateExpression="SET instance_id = :iid, expiration = :until",
            ConditionExpression="#token = :token",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={
                ":iid": {"S": instance_id},
                ":token": {"S": token},
                ":until": {"N": str(int(until.timestamp()))},
            },
        )

    def holders(self, user_id: str) -> list[str]:
        """Instance ids recorded in the user's slots (a launch in flight has none yet)."""
        found: list[str] = []
        for n in range(self._per_user):
            item = (
                self._client()
                .get_item(TableName=self._table, Key=self._key(user_id, n), ConsistentRead=True)
                .get("Item", {})
            )
            if "instance_id" in item:
                found.append(item["instance_id"]["S"])
        return found

    def release(
        self, user_id: str, *, instance_id: str | None = None, token: str | None = None
    ) -> None:
        """Free the slot held by this instance (or, before a launch, by this request)."""
        attribute, value = ("instance_id", instance_id) if instance_id else ("token", token)
        for n in range(self._per_user):
            try:
                self._client().delete_item(
                    TableName=self._table,
                    Key=self._key(user_id, n),
                    ConditionExpression="#attr = :value",
                    ExpressionAttributeNames={"#attr": attribute},
                    ExpressionAttributeValues={":value": {"S": str(value)}},
                )
            except Exception as e:
                if error_code(e) == _TAKEN:
                    continue
                raise
            return
