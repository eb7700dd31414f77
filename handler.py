"""Orchestrator Lambda: direct payloads (create, status, extend, destroy, list), Slack
slash commands and buttons over its Function URL, and the Slack door's async continuations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion_orchestrator.entry import run_orchestrator
from bastion_orchestrator.observability import lambda_context, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = _handle(event, lambda_context(context))
    return response


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_orchestrator(event, context)
