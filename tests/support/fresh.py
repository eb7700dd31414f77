"""A fresh interpreter, as a new Lambda container starts: Python code run in a subprocess
from the repository root, with this test process's environment (dummy credentials)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -c code args...``; its exit code, output and errors, whatever they are."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=timeout,
    )


def last_json(code: str, *args: str, timeout: float = 120) -> Any:
    """The JSON the code printed last; the code must exit 0."""
    done = run(code, *args, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
