"""The moto example applied once per test session, shared by every module of this directory.

Under pytest-xdist each worker is a session of its own: with ``--dist loadfile`` a worker that
runs any of these modules applies once; with ``--dist loadgroup`` they are all one group
(``xdist_group("terraform")``, added below), so one worker applies once for the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.terraform import stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("terraform") is not None:
            item.add_marker(pytest.mark.xdist_group("terraform"))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    if stack.TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH")
    with stack.moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def deployed(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> stack.Deployed:
    return stack.apply(moto_endpoint, tmp_path_factory.mktemp("tf"))
