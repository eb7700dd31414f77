"""The environment every offline run (the bench scripts) gives boto3:
dummy credentials and one region, so nothing reads a real profile or reaches a real endpoint."""

from __future__ import annotations

from typing import Final

OFFLINE_AWS: Final = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
