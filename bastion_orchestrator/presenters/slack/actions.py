"""The buttons messages carry, and the action ids a click comes back with (the Slack door
maps each id to a verb). A button's value is nothing but an instance's or a request's id."""

from __future__ import annotations

from typing import Any, Final

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, PlainTextObject

EXTEND_ACTION: Final = "bastion_extend"
DESTROY_ACTION: Final = "bastion_destroy"
APPROVE_ACTION: Final = "bastion_approve"
DENY_ACTION: Final = "bastion_deny"


def bastion_buttons(instance_id: str) -> ActionsBlock:
    """Extend, or destroy now (after a confirmation)."""
    return ActionsBlock(
        block_id=f"bastion:{instance_id}",
        elements=[
            ButtonElement(
                text=PlainTextObject(text="Extend"),
                action_id=EXTEND_ACTION,
                value=instance_id,
                style="primary",
            ),
            ButtonElement(
                text=PlainTextObject(text="Destroy now"),
                action_id=DESTROY_ACTION,
                value=instance_id,
                style="danger",
                confirm=ConfirmObject(
                    title="Destroy this bastion?",
                    text=PlainTextObject(text=f"{instance_id} is terminated now."),
                    confirm="Destroy",
                    deny="Keep it",
                ),
            ),
        ],
    )


def buttons(instance_id: str) -> dict[str, Any]:
    return bastion_buttons(instance_id).to_dict()


def decision_buttons(approval_id: str) -> ActionsBlock:
    """Approve, or deny (after a confirmation)."""
    return ActionsBlock(
        block_id=f"approval:{approval_id}",
        elements=[
            ButtonElement(
                text=PlainTextObject(text="Approve"),
                action_id=APPROVE_ACTION,
                value=approval_id,
                style="primary",
            ),
            ButtonElement(
                text=PlainTextObject(text="Deny"),
                action_id=DENY_ACTION,
                value=approval_id,
                style="danger",
                confirm=ConfirmObject(
                    title="Deny this request?",
                    text=PlainTextObject(text="Nothing is launched; the requester is told."),
                    confirm="Deny",
                    deny="Cancel",
                ),
            ),
        ],
    )
