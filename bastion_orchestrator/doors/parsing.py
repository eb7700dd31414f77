"""Payloads pydantic refused, as one VALIDATION_ERROR that says how to fix each field: the
one translation every door that parses the contract's actions uses."""

from __future__ import annotations

from typing import Any, Final

from pydantic import ValidationError

from bastion_orchestrator.errors import InvalidRequest
from models import FIELD_HINTS, Create, Destroy, Extend, ListBastions, Status

# The fields each action takes, from its model: named in VALIDATION_ERRORs.
ALLOWED_FIELDS: Final = {
    name: sorted(model.model_fields)
    for name, model in (
        ("create", Create),
        ("status", Status),
        ("extend", Extend),
        ("destroy", Destroy),
        ("list", ListBastions),
    )
}


def invalid(error: ValidationError) -> InvalidRequest:
    return validation_error(error, FIELD_HINTS, ALLOWED_FIELDS)


def _value(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_error(
    error: ValidationError, hints: dict[str, str], allowed: dict[str, list[str]]
) -> InvalidRequest:
    """Turn pydantic's errors into one sentence per problem, each saying how to fix it."""
    problems = [_problem(dict(item), hints, allowed) for item in error.errors()]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return InvalidRequest(
        f"Invalid request. {summary}. Nothing was changed; fix the payload and retry.",
        errors=problems,
    )


_NOT_AN_OBJECT: Final = (
    'must be a JSON object such as {"action": "status", "instance_id": "i-0123456789abcdef0"}'
)


def _problem(
    item: dict[str, Any], hints: dict[str, str], allowed: dict[str, list[str]]
) -> dict[str, str]:
    loc = [str(part) for part in item.get("loc", ())]
    kind = item.get("type", "")
    action = loc[0] if loc else None
    field = loc[-1] if len(loc) > 1 else None
    if kind == "union_tag_not_found":
        return {"field": "action", "problem": f"missing; use {hints['action']}"}
    if kind == "union_tag_invalid":
        got = _value(item.get("ctx", {}).get("tag"))
        return {"field": "action", "problem": f"unknown action {got}; use {hints['action']}"}
    if kind in {"model_type", "model_attributes_type", "dict_type"} and field is None:
        return {"field": "(payload)", "problem": _NOT_AN_OBJECT}
    if kind == "extra_forbidden" and field:
        names = ", ".join(allowed.get(action or "", []))
        return {"field": field, "problem": f"not a field of {action!r}; allowed: {names}"}
    if kind == "missing" and field:
        return {"field": field, "problem": f"required: {hints.get(field, 'a value')}"}
    if field is None:
        return {"field": "(payload)", "problem": str(item["msg"]).removeprefix("Value error, ")}
    expected = hints.get(field, str(item["msg"]))
    return {
        "field": field,
        "problem": f"{_value(item.get('input'))} is not valid; expected {expected}",
    }
