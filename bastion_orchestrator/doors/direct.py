"""The direct-invoke door: ``aws lambda invoke`` payloads from operators and automation.

Whoever may invoke the function is trusted to name the ``user_id`` (CONTRACT.md, "Who is
asking"); the policy still applies ``ALLOWED_USER_IDS`` and owner-or-admin to that name.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bastion_orchestrator.app.dispatcher import Dispatcher, invalid, refused
from bastion_orchestrator.domain.actor import Actor
from models import ACTION_ADAPTER, Create


def handle(event: Any, request_id: str, dispatcher: Dispatcher) -> dict[str, Any]:
    """A direct payload in, a JSON-serialisable response out. Never raises."""
    try:
        action = ACTION_ADAPTER.validate_python(event)
    except ValidationError as e:
        return refused(invalid(e))
    username = action.username if isinstance(action, Create) else None
    actor = Actor("direct", action.user_id, username=username)
    return dispatcher.dispatch(actor, action, request_id=request_id)
