"""The IAM door: SigV4-signed JSON actions through the ``AWS_IAM`` Function URL.

AWS verified the caller before the function runs; the actor is
``requestContext.authorizer.iam``. Its ``userId`` (``AROA…:<session name>`` for an assumed
role) becomes the bastion's ``RequestedByUserId``, which is what the module's user policy
compares with ``${aws:userid}``; its ``userArn`` becomes ``RequestedByArn``. The body is one of
the orchestrator's actions; ``user_id``/``username`` may be left out (the caller fills them).
This is the door the ``bastion`` CLI uses.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bastion_orchestrator.domain.actor import IAM, Actor
from bastion_orchestrator.domain.results import Outcome
from bastion_orchestrator.doors.http import HttpAnswer, HttpRequest
from bastion_orchestrator.doors.parsing import invalid
from bastion_orchestrator.errors import InvalidRequest
from bastion_orchestrator.observability import count, logger
from bastion_orchestrator.presenters.http import status_of
from bastion_orchestrator.usecases.dispatcher import Dispatcher, refused
from models import IAM_ACTION_ADAPTER

_PRINCIPAL_ARN: Final = r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9_+=,.@/:-]+$"
_USERNAME_JUNK: Final = re.compile(r"[^A-Za-z0-9._-]+")
MAX_BODY: Final = 16 * 1024  # an action is a few hundred bytes


class IamIdentity(BaseModel):
    """The fields of ``requestContext.authorizer.iam`` the door relies on."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    user_arn: str = Field(alias="userArn", pattern=_PRINCIPAL_ARN, max_length=2048)
    user_id: str = Field(alias="userId", pattern=r"^[A-Za-z0-9_+=,.@:-]+$", max_length=256)


@dataclass(frozen=True)
class IamDoor:
    dispatcher: Dispatcher
    present: Callable[[Outcome], dict[str, Any]]

    def __call__(self, request: HttpRequest, context: Any) -> HttpAnswer:
        try:
            identity = IamIdentity.model_validate(request.iam)
        except ValidationError:
            count("IamRequestsRejected")
            logger.warning(
                "IAM authorizer context unreadable", extra={"iam": repr(request.iam)[:300]}
            )
            return HttpAnswer(401, {"error": "unauthenticated", "message": "No IAM caller."})
        actor = Actor(
            "iam",
            identity.user_id,
            username=username_of(identity.user_arn),
            arn=identity.user_arn,
            trust=IAM,
        )
        logger.append_keys(actor=actor.label, door="iam")
        try:
            action = IAM_ACTION_ADAPTER.validate_python(_body_of(request))
        except InvalidRequest as e:
            return self._answer(refused(e))
        except ValidationError as e:
            return self._answer(refused(invalid(e)))
        request_id = request.request_id or hashlib.sha256(request.body.encode()).hexdigest()[:32]
        return self._answer(self.dispatcher.dispatch(actor, action, request_id=request_id))

    def _answer(self, outcome: Outcome) -> HttpAnswer:
        return HttpAnswer(status_of(outcome), self.present(outcome))


def _body_of(request: HttpRequest) -> dict[str, Any]:
    """The one JSON object a POST carries; ``InvalidRequest`` for anything else."""
    if request.method != "POST":
        raise InvalidRequest(
            f"{request.method} is not served: POST one of the orchestrator actions as JSON, "
            'e.g. {"action": "status"}.'
        )
    if len(request.body) > MAX_BODY:
        raise InvalidRequest(f"The body is over {MAX_BODY} bytes; send one action.")
    try:
        body = json.loads(request.body) if request.body.strip() else None
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest(
            'The body must be a JSON object such as {"action": "create", "reason": "INC-42"}.',
            errors=[{"field": "(payload)", "problem": "must be a JSON object"}],
        )
    return body


def username_of(user_arn: str) -> str:
    """A readable username for tags and names: an assumed role's session name (the local part
    of an e-mail address), an IAM user's name, else the last part of the ARN."""
    last = user_arn.rsplit("/", 1)[-1] if "/" in user_arn else user_arn.rsplit(":", 1)[-1]
    cleaned = _USERNAME_JUNK.sub("-", last.split("@", 1)[0]).strip("-")[:80]
    return cleaned or "iam-user"
