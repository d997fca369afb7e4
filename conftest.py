"""Fixtures for every test, doctests under sktune/ included."""

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    # Compiled user kernels go to a cache private to this test session, never
    # to the user's ~/.cache (sktune._files); subprocesses inherit it.
    old = os.environ.get("SKTUNE_CACHE_DIR")
    os.environ["SKTUNE_CACHE_DIR"] = str(tmp_path_factory.mktemp("sktune-cache"))
    yield os.environ["SKTUNE_CACHE_DIR"]
    if old is None:
        del os.environ["SKTUNE_CACHE_DIR"]
    else:
        os.environ["SKTUNE_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _private_wisdom(_private_cache_dir, tmp_path_factory, monkeypatch):
    # Each test gets its own wisdom folder, so a workload profiled by an
    # earlier test is measured again rather than answered from the cache.
    # The compiled-kernel caches stay shared through symlinks: compiling is slow.
    session_root, root = Path(_private_cache_dir), tmp_path_factory.mktemp("cache")
    for name in ("jit", "cython"):
        (session_root / name).mkdir(exist_ok=True)
        try:
            (root / name).symlink_to(session_root / name, target_is_directory=True)
        except OSError:  # no symlinks (Windows without privilege): compile again
            pass
    monkeypatch.setenv("SKTUNE_CACHE_DIR", str(root))


# The deprecated sktune.compare module warns when imported; it has no doctest.
collect_ignore = ["sktune/compare.py"]
