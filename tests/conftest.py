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


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    # The session's own cache root (SKTUNE_CACHE_DIR): what a user's earlier
    # runs left in ~/.cache/sktune (wisdom, a machine calibration that
    # widens every interval) must not decide any test. Tests that need a
    # cache of their own still set one.
    old = os.environ.get("SKTUNE_CACHE_DIR")
    os.environ["SKTUNE_CACHE_DIR"] = str(tmp_path_factory.mktemp("sktune-cache"))
    yield
    if old is None:
        os.environ.pop("SKTUNE_CACHE_DIR", None)
    else:
        os.environ["SKTUNE_CACHE_DIR"] = old


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


@pytest.fixture
def private_tmpdir(tmp_path_factory, monkeypatch):
    """An empty temporary folder of this test's own, as this process's and its
    children's ``TMPDIR``: a check that nothing is left behind then looks at
    a folder the test controls, and fails on a machine where earlier runs
    left files exactly as it does on a fresh one (a listing of the shared
    ``/tmp`` cannot tell a leak from a leftover with the same name)."""
    import multiprocessing.util
    import tempfile

    # This process's own multiprocessing folder (made once, removed at exit)
    # is made where it would have been, not counted as the test's.
    multiprocessing.util.get_temp_dir()
    path = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(path))
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path
