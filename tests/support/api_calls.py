"""Count the AWS API calls our clients make (botocore ``before-call`` events)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.roots import clients


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Counts ``Service.Operation`` on our clients, existing and created inside."""
    calls: Counter[str] = Counter()

    def on_call(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    emitters = [clients.session().events, *(c.meta.events for c in clients.created())]
    for emitter in emitters:
        emitter.register("before-call", on_call)
    try:
        yield calls
    finally:
        for emitter in [*emitters, *(c.meta.events for c in clients.created())]:
            emitter.unregister("before-call", on_call)
