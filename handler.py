"""Orchestrator Lambda: direct payloads (create, status, extend, destroy, list), Slack
slash commands and buttons over its Function URL, and the Slack door's async continuations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion_orchestrator.composition import Root
from bastion_orchestrator.observability import lambda_context, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Built from the environment and the system clock; each part on first use, once per container.
ROOT = Root()


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = _handle(event, lambda_context(context))
    return response


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return ROOT.orchestrator(event, context)
