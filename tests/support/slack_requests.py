"""Realistic Slack requests as a Lambda Function URL delivers them (payload format 2.0,
base64 body), signed like Slack signs them (v0, HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode


def sign(secret: str, timestamp: int, body: str) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return "v0=" + digest.hexdigest()


def function_url_event(
    body: str,
    *,
    secret: str | None,
    timestamp: int,
    signature: str | None = None,
    base64_body: bool = True,
    path: str = "/",
) -> dict[str, Any]:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "x-slack-request-timestamp": str(timestamp),
    }
    if secret is not None or signature is not None:
        headers["x-slack-signature"] = signature or sign(secret or "", timestamp, body)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnop",
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnop",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "Slackbot 1.0",
            },
            "requestId": "b1a2c3d4-0000-4000-8000-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:08:00:00 +0000",
            "timeEpoch": timestamp * 1000,
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


def slash_command(
    text: str,
    *,
    user_id: str = "U12345",
    user_name: str = "john.doe",
    response_url: str = "https://hooks.slack.com/commands/T0/1/x",
    command: str = "/infra",
    api_app_id: str = "A123456",
    team_id: str = "T0001",
) -> str:
    return urlencode(
        {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": team_id,
            "team_domain": "example",
            "channel_id": "C2147483705",
            "channel_name": "platform",
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )


def button(
    action_id: str,
    instance_id: str,
    *,
    user_id: str = "U12345",
    username: str = "john.doe",
    response_url: str = "https://hooks.slack.com/actions/T0/1/x",
    api_app_id: str = "A123456",
    team_id: str = "T0001",
) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "name": username, "team_id": team_id},
        "api_app_id": api_app_id,
        "team": {"id": team_id, "domain": "example"},
        "container": {"type": "message", "message_ts": "1.000100", "channel_id": "D123"},
        "trigger_id": "12466734323.1395872398",
        "channel": {"id": "D123", "name": "directmessage"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"bastion:{instance_id}",
                "value": instance_id,
                "type": "button",
                "action_ts": "1548426417.840180",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})
