"""The moto example applied once per test session, shared by every module of this directory.

``make test`` (``--terraform-early``, see ``tests/support/early_stack.py``) applies once for
the whole run, in the background from the first second, and sends every module of this
directory to one worker: one moto server shared by two workers would let one worker's sweeps
terminate the other's bastions. Otherwise each session (each xdist worker) applies its own
the first time a module here asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import early_stack
from tests.terraform import stack


@pytest.fixture(scope="session")
def moto_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    if stack.TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH")
    background = early_stack.directory(request.config)
    if background is not None:
        yield stack.wait(background).endpoint
        return
    with stack.moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def deployed(
    request: pytest.FixtureRequest, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> stack.Deployed:
    background = early_stack.directory(request.config)
    if background is not None:
        return stack.wait(background)
    return stack.apply(moto_endpoint, tmp_path_factory.mktemp("tf"))
