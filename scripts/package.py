"""Build dist/bastion-orchestrator.zip for Lambda (python3.12, arm64), reproducibly.

Two builds from the same sources and requirements are byte-identical: entries are sorted,
every timestamp is 1980-01-01 00:00:00, permissions are fixed and no bytecode is shipped
(the local interpreter is not the runtime's, so its .pyc files would be ignored anyway).

boto3 and botocore (and what only they pull in: s3transfer, urllib3, python-dateutil, six)
are left out: the Lambda runtime ships them. ``--bundle-boto3`` includes the pinned ones.

Usage: python scripts/package.py [--output dist/bastion-orchestrator.zip] [--bundle-boto3]
"""

from __future__ import annotations

import argparse
import hashlib
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

# Never shipped: bytecode, caches, and the console scripts pip puts in the top-level bin/.
EXCLUDED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache"})
EXCLUDED_TOP_LEVEL = frozenset({"bin"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")

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


def shipped(path: Path, base: Path) -> bool:
    relative = path.relative_to(base)
    return (
        path.is_file()
        and relative.parts[0] not in EXCLUDED_TOP_LEVEL
        and not any(part in EXCLUDED_PARTS for part in relative.parts)
        and not path.name.endswith(EXCLUDED_SUFFIXES)
    )


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
    args = parser.parse_args(argv)

    if BUILD_DIR.exists():
        shutil.rmtree(BUILD_DIR)
    BUILD_DIR.mkdir(parents=True)

    install(runtime_requirements(args.requirements, bundle_boto3=args.bundle_boto3), BUILD_DIR)
    if not args.bundle_boto3:
        leaked = sorted(n for n in ("boto3", "botocore", "s3transfer") if (BUILD_DIR / n).exists())
        if leaked:
            raise SystemExit(f"{', '.join(leaked)} pulled in by a dependency: check requirements")
    copy_sources(BUILD_DIR)
    write_zip(BUILD_DIR, args.output)

    data = args.output.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        shown = args.output.relative_to(ROOT)
    except ValueError:
        shown = args.output
    print(f"{shown}  {len(data):,} bytes  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
