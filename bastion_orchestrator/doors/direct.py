"""The direct-invoke door: ``aws lambda invoke`` payloads from operators and automation.

Whoever may invoke the function is trusted to name the ``user_id`` (CONTRACT.md, "Who is
asking"); the policy still applies ``ALLOWED_USER_IDS`` and owner-or-admin to that name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bastion_orchestrator.domain.actor import DIRECT, Actor
from bastion_orchestrator.domain.results import Outcome
from bastion_orchestrator.doors.parsing import invalid
from bastion_orchestrator.usecases.dispatcher import Dispatcher, refused
from models import ACTION_ADAPTER, Create


def handle(
    event: Any,
    request_id: str,
    dispatcher: Dispatcher,
    present: Callable[[Outcome], dict[str, Any]],
) -> dict[str, Any]:
    """A direct payload in, a JSON-serialisable response out. Never raises."""
    try:
        action = ACTION_ADAPTER.validate_python(event)
    except ValidationError as e:
        return present(refused(invalid(e)))
    username = action.username if isinstance(action, Create) else None
    actor = Actor("direct", action.user_id, username=username, trust=DIRECT)
    return present(dispatcher.dispatch(actor, action, request_id=request_id))
