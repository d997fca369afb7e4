"""Shared fixtures: every test must leave native thread limits as it found them."""

import gc
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


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap():
    # sktune's in-process runner calls gc.collect() before every trial; late
    # in a session this test process holds so many objects that each call
    # took a large share of a test's time. Objects alive when a module
    # starts are moved out of the collector's reach for that module.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()
