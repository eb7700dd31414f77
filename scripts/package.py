"""Build dist/bastion-orchestrator.zip for Lambda (python3.12, arm64), reproducibly.

Two builds from the same sources and requirements are byte-identical: entries are sorted,
every timestamp is 1980-01-01 00:00:00 and permissions are fixed.

Bytecode is shipped, compiled by a Python 3.12 interpreter (the runtime's version: the magic
number is fixed for a minor version) with ``--invalidation-mode unchecked-hash``: ``/var/task``
is read-only, so without it every cold start would recompile pydantic, Powertools and our
modules, and a hash-based ``.pyc`` does not depend on file timestamps (the zip's are all
1980). ``PYTHONHASHSEED=0`` and ``-d /var/task`` keep it deterministic; tracebacks then name
``/var/task/...`` as they would without bytecode. The interpreter is ``--runtime-python``,
else ``$LAMBDA_PYTHON``, else the first ``python3.12`` found (PATH, then pyenv); there is no
fallback to shipping source only. Bytecode is platform-independent; the wheels are still the
runtime's (``manylinux2014_aarch64``: pydantic-core is a compiled extension).

boto3 and botocore (and what only they pull in: s3transfer, urllib3, python-dateutil, six)
are left out: the Lambda runtime ships them. ``--bundle-boto3`` includes the pinned ones.

Usage: python scripts/package.py [--output dist/bastion-orchestrator.zip] [--bundle-boto3]
                                 [--build-dir build/package] [--runtime-python PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "dist" / "bastion-orchestrator.zip"
BUILD_DIR = ROOT / "build" / "package"

# The code: the two entry points and the models beside them, plus the package.
SOURCES = ("handler.py", "auto_terminate.py", "models.py", "bastion_orchestrator")

# In the Lambda Python runtime already.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})

# Never shipped: caches, the console scripts pip puts in the top-level bin/, and bytecode
# other than the runtime's (``__pycache__/<module>.cpython-312.pyc``).
EXCLUDED_PARTS = frozenset({".mypy_cache", ".pytest_cache"})
EXCLUDED_TOP_LEVEL = frozenset({"bin"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")

RUNTIME_VERSION = (3, 12)
BYTECODE_TAG = f"cpython-{RUNTIME_VERSION[0]}{RUNTIME_VERSION[1]}"  # sys.implementation.cache_tag
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip: the path tracebacks show

PIP_PLATFORM = (
    "--platform",
    "manylinux2014_aarch64",
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
)

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--


def requirement_name(line: str) -> str:
    """The distribution name of a requirements.txt line ("" for comments and blanks)."""
    text = line.split("#", 1)[0].strip()
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " "):
        text = text.split(sep, 1)[0]
    return text.strip().lower().replace("_", "-")


def runtime_requirements(requirements: Path, *, bundle_boto3: bool) -> list[str]:
    lines = []
    for line in requirements.read_text().splitlines():
        name = requirement_name(line)
        if not name or (name in RUNTIME_PROVIDED and not bundle_boto3):
            continue
        lines.append(line.split("#", 1)[0].strip())
    return lines


def install(requirements: list[str], target: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(requirements) + "\n")
        filtered = Path(handle.name)
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                *PIP_PLATFORM,
                "--target",
                str(target),
                "-r",
                str(filtered),
            ],
            check=True,
        )
    finally:
        filtered.unlink()


def runtime_bytecode(relative: Path) -> bool:
    """``<dir>/__pycache__/<module>.cpython-312.pyc``: what the runtime's import reads."""
    return (
        len(relative.parts) >= 2
        and relative.parts[-2] == "__pycache__"
        and relative.name.endswith(f".{BYTECODE_TAG}.pyc")
    )


def shipped(path: Path, base: Path) -> bool:
    relative = path.relative_to(base)
    if not path.is_file() or relative.parts[0] in EXCLUDED_TOP_LEVEL:
        return False
    if any(part in EXCLUDED_PARTS for part in relative.parts):
        return False
    if "__pycache__" in relative.parts:
        return runtime_bytecode(relative)
    return not path.name.endswith(EXCLUDED_SUFFIXES)


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return (int(out[0]), int(out[1])) if len(out) == 2 else None


def find_runtime_python(explicit: str | None = None) -> str:
    """A Python 3.12 interpreter to compile with (and for `make bench` to measure with)."""
    wanted = ".".join(map(str, RUNTIME_VERSION))
    given = explicit or os.environ.get("LAMBDA_PYTHON")
    if given:
        if _version_of(given) != RUNTIME_VERSION:
            raise SystemExit(f"{given} is not Python {wanted}")
        return given
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [
        shutil.which(f"python{wanted}"),
        *sorted(str(p) for p in pyenv.glob(f"versions/{wanted}.*/bin/python{wanted}")),
    ]
    for candidate in candidates:
        if candidate and _version_of(candidate) == RUNTIME_VERSION:
            return candidate
    raise SystemExit(
        f"no Python {wanted} found (the Lambda runtime's version, needed to compile the "
        "bytecode): install it, or pass --runtime-python / set LAMBDA_PYTHON"
    )


def compile_bytecode(base: Path, python: str) -> int:
    """Compile every shipped module with the runtime's interpreter; answers the .pyc count."""
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "-d",
            TASK_ROOT,
            "--invalidation-mode",
            "unchecked-hash",
            "-x",
            "^" + re.escape(f"{base / 'bin'}{os.sep}"),  # pip's console scripts: not shipped
            str(base),
        ],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": ""},
    )
    sources = [p for p in base.rglob("*.py") if shipped(p, base)]
    missing = [
        p.relative_to(base).as_posix()
        for p in sources
        if not (p.parent / "__pycache__" / f"{p.stem}.{BYTECODE_TAG}.pyc").is_file()
    ]
    if missing:
        raise SystemExit(f"no bytecode for {len(missing)} module(s), e.g. {missing[:5]}")
    return len(sources)


def copy_sources(target: Path) -> None:
    for name in SOURCES:
        source = ROOT / name
        if not source.exists():
            raise SystemExit(f"missing source {name}: run from a complete checkout")
        if source.is_dir():
            shutil.copytree(
                source,
                target / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"),
                dirs_exist_ok=True,
            )
        else:
            shutil.copy2(source, target / name)


def write_zip(base: Path, output: Path) -> None:
    files = sorted(
        (p for p in base.rglob("*") if shipped(p, base)),
        key=lambda p: p.relative_to(base).as_posix(),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(base).as_posix(), date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # Unix, so the permissions above are honoured
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument(
        "--bundle-boto3",
        action="store_true",
        help="ship the pinned boto3/botocore instead of the runtime's",
    )
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument(
        "--runtime-python", help="a Python 3.12 interpreter (default: $LAMBDA_PYTHON, PATH, pyenv)"
    )
    args = parser.parse_args(argv)
    build: Path = args.build_dir
    python = find_runtime_python(args.runtime_python)

    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)

    install(runtime_requirements(args.requirements, bundle_boto3=args.bundle_boto3), build)
    if not args.bundle_boto3:
        leaked = sorted(n for n in ("boto3", "botocore", "s3transfer") if (build / n).exists())
        if leaked:
            raise SystemExit(f"{', '.join(leaked)} pulled in by a dependency: check requirements")
    copy_sources(build)
    compiled = compile_bytecode(build, python)
    write_zip(build, args.output)

    data = args.output.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        shown = args.output.relative_to(ROOT)
    except ValueError:
        shown = args.output
    print(f"{shown}  {len(data):,} bytes  sha256 {digest}  ({compiled:,} modules + .pyc)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
