"""The structure the repository aims at, measured: functions of at most 40 lines, modules of
at most ~250 lines, and no import cycles among the product's modules.

    python tools/structure.py           # report
    python tools/structure.py --check   # report, and exit 1 when an aim is missed

A function's length runs from its ``def`` line to its last line (docstring, comments and
nested functions included); a module's is its line count. An import counts wherever it is,
at module level or inside a function (a lazy import still ties the two modules together),
except under ``if TYPE_CHECKING:``, which never runs. Only imports between the measured
modules count; the standard library and the dependencies are not part of a cycle.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
TARGETS: Final = (
    "bastion_orchestrator",
    "bastion_cli",
    "handler.py",
    "auto_terminate.py",
    "models.py",
)
FUNCTION_LINES: Final = 40
MODULE_LINES: Final = 250
SHOWN: Final = 10  # longest functions and largest modules listed even within the aims


@dataclass(frozen=True)
class Function:
    path: str  # relative to the root
    line: int
    name: str  # Class.method, outer.inner
    lines: int


@dataclass(frozen=True)
class Module:
    name: str  # dotted
    path: str  # relative to the root
    lines: int


def python_files(root: Path, targets: Iterable[str] = TARGETS) -> list[Path]:
    """The ``.py`` files of the targets (files or package directories) under ``root``."""
    found: list[Path] = []
    for target in targets:
        path = root / target
        if path.is_dir():
            found += (p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        elif path.is_file():
            found.append(path)
    return sorted(found)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def functions(root: Path, files: Iterable[Path]) -> list[Function]:
    """Every function and method, longest first."""
    found = [
        Function(str(path.relative_to(root)), node.lineno, name, _length(node))
        for path in files
        for name, node in _definitions(_parse(path), "")
    ]
    return sorted(found, key=lambda f: (-f.lines, f.path, f.line))


Definition = ast.FunctionDef | ast.AsyncFunctionDef


def _definitions(node: ast.AST, prefix: str) -> Iterator[tuple[str, Definition]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _definitions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _definitions(child, f"{prefix}{child.name}.")
        else:
            yield from _definitions(child, prefix)


def _length(node: Definition) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def modules(root: Path, files: Iterable[Path]) -> list[Module]:
    """Every module, largest first."""
    found = [
        Module(module_name(root, p), str(p.relative_to(root)), len(p.read_bytes().splitlines()))
        for p in files
    ]
    return sorted(found, key=lambda m: (-m.lines, m.path))


def imports(root: Path, files: Iterable[Path]) -> dict[str, set[str]]:
    """Module -> the measured modules it imports (at run time, wherever in the module)."""
    paths = list(files)
    known = {module_name(root, p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        wanted = _imported(_parse(path), package)
        graph[name] = {t for t in (_resolve(w, known) for w in wanted) if t and t != name}
    return graph


def _imported(tree: ast.AST, package: str) -> Iterator[str]:
    """Dotted names each import statement may load (``from a import b``: ``a.b``, or ``a``)."""
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            yield from (f"{base}.{alias.name}" if base else alias.name for alias in node.names)


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (its ``else:`` runs, so it counts)."""
    for child in ast.iter_child_nodes(node):
        yield child
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                yield branch
                yield from _runtime_nodes(branch)
            continue
        yield from _runtime_nodes(child)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _resolve(dotted: str, known: dict[str, Path]) -> str | None:
    """The measured module ``dotted`` names, or the nearest package above it."""
    parts = dotted.split(".")
    while parts:
        if (name := ".".join(parts)) in known:
            return name
        parts.pop()
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``a, b, …, a``) per group of modules that import each other."""
    reach = {node: _reachable(graph, node) for node in graph}
    grouped: set[str] = set()
    found = []
    for node in sorted(graph):
        if node in grouped or node not in reach[node]:
            continue  # in a group already, or on no cycle
        group = sorted(other for other in reach[node] if node in reach[other])
        grouped.update(group)
        found.append(_cycle_through(group, graph))
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or not (``start`` itself if on a cycle)."""
    seen: set[str] = set()
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for target in graph.get(node, set()) - seen:
            seen.add(target)
            frontier.append(target)
    return seen


def _cycle_through(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest path from the group's first module back to itself (breadth first)."""
    start, members = group[0], set(group)
    paths, seen = deque([[start]]), {start}
    while paths:
        path = paths.popleft()
        for target in sorted(graph.get(path[-1], set()) & members):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                paths.append([*path, target])
    return [start, start]  # not reached: every member of a group lies on a cycle


def report(root: Path, targets: Sequence[str] = TARGETS) -> tuple[list[str], bool]:
    """The report's lines, and whether every aim is met."""
    files = python_files(root, targets)
    found, sizes = functions(root, files), modules(root, files)
    over = sum(1 for f in found if f.lines > FUNCTION_LINES)
    big = sum(1 for m in sizes if m.lines > MODULE_LINES)
    found_cycles = cycles(imports(root, files))
    lines = [
        f"functions (aim: none over {FUNCTION_LINES} lines): {over} over, "
        f"{len(found)} in all; the longest:",
        *(f"  {f.lines:5}  {f.path}:{f.line}  {f.name}" for f in found[: max(over, SHOWN)]),
        "",
        f"modules (aim: none over {MODULE_LINES} lines): {big} over, "
        f"{len(sizes)} in all; the largest:",
        *(f"  {m.lines:5}  {m.path}" for m in sizes[: max(big, SHOWN)]),
        "",
        f"import cycles (aim: none): {len(found_cycles)}",
        *(f"  {' -> '.join(cycle)}" for cycle in found_cycles),
    ]
    return lines, not (over or big or found_cycles)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when an aim is missed")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("targets", nargs="*", default=list(TARGETS), help="files or packages")
    args = parser.parse_args(argv)
    lines, ok = report(args.root.resolve(), args.targets)
    print("\n".join(lines))
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
