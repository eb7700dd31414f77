"""The repository carries its own copy of the public contract (``docs/contract.md``) and of
its payload fixtures (``tests/events/``), so a plain clone builds, tests and demos alone.

Where the contract's source (``../shared/`` beside the checkout) is present, as in the
project's own workspace, the copies must be identical to it; in a plain clone there is
nothing to compare against and these tests skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
SHARED = ROOT.parent / "shared"
EVENTS = ROOT / "tests" / "events"
FIXTURES = sorted(p.name for p in (SHARED / "fixtures").glob("*.json")) if SHARED.is_dir() else []


def _need_shared() -> None:
    if not (SHARED / "CONTRACT.md").is_file():
        pytest.skip("../shared is not beside this checkout: nothing to compare the copies with")


def test_the_contract_copy_is_the_contract():
    _need_shared()
    ours = (ROOT / "docs" / "contract.md").read_text()
    assert ours == (SHARED / "CONTRACT.md").read_text(), (
        "docs/contract.md differs from ../shared/CONTRACT.md: copy it again "
        "(cp ../shared/CONTRACT.md docs/contract.md) and follow what changed"
    )


def test_every_fixture_has_its_copy_in_tests_events():
    _need_shared()
    missing = [name for name in FIXTURES if not (EVENTS / name).is_file()]
    assert not missing, f"copy these to tests/events/: {missing}"


@pytest.mark.parametrize("name", FIXTURES or ["(no ../shared)"])
def test_each_fixture_copy_is_identical(name):
    _need_shared()
    assert json.loads((EVENTS / name).read_text()) == json.loads(
        (SHARED / "fixtures" / name).read_text()
    )


def test_the_repository_needs_nothing_beside_it():
    """No code, test, script or Makefile of ours reads ../shared (this file only compares)."""
    offenders = []
    for path in ROOT.rglob("*"):
        if path.suffix not in {".py", ".mk", ".tf", ".sh", ".toml"} and path.name not in {
            "Makefile",
            "run",
        }:
            continue
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") and part != ".ci" for part in parts):
            continue
        if path == Path(__file__):
            continue
        text = path.read_text(errors="replace")
        if '"shared"' in text or "../shared" in text or "'shared'" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"these read ../shared, which a clone does not have: {offenders}"
