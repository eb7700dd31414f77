"""terraform/README.md documents every variable and output of the module, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.terraform

MODULE = Path(__file__).resolve().parents[2] / "terraform"


def _declared(kind: str, filename: str) -> set[str]:
    text = (MODULE / filename).read_text()
    return set(re.findall(rf'(?m)^{kind}\s+"([^"]+)"\s*\{{', text))


def _table(section: str) -> tuple[list[str], set[str]]:
    """Header cells and first-column names of the first table under `## <section>`."""
    readme = (MODULE / "README.md").read_text()
    match = re.search(rf"(?ms)^## {section}\s*$(.*?)(?=^## |\Z)", readme)
    assert match, f"README.md has no '## {section}' section"
    rows = [line for line in match.group(1).splitlines() if line.startswith("|")]
    assert len(rows) > 2, f"'## {section}' has no table"
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    names = set()
    for row in rows[2:]:
        first = row.strip("|").split("|")[0].strip()
        names.add(first.strip("`"))
    return header, names


def test_every_variable_is_documented_and_every_documented_one_exists() -> None:
    header, documented = _table("Inputs")
    assert header == ["name", "type", "default", "description"]
    declared = _declared("variable", "variables.tf")
    assert declared, "no variables found"
    assert declared - documented == set(), "variables missing from README.md"
    assert documented - declared == set(), "README.md documents variables that do not exist"


def test_every_output_is_documented_and_every_documented_one_exists() -> None:
    header, documented = _table("Outputs")
    assert header[0] == "name"
    declared = _declared("output", "outputs.tf")
    assert declared, "no outputs found"
    assert declared - documented == set(), "outputs missing from README.md"
    assert documented - declared == set(), "README.md documents outputs that do not exist"


def test_documented_defaults_match_the_declarations() -> None:
    text = (MODULE / "variables.tf").read_text()
    readme = (MODULE / "README.md").read_text()
    for block in re.split(r'(?m)^variable "', text)[1:]:
        name = block.split('"', 1)[0]
        default = re.search(r"(?m)^  default\s*=\s*(.+)$", block)
        row = re.search(rf"(?m)^\| `{re.escape(name)}` \| [^|]+ \| ([^|]+) \|", readme)
        assert row, name
        expected = f"`{default.group(1).strip()}`" if default else "required"
        assert row.group(1).strip() == expected, name
