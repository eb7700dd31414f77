"""What the contract's identifiers look like, as regular expressions and nothing else.

Light on purpose: the Slack acknowledgement checks a user id or a button's instance id before
it queues a request, and loads no pydantic to do it. ``models`` builds its fields from these.
"""

from __future__ import annotations

import re
from typing import Final

INSTANCE_ID: Final = r"^i-([0-9a-f]{8}|[0-9a-f]{17})$"
SUBNET_ID: Final = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"
SECURITY_GROUP_ID: Final = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"
VPC_ID: Final = r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$"
# Lengths are max_length, not {m,n}: counted repetitions make pydantic-core's regexes slow to
# compile, and that is paid on every cold start.
USER_ID: Final = r"^[A-Za-z0-9_.@-]+$"
USER_ID_MAX: Final = 64
USERNAME: Final = r"^[A-Za-z0-9._-]+$"
APPROVAL_ID: Final = r"^apr-[0-9a-f]{16,32}$"
SLACK_RESPONSE_URL: Final = r"^https://hooks\.slack\.com/[A-Za-z0-9/_.~%+-]+$"
_DNS_LABEL: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")


def dns_name(value: str) -> str:
    """A DNS name: dot-separated labels of 1-63 letters, digits and inner hyphens."""
    labels = value.removesuffix(".").split(".")
    if not all(len(label) <= 63 and _DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must be a DNS name (labels of letters, digits and inner hyphens)")
    return value
