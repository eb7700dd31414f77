"""The docs' copy-paste commands (README.md, SECURITY.md, CHANGELOG.md, docs/*.md and the
module's READMEs) name the Session Manager documents the module really creates (the moto
example is the docs' ``docustack``/``dev`` deployment), so a user who pastes them is not
refused by a user policy that allows only the module's documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.terraform.stack import Deployed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "SECURITY.md",
    ROOT / "CHANGELOG.md",
    ROOT / "terraform" / "README.md",
    *sorted((ROOT / "terraform" / "examples").glob("*/README.md")),
    *sorted((ROOT / "docs").glob("*.md")),
]
NAMED = re.compile(r"--document-name[ =]+([A-Za-z0-9_.-]+)")


def _named_in_docs() -> dict[str, set[str]]:
    """Every ``--document-name X`` in the docs, by document; AWS's own (``AWS-…``) left out."""
    named: dict[str, set[str]] = {}
    for path in DOCS:
        for name in NAMED.findall(path.read_text()):
            if not name.startswith(("AWS-", "SESSION_DOCUMENT", "PORT_FORWARD_DOCUMENT")):
                named.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return named


def _created(deployed: Deployed) -> set[str]:
    ssm = deployed.client("ssm")
    pages = ssm.get_paginator("list_documents").paginate(
        Filters=[{"Key": "Owner", "Values": ["Self"]}]
    )
    return {d["Name"] for page in pages for d in page["DocumentIdentifiers"]}


def test_the_readme_names_the_documents_the_module_creates(deployed: Deployed) -> None:
    named = _named_in_docs()
    created = _created(deployed)
    assert {"docustack-dev-bastion-session", "docustack-dev-bastion-port-forward"} <= created
    # The docs show both by hand (docs/usage.md, "Connecting by hand"): a shell and the
    # database forward.
    assert {"docustack-dev-bastion-session", "docustack-dev-bastion-port-forward"} <= set(named)
    unknown = {name: where for name, where in named.items() if name not in created}
    assert not unknown, f"the docs name documents the module does not create: {unknown}"


def test_the_user_policy_allows_the_documents_the_readme_names(deployed: Deployed) -> None:
    policy = deployed.outputs["bastion_user_policy_json"]
    for name in _named_in_docs():
        assert f":document/{name}" in policy, f"{name} is not in bastion_user_policy_json"
