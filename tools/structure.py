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
    return [_cycle_through(sorted(group), graph) for group in _groups(graph) if len(group) > 1]


def _groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative)."""
    tarjan = _Tarjan(graph)
    for start in sorted(graph):
        if start not in tarjan.index:
            tarjan.visit(start)
    return tarjan.groups


class _Tarjan:
    def __init__(self, graph: dict[str, set[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.groups: list[set[str]] = []

    def visit(self, start: str) -> None:
        work = [self._enter(start)]
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is None:
                work.pop()
                if work:
                    self.low[work[-1][0]] = min(self.low[work[-1][0]], self.low[node])
                if self.low[node] == self.index[node]:
                    self.groups.append(self._pop_group(node))
            elif target not in self.index:
                work.append(self._enter(target))
            elif target in self.on_stack:
                self.low[node] = min(self.low[node], self.index[target])

    def _enter(self, node: str) -> tuple[str, Iterator[str]]:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        return node, iter(sorted(self.graph.get(node, ())))

    def _pop_group(self, node: str) -> set[str]:
        group: set[str] = set()
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            group.add(member)
            if member == node:
                return group


def _cycle_through(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest path from the group's first module back to itself (breadth first)."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph.get(node, set()) & members):
                if target == start:
                    return [*_path_to(node, start, came_from), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    return [start, start]  # not reached: every member of a group lies on a cycle


def _path_to(node: str, start: str, came_from: dict[str, str]) -> list[str]:
    path = [node]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]


def report(root: Path, targets: Sequence[str] = TARGETS) -> tuple[list[str], bool]:
    """The report's lines, and whether every aim is met."""
    files = python_files(root, targets)
    all_functions, all_modules = functions(root, files), modules(root, files)
    long_functions = [f for f in all_functions if f.lines > FUNCTION_LINES]
    big_modules = [m for m in all_modules if m.lines > MODULE_LINES]
    found_cycles = cycles(imports(root, files))
    lines = [
        *_functions_part(all_functions, len(long_functions)),
        "",
        *_modules_part(all_modules, len(big_modules)),
        "",
        f"import cycles (aim: none): {len(found_cycles)}",
        *(f"  {' -> '.join(cycle)}" for cycle in found_cycles),
    ]
    return lines, not (long_functions or big_modules or found_cycles)


def _functions_part(found: list[Function], over: int) -> list[str]:
    shown = found[: max(over, SHOWN)]
    return [
        f"functions (aim: none over {FUNCTION_LINES} lines): {over} over, "
        f"{len(found)} in all; the longest:",
        *(f"  {f.lines:5}  {f.path}:{f.line}  {f.name}" for f in shown),
    ]


def _modules_part(found: list[Module], over: int) -> list[str]:
    shown = found[: max(over, SHOWN)]
    return [
        f"modules (aim: none over {MODULE_LINES} lines): {over} over, "
        f"{len(found)} in all; the largest:",
        *(f"  {m.lines:5}  {m.path}" for m in shown),
    ]


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
