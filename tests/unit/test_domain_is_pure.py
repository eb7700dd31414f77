"""The domain is the rules and the ports: importing all of it loads no pydantic, no boto3,
no Slack SDK and no Powertools (issue 19: "the domain imports no pydantic and no boto3")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOREIGN = ("pydantic", "boto3", "botocore", "slack_sdk", "aws_lambda_powertools", "models")

pytestmark = pytest.mark.unit


def test_importing_every_domain_module_loads_no_framework():
    # Given every module of bastion_orchestrator/domain
    modules = sorted(
        f"bastion_orchestrator.domain.{p.stem}"
        for p in (ROOT / "bastion_orchestrator" / "domain").glob("*.py")
        if p.stem != "__init__"
    )
    assert "bastion_orchestrator.domain.compute" in modules
    # When a fresh interpreter imports them all
    # (the package's own __init__ registers slack-sdk with its HTTP clients deferred: counted
    # apart, so that only what the domain itself loads is compared)
    script = (
        "import importlib, json, sys\n"
        "import bastion_orchestrator\n"
        "before = set(sys.modules)\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    # Then none of the frameworks was loaded
    assert not loaded & set(FOREIGN), sorted(loaded & set(FOREIGN))
