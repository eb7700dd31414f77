"""The moto example applied once per test session, shared by every module of this directory.

Under pytest-xdist each worker is a session of its own: with ``--dist loadfile`` (what
``make test`` uses) a worker that runs any of these modules applies once, so ``-n 2`` applies
at most twice however many modules share the stack. One apply for the whole run would need
one worker for every module here (``--dist loadgroup`` with an ``xdist_group`` mark), but
pytest-xdist 3.8 groups by rewriting ``item._nodeid``, which pytest 9 no longer reads, so the
mark is silently ignored; and one moto server shared by two workers would let one worker's
sweeps terminate the other's bastions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.terraform import stack


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    if stack.TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH")
    with stack.moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def deployed(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> stack.Deployed:
    return stack.apply(moto_endpoint, tmp_path_factory.mktemp("tf"))
