"""The composition roots the two handlers hold, for tests and scripts.

Each Lambda function builds one ``Root`` per container (``handler.ROOT``,
``auto_terminate.ROOT``). A test gets a fresh one (``fresh``: new clients, settings read
again, nothing cached) for both handlers at once, so that they share one clock, as the demo
and the bench do. Nothing in the product is reset: the old root is simply dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import auto_terminate
import handler
from bastion_orchestrator.composition import Root


def current() -> Root:
    return handler.ROOT


# One root for both handlers from the start, as every test, the demo and the bench expect: in
# one process they share a clock and the clients that counters and stubs attach to.
auto_terminate.ROOT = handler.ROOT


def fresh(
    clock: Callable[[], datetime] | None = None, sleep: Callable[[float], None] | None = None
) -> Root:
    """A new root for both handlers, keeping the current clock unless given one."""
    old = current()
    root = Root(clock or old.clock, sleep or old.sleep)
    handler.ROOT = auto_terminate.ROOT = root
    return root


def use_clock(clock: Callable[[], datetime], sleep: Callable[[float], None] | None = None) -> None:
    """Time for the current root (its clients, stubs and caches stay)."""
    root = current()
    root.clock = clock
    if sleep is not None:
        root.sleep = sleep


class _CurrentClients:
    """``clients.ssm()`` and friends: the current root's AWS clients."""

    def __getattr__(self, name: str) -> Any:
        return getattr(current().clients, name)


clients: Any = _CurrentClients()
