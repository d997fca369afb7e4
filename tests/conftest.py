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


@pytest.fixture
def global_random_seed():
    """A seed for random data, overridable with SKTUNE_TESTS_SEED."""
    return int(os.environ.get("SKTUNE_TESTS_SEED", "42"))
