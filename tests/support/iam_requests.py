"""IAM-door requests as a Function URL with AWS_IAM auth delivers them (payload format 2.0),
built from the contract's fixture ``tests/events/iam-function-url-event.json``."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parents[1] / "events" / "iam-function-url-event.json"
ACCOUNT = "123456789012"
ALICE_ARN = (
    f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Developer_0a1b2c3d4e5f6a7b/"
    "alice@example.com"
)
ALICE_ID = "AROAEXAMPLEDEVROLE01:alice@example.com"
BOB_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Developer_0a1b2c3d4e5f6a7b/bob"
BOB_ID = "AROAEXAMPLEDEVROLE01:bob"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform/PlatformAdmin"
ADMIN_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/carol"
ADMIN_ID = "AROAEXAMPLEADMIN0001:carol"


def iam_event(
    body: Any,
    *,
    user_arn: str = ALICE_ARN,
    user_id: str = ALICE_ID,
    base64_body: bool = False,
    method: str = "POST",
) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads(FIXTURE.read_text()))
    text = body if isinstance(body, str) else json.dumps(body)
    event["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    event["isBase64Encoded"] = base64_body
    event["requestContext"]["http"]["method"] = method
    iam = event["requestContext"]["authorizer"]["iam"]
    iam.update(userArn=user_arn, userId=user_id, callerId=user_id)
    return event
