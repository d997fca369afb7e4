"""Shared fixtures: every test must leave native thread limits as it found them."""

import os

import pytest
from threadpoolctl import ThreadpoolController


def _limits():
    return {info["filepath"]: info["num_threads"] for info in ThreadpoolController().info()}


@pytest.fixture(autouse=True)
def _threadpools_unchanged():
    # Check that no test leaves a BLAS/OpenMP limit behind (STYLE.md "State").
    before = _limits()
    yield
    after = _limits()
    assert {k: v for k, v in after.items() if k in before} == before


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    # Compiled user kernels go to a cache private to this test session, never
    # to the user's ~/.cache (sktune._cache); subprocesses inherit it.
    old = os.environ.get("SKTUNE_CACHE_DIR")
    os.environ["SKTUNE_CACHE_DIR"] = str(tmp_path_factory.mktemp("sktune-cache"))
    yield
    if old is None:
        del os.environ["SKTUNE_CACHE_DIR"]
    else:
        os.environ["SKTUNE_CACHE_DIR"] = old


@pytest.fixture
def global_random_seed():
    """A seed for random data, overridable with SKTUNE_TESTS_SEED."""
    return int(os.environ.get("SKTUNE_TESTS_SEED", "42"))
