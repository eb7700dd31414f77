"""tools/structure.py finds a long function, a big module and an import cycle, on a tiny
package written for the purpose (never on the real one: it measures, the aims are the
reviewers')."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import structure

pytestmark = pytest.mark.unit


def _body(lines: int, indent: str = "    ") -> str:
    return "".join(f"{indent}x{n} = {n}\n" for n in range(lines))


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """pkg/: a 41-line and a 40-line function, a 251-line module, a cycle a -> b -> c -> a
    (c's import is inside a function) and another f -> g -> f, and imports that make no
    cycle: one under TYPE_CHECKING, one relative, one of the standard library."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""A package."""\n')
    (pkg / "long.py").write_text(
        f"def too_long():\n{_body(40)}\n\nclass Kept:\n    def fits(self):\n{_body(39, ' ' * 8)}"
    )
    (pkg / "big.py").write_text("".join(f"y{n} = {n}\n" for n in range(251)))
    (pkg / "a.py").write_text("import json\n\nfrom pkg import b\n")
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text("def later():\n    import pkg.a\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg import e\n"
        "else:\n    from pkg import big\n"
    )
    (pkg / "e.py").write_text("from .d import TYPE_CHECKING\n")
    (pkg / "f.py").write_text("from pkg.g import name\n")  # a second cycle, f <-> g
    (pkg / "g.py").write_text("import pkg.f\n\nname = 1\n")
    (tmp_path / "main.py").write_text("import pkg.long\n")
    return tmp_path


def test_a_function_over_40_lines_is_found_with_its_file_and_line(package):
    files = structure.python_files(package, ["pkg", "main.py"])
    found = structure.functions(package, files)
    assert found[0] == structure.Function("pkg/long.py", 1, "too_long", 41)
    assert structure.Function("pkg/long.py", 45, "Kept.fits", 40) in found
    assert [f.name for f in found if f.lines > structure.FUNCTION_LINES] == ["too_long"]


def test_a_module_over_250_lines_is_found(package):
    found = structure.modules(package, structure.python_files(package, ["pkg", "main.py"]))
    assert found[0] == structure.Module("pkg.big", "pkg/big.py", 251)
    assert [m.name for m in found if m.lines > structure.MODULE_LINES] == ["pkg.big"]


def test_a_cycle_is_found_through_a_lazy_import_and_not_through_type_checking(package):
    graph = structure.imports(package, structure.python_files(package, ["pkg", "main.py"]))
    assert graph["pkg.a"] == {"pkg.b"}  # json is not measured
    assert graph["pkg.b"] == {"pkg.c"}  # relative
    assert graph["pkg.c"] == {"pkg.a"}  # inside a function
    assert graph["pkg.d"] == {"pkg.big"}  # TYPE_CHECKING's else branch runs
    assert graph["pkg.e"] == {"pkg.d"}
    assert graph["main"] == {"pkg.long"}
    assert graph["pkg.f"] == {"pkg.g"}  # a name in g: the module that defines it
    assert structure.cycles(graph) == [
        ["pkg.a", "pkg.b", "pkg.c", "pkg.a"],
        ["pkg.f", "pkg.g", "pkg.f"],
    ]


def test_the_report_and_check_fail_on_each_aim_and_pass_without_them(package, capsys):
    assert structure.main(["--root", str(package), "pkg", "main.py"]) == 0
    assert structure.main(["--check", "--root", str(package), "pkg", "main.py"]) == 1
    shown = capsys.readouterr().out
    assert "41  pkg/long.py:1  too_long" in shown
    assert "251  pkg/big.py" in shown
    assert "pkg.a -> pkg.b -> pkg.c -> pkg.a" in shown
    for name in ("long.py", "big.py", "c.py", "g.py"):
        (package / "pkg" / name).unlink()
    lines, ok = structure.report(package, ["pkg", "main.py"])
    assert ok, lines
    assert "import cycles (aim: none): 0" in lines
