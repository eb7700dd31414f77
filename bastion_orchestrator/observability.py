"""Logger and Metrics, created once. Service name and namespace come from POWERTOOLS_* vars."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "bastion-orchestrator")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "BastionOrchestrator")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def audit(event: str, *, actor: str, action: str, instance_id: str | None, **fields: Any) -> None:
    """One structured line per lifecycle change: who did what to which bastion."""
    logger.info(
        event, extra={"actor": actor, "action": action, "instance_id": instance_id, **fields}
    )


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Add a count metric; dimensions (e.g. ``cause``) go into their own EMF blob."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    from aws_lambda_powertools.metrics import single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():  # single_metric does not honour POWERTOOLS_METRICS_DISABLED
        return

    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


def lambda_context(context: Any) -> Any:
    """The Lambda context, completed when a caller (a local script, a test) passes ``None``
    or a partial one: Powertools reads these attributes before our code runs."""
    required = ("function_name", "memory_limit_in_mb", "invoked_function_arn", "aws_request_id")
    if context is not None and all(hasattr(context, name) for name in required):
        return context
    import uuid
    from types import SimpleNamespace

    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", SERVICE)
    defaults = {
        "function_name": name,
        "memory_limit_in_mb": int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        "invoked_function_arn": getattr(context, "invoked_function_arn", None) or name,
        "aws_request_id": str(uuid.uuid4()),
        "function_version": "$LATEST",
    }
    return SimpleNamespace(**{k: getattr(context, k, v) for k, v in defaults.items()})
