"""The slow half of Slack requests: create, extend, destroy, run in an async invocation.

The result goes to the request's ``response_url`` (ephemeral; a button's message is
replaced) and, as a direct message, to the requester. With ``IDEMPOTENCY_TABLE`` set the
job runs under Powertools idempotency keyed on ``request_id``: a retried invocation returns
the stored result and tells nobody twice. Without it, the RunInstances client token (derived
from the same ``request_id``) still launches nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from bastion_orchestrator.app import wiring
from bastion_orchestrator.clock import parse_iso
from bastion_orchestrator.config import get_settings
from bastion_orchestrator.domain.ports import Notice, NoticeKind
from bastion_orchestrator.errors import BastionError
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.slack.messages import render
from bastion_orchestrator.slack.notifier import respond
from models import Create, Destroy, Extend, SlackJob


def run(job: SlackJob) -> dict[str, Any]:
    table = get_settings().idempotency_table
    if table:
        return _idempotent(table)(job=job)
    return _run(job)


@cache
def _idempotent(table: str) -> Callable[..., dict[str, Any]]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from bastion_orchestrator.aws.clients import boto_config

    store = DynamoDBPersistenceLayer(table_name=table, boto_config=boto_config())
    config = IdempotencyConfig(event_key_jmespath="request_id", expires_after_seconds=3600)

    @idempotent_function(data_keyword_argument="job", persistence_store=store, config=config)  # type: ignore[untyped-decorator]
    def guarded(job: SlackJob) -> dict[str, Any]:
        return _run(job)

    return guarded  # type: ignore[no-any-return]


def _run(job: SlackJob) -> dict[str, Any]:
    environment = get_settings().environment
    try:
        result, notice = _act(job, environment)
    except BastionError as e:
        result = e.to_response()
        notice = Notice(
            "failed", job.user_id, job.instance_id or "(none)", None, environment, detail=e.message
        )
    _deliver(job, notice)
    return result


def _act(job: SlackJob, environment: str) -> tuple[dict[str, Any], Notice]:
    service = wiring.orchestrator()
    if job.verb == "create":
        create = Create(
            action="create", user_id=job.user_id, username=job.username, reason=job.reason
        )
        result = service.create(create, request_id=job.request_id)
        return result, _notice("created", job, result, environment, connection=result["connection"])
    if job.verb == "extend":
        extend = Extend(action="extend", instance_id=job.instance_id, user_id=job.user_id)
        result = service.extend(extend)
        return result, _notice("extended", job, result, environment)
    destroy = Destroy(action="destroy", instance_id=job.instance_id, user_id=job.user_id)
    result = service.destroy(destroy)
    return result, _notice(
        "terminated",
        job,
        result,
        environment,
        cause="destroy",
        lived_seconds=_lived(result.get("created_at"), wiring.now()),
    )


def _notice(
    kind: NoticeKind, job: SlackJob, result: dict[str, Any], environment: str, **extra: Any
) -> Notice:
    return Notice(
        kind,
        job.user_id,
        result["instance_id"],
        parse_iso(result["expires_at"]),
        environment,
        **extra,
    )


def _lived(created_at: str | None, now: datetime) -> int | None:
    created = parse_iso(created_at)
    return int((now - created).total_seconds()) if created else None


def _deliver(job: SlackJob, notice: Notice) -> None:
    """Reply where the user asked, and as a direct message. Failures never undo the work."""
    text, blocks = render(notice)
    if job.response_url:
        try:
            respond(job.response_url, text, blocks, replace_original=job.replace_original)
        except Exception as e:
            count("NotificationFailures")
            logger.warning("response_url post failed", extra={"error": repr(e)})
    try:
        wiring.notifier().send(notice)
    except Exception as e:
        count("NotificationFailures")
        logger.warning("direct message failed", extra={"error": repr(e)})
