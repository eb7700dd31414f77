"""Powertools idempotency over the module's DynamoDB table: a job runs once per request_id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models import SlackJob

Work = Callable[[SlackJob], dict[str, Any]]


def once_per_request(
    table: str, client: Callable[[], Any]
) -> Callable[[SlackJob, Any, Work], dict[str, Any]]:
    """A retried or redelivered job returns the stored result and tells nobody twice. The
    Lambda context is registered so that a job that timed out frees its key when the
    invocation's time is up, instead of blocking its own retries for the record's lifetime."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    store = DynamoDBPersistenceLayer(table_name=table, boto3_client=client())
    config = IdempotencyConfig(event_key_jmespath="request_id", expires_after_seconds=3600)

    @idempotent_function(data_keyword_argument="job", persistence_store=store, config=config)  # type: ignore[untyped-decorator]
    def guarded(job: SlackJob, work: Work) -> dict[str, Any]:
        return work(job)

    def run(job: SlackJob, context: Any, work: Work) -> dict[str, Any]:
        if hasattr(context, "get_remaining_time_in_millis"):
            config.register_lambda_context(context)
        result: dict[str, Any] = guarded(job=job, work=work)
        return result

    return run
