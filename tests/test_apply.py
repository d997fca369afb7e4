"""Tests for Config.apply (sktune._trials.apply): set joblib/BLAS/OpenMP state, restore it."""

import os
import sys
import threading
import time

import joblib
import joblib.parallel
import numpy as np
import pytest
import sklearn
import sklearn.ensemble._forest as forest_module
from joblib import Parallel, delayed
from joblib._parallel_backends import LokyBackend, ThreadingBackend
from sklearn.ensemble import RandomForestClassifier
from threadpoolctl import threadpool_info

from sktune import Config
from sktune._trials.apply import CappedThreadingBackend

needs_two_cpus = pytest.mark.skipif(joblib.cpu_count() < 2, reason="needs 2 usable CPUs")


@pytest.fixture
def Xy(global_random_seed):
    rng = np.random.RandomState(global_random_seed)
    X = rng.normal(size=(200, 5))
    return X, (X[:, 0] > 0).astype(int)


def _joblib_state():
    backend, n_jobs = joblib.parallel.get_active_backend()
    return type(backend), n_jobs


def _thread_counts(user_api=None):
    return sorted((info["filepath"], info["num_threads"]) for info in threadpool_info()
                  if user_api is None or info["user_api"] == user_api)


def _global_state():
    """Everything Config.apply may touch, as seen from the calling thread."""
    state = {"joblib": _joblib_state(), "sklearn": sklearn.get_config(),
             "threadpools": _thread_counts(), "environ": dict(os.environ)}
    if "numba" in sys.modules:
        state["numba"] = sys.modules["numba"].get_num_threads()
    return state


def _worker_openmp_threads():
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    openmp = {info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"}
    return threading.get_ident(), sorted(openmp), _openmp_effective_n_threads()


# -- checklist 2: n_jobs reaches the forest's trees -----------------------------

@pytest.fixture
def tree_threads(monkeypatch):
    """Record the thread that builds each tree of a forest."""
    idents = []
    original = forest_module._parallel_build_trees

    def spy(*args, **kwargs):
        idents.append(threading.get_ident())
        time.sleep(0.01)  # long enough for a second worker to pick up a tree
        return original(*args, **kwargs)

    # BaseForest.fit looks the function up in the module globals at call time.
    monkeypatch.setattr(forest_module, "_parallel_build_trees", spy)
    return idents


@needs_two_cpus
@pytest.mark.parametrize("configure", [True, False], ids=["configure+apply", "apply-only"])
def test_apply_threading_builds_trees_on_several_threads(Xy, tree_threads, configure):
    # Check that n_jobs=2 on threading builds the forest's trees on more than one
    # thread (checklist 2).
    X, y = Xy
    cfg = Config(n_jobs=2, backend="threading")
    rf = RandomForestClassifier(n_estimators=8, random_state=0)
    with cfg.apply():
        (cfg.configure(rf) if configure else rf).fit(X, y)
    assert len(tree_threads) == 8
    assert len(set(tree_threads)) > 1
    assert threading.get_ident() not in tree_threads


def test_apply_parallel_config_n_jobs_alone_is_sequential_for_forests(Xy, tree_threads):
    # Check the trap sktune avoids: parallel_config(n_jobs=2) with no backend
    # runs a prefer="threads" forest on a single thread (PITFALLS 1.5).
    X, y = Xy
    with joblib.parallel_config(n_jobs=2):
        RandomForestClassifier(n_estimators=8, random_state=0).fit(X, y)
    assert len(tree_threads) == 8
    assert len(set(tree_threads)) == 1


def test_apply_n_jobs_without_backend_leaves_joblib_alone():
    # Check that Config(n_jobs=2) with no backend does not set joblib's n_jobs:
    # it only travels through estimator parameters (configure).
    before = _joblib_state()
    with Config(n_jobs=2).apply():
        assert _joblib_state() == before
        assert Parallel()._effective_n_jobs() == 1
    assert _joblib_state() == before


@needs_two_cpus
def test_apply_loky_sets_backend_and_n_jobs():
    # Check that Config(n_jobs=2, backend="loky") makes joblib.Parallel() resolve
    # to 2 loky workers, even at a prefer="threads" site.
    with Config(n_jobs=2, backend="loky").apply():
        assert _joblib_state() == (LokyBackend, 2)
        for parallel in (Parallel(), Parallel(prefer="threads")):
            assert isinstance(parallel._backend, LokyBackend)
            assert parallel._effective_n_jobs() == 2


@needs_two_cpus
def test_apply_threading_backend_is_capped():
    # Check that backend="threading" installs sktune's OpenMP-capping thread backend.
    with Config(n_jobs=2, backend="threading").apply():
        backend_type, n_jobs = _joblib_state()
    assert issubclass(backend_type, CappedThreadingBackend)
    assert issubclass(backend_type, ThreadingBackend)
    assert n_jobs == 2


@needs_two_cpus
@pytest.mark.parametrize("inner", [1, 2], ids=lambda n: f"inner={n}")
def test_apply_loky_inner_max_num_threads_reaches_workers(inner):
    # Check that inner_max_num_threads sets the thread variables of loky workers
    # (checklist 5).
    def worker_thread_env():
        # Local, so cloudpickle sends it by value and workers skip importing this module.
        return os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS")

    cfg = Config(n_jobs=2, backend="loky", inner_max_num_threads=inner)
    with cfg.apply():
        seen = Parallel()(delayed(worker_thread_env)() for _ in range(2))
    assert seen == [(str(inner), str(inner))] * 2


# -- checklist 4: restore on every exit path ---------------------------------

RESTORE_CONFIGS = [
    Config(n_jobs=2, backend="threading", blas_threads=1, openmp_threads=1),
    Config(n_jobs=2, backend="loky", inner_max_num_threads=1),
    Config(backend="sequential", blas_threads=1),
]


@pytest.mark.parametrize("exc_type", [ValueError, KeyboardInterrupt],
                         ids=lambda e: e.__name__)
@pytest.mark.parametrize("config", RESTORE_CONFIGS, ids=str)
def test_apply_restores_state_on_error(config, exc_type):
    # Check that joblib's backend, sklearn's config, thread limits and the
    # environment are restored after the block raises (checklist 4).
    before = _global_state()
    with pytest.raises(exc_type):
        with config.apply() as applied:
            assert applied is config
            assert _global_state()["joblib"] != before["joblib"]
            raise exc_type("boom")
    assert _global_state() == before


def test_apply_sets_limits_in_calling_thread():
    # Check that BLAS and OpenMP limits are in force inside the block and undone after.
    before = _global_state()
    with Config(blas_threads=1, openmp_threads=1).apply():
        assert {n for _, n in _thread_counts("blas")} == {1}
        assert {n for _, n in _thread_counts("openmp")} == {1}
    assert _global_state() == before


def test_apply_decorator_twice_and_nested():
    # Check the decorator form: called twice in a row, nested in another decorated
    # function, and recursively, with the outer config back after the inner one.
    before = _global_state()
    outer_cfg = Config(n_jobs=2, backend="threading", openmp_threads=1)
    inner_cfg = Config(n_jobs=2, backend="loky")

    @inner_cfg.apply()
    def inner():
        return _joblib_state()

    @outer_cfg.apply()
    def outer():
        states = [_joblib_state(), inner(), _joblib_state()]
        assert {n for _, n in _thread_counts("openmp")} == {1}
        return states

    @inner_cfg.apply()
    def recurse(depth):
        state = _joblib_state()
        if depth:
            recurse(depth - 1)
        assert _joblib_state() == state
        return state

    expected = [(CappedThreadingBackend, 2), (LokyBackend, 2), (CappedThreadingBackend, 2)]
    assert outer() == expected
    assert _global_state() == before
    assert outer() == expected
    assert recurse(3) == (LokyBackend, 2)
    assert _global_state() == before


def test_apply_same_object_nested_with():
    # Check that one apply() object can be entered while already active.
    cm = Config(n_jobs=2, backend="threading").apply()
    result = {}

    def body():
        # joblib's config is thread-local: a leak dies with this thread.
        result["before"] = _joblib_state()
        try:
            with cm:
                with cm:
                    pass
                result["between"] = _joblib_state()
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc
        result["after"] = _joblib_state()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert "error" not in result, result.get("error")
    assert result["between"] == (CappedThreadingBackend, 2)
    assert result["after"] == result["before"]


# -- checklists 6 and 7: limits in the thread that runs the work ------------

def test_apply_in_helper_thread_limits_that_thread():
    # Check that a config entered in a helper thread limits BLAS and OpenMP as seen
    # from that thread, and leaves the main thread's OpenMP limits alone (checklist 6).
    main_openmp = _thread_counts("openmp")
    before = _global_state()
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def trial():
        try:
            with Config(blas_threads=1, openmp_threads=1).apply():
                seen["blas"] = _thread_counts("blas")
                seen["openmp"] = _thread_counts("openmp")
                entered.set()
                release.wait(timeout=30)
        finally:
            entered.set()

    thread = threading.Thread(target=trial)
    thread.start()
    try:
        assert entered.wait(timeout=30)
        assert _thread_counts("openmp") == main_openmp  # per-thread ICV
    finally:
        release.set()
        thread.join()
    assert seen["blas"] and {n for _, n in seen["blas"]} == {1}
    assert seen["openmp"] and {n for _, n in seen["openmp"]} == {1}
    assert _thread_counts("openmp") == main_openmp
    assert _global_state() == before


@needs_two_cpus
@pytest.mark.parametrize(
    "config, cap",
    [(Config(n_jobs=2, backend="threading"), max(1, joblib.cpu_count() // 2)),
     (Config(n_jobs=2, backend="threading", openmp_threads=1), 1)],
    ids=["default-cap", "openmp_threads=1"])
def test_apply_threading_workers_cap_openmp(config, cap):
    # Check that each threading-backend worker thread sees OpenMP capped at its
    # share of the cores, as sklearn's OpenMP code would use it (checklist 7).
    with config.apply():
        results = Parallel()(delayed(_worker_openmp_threads)() for _ in range(4))
    main = threading.get_ident()
    for ident, openmp, effective in results:
        assert ident != main
        assert openmp == [cap]
        assert effective == cap


# -- checklist 8: numba -------------------------------------------------------

def test_apply_numba_threads_set_and_restored():
    # Check that openmp_threads also caps Numba in the calling thread, never above
    # NUMBA_NUM_THREADS, and restores it afterwards (checklist 8).
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    maximum = numba.config.NUMBA_NUM_THREADS
    with Config(openmp_threads=1).apply():
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with Config(openmp_threads=maximum + 3).apply():  # would raise if passed through
        assert numba.get_num_threads() == maximum
    assert numba.get_num_threads() == before


@needs_two_cpus
def test_apply_numba_threads_capped_in_threading_workers():
    # Check that threading-backend workers cap Numba at their share of the cores.
    numba = pytest.importorskip("numba")
    cap = max(1, min(joblib.cpu_count() // 2, numba.config.NUMBA_NUM_THREADS))
    with Config(n_jobs=2, backend="threading").apply():
        seen = Parallel()(delayed(numba.get_num_threads)() for _ in range(4))
    assert seen == [cap] * 4
