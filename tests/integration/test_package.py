"""`make package`: the zip ships bytecode for the runtime and builds byte-for-byte the same.

Builds the real package twice (pip fetches the arm64 wheels, or takes them from its cache),
in two build directories, and reads the zips: no Lambda, no AWS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TAG = "cpython-312"


def _package_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_script", ROOT / "scripts" / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runtime_python() -> str:
    try:
        return str(_package_script().find_runtime_python())
    except SystemExit as e:
        pytest.skip(f"no Python 3.12 here to compile the runtime's bytecode: {e}")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> list[Path]:
    zips = []
    for n in (1, 2):
        base = tmp_path_factory.mktemp(f"build{n}")
        output = base / "bastion-orchestrator.zip"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "package.py"),
                "--output",
                str(output),
                "--build-dir",
                str(base / "package"),
                "--runtime-python",
                runtime_python,
            ],
            check=True,
            capture_output=True,
        )
        zips.append(output)
    return zips


def test_two_builds_are_byte_identical(builds):
    first, second = (hashlib.sha256(p.read_bytes()).hexdigest() for p in builds)
    assert first == second


def test_every_module_ships_bytecode_compiled_for_the_runtime(builds, runtime_python):
    # Given the package
    with zipfile.ZipFile(builds[0]) as zf:
        names = set(zf.namelist())
        bytecode = {n: zf.read(n) for n in names if n.endswith(".pyc")}
    # Then every module has its .cpython-312.pyc beside it: ours and the dependencies'
    sources = sorted(n for n in names if n.endswith(".py"))
    expected = {_pyc(n) for n in sources}
    assert not expected - names, sorted(expected - names)[:10]
    for module in (
        "handler.py",
        "auto_terminate.py",
        "models.py",
        "bastion_orchestrator/usecases/reaper.py",
        "bastion_orchestrator/doors/slack/acknowledge.py",
        "pydantic/main.py",
        "pydantic_core/core_schema.py",
        "aws_lambda_powertools/logging/logger.py",
        "aws_lambda_powertools/utilities/parameters/ssm.py",
        "slack_sdk/signature/__init__.py",
        "typing_extensions.py",
        "jmespath/parser.py",
    ):
        assert _pyc(module) in bytecode, module
    # And only the runtime's bytecode, nothing the host compiled
    assert set(bytecode) == expected
    # And each one is for Python 3.12 (its magic number) and hash-based, unchecked: valid
    # whatever the timestamps of the unpacked files (flags 0b01; 0b11 would re-hash the source)
    magic = subprocess.run(
        [runtime_python, "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name, data in bytecode.items():
        assert data[:4].hex() == magic, name
        assert int.from_bytes(data[4:8], "little") == 0b01, name


def test_the_wheels_are_still_the_runtimes(builds):
    with zipfile.ZipFile(builds[0]) as zf:
        names = zf.namelist()
    extensions = [n for n in names if n.startswith("pydantic_core/") and n.endswith(".so")]
    assert extensions and all("cpython-312-aarch64-linux-gnu" in n for n in extensions)
    assert not [n for n in names if n.split("/")[0] in {"boto3", "botocore", "bin"}]


def _pyc(source: str) -> str:
    folder, _, file = source.rpartition("/")
    stem = file.removesuffix(".py")
    return f"{folder + '/' if folder else ''}__pycache__/{stem}.{TAG}.pyc"
