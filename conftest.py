"""Fixtures for every test, doctests under sktune/ included."""

import os

import pytest


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
