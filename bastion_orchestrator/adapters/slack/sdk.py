"""slack-sdk, with its Web API and webhook clients loaded on first use only.

``import slack_sdk.signature`` (or ``slack_sdk.models.blocks``) first runs
``slack_sdk/__init__.py``, which imports the Web API and webhook clients and their HTTP stack:
about 70 ms of every cold Slack request (``make bench``), whose acknowledgement needs only the
signature verifier and Block Kit models. ``defer_clients()`` registers the package with its
``__init__`` not yet run: submodules import as usual, and the first use of a name the package
itself defines (``from slack_sdk import WebClient``, in the notifier after the
acknowledgement) runs the real ``__init__``, in the same module object, once. A submodule
asked for by name (``from slack_sdk import version``, as ``slack_sdk.web`` does) is imported
without it. Every line that runs is slack-sdk's own.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any, Final

PACKAGE: Final = "slack_sdk"


def defer_clients() -> None:
    """Registers slack_sdk with its ``__init__`` deferred; nothing when it is loaded already."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        return  # not installed: the first import says so
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    lock = threading.RLock()  # a second thread waits for the first to finish the __init__
    state = {"started": False, "done": False}

    def __getattr__(name: str) -> Any:  # PEP 562: only for names the module lacks
        # A submodule (slack_sdk.web's own `from slack_sdk import version`) is just imported:
        # running the __init__ then would re-enter a half-imported slack_sdk.web.
        if not name.startswith("_") and importlib.util.find_spec(f"{PACKAGE}.{name}"):
            return importlib.import_module(f"{PACKAGE}.{name}")
        with lock:
            if not state["started"]:
                state["started"] = True
                try:
                    loader.exec_module(package)
                except BaseException:
                    state["started"] = False  # the next use tries again
                    raise
                state["done"] = True
                del package.__getattr__
            elif not state["done"]:  # the __init__ itself (same thread), asking for a name
                raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package
