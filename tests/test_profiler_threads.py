"""Tests of sktune.profilers.threads: busy-thread arithmetic, then real workloads."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import psutil
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from sktune.profilers import threads as threads_mod
from sktune.profilers.threads import ThreadsProfiler, process_tree_thread_times

from _helpers import FakeClock

two_cores = pytest.mark.skipif(joblib.cpu_count() < 2, reason="needs 2 usable cores")


class FakeSnapshots:
    """Returns the given ``{(pid, tid): cpu_seconds}`` snapshots in turn."""

    def __init__(self, *snapshots):
        self.snapshots = list(snapshots)

    def __call__(self):
        return self.snapshots.pop(0)


def _record(before, after, wall=1.0, usable_cores=2):
    clock = FakeClock()
    profiler = ThreadsProfiler(usable_cores=usable_cores,
                               snapshot=FakeSnapshots(before, after), clock=clock)
    profiler.start()
    clock.advance(wall)
    return profiler.stop()


def _settle():
    # Let BLAS/OpenMP threads of earlier tests stop spin-waiting (PITFALLS.md 3.4).
    time.sleep(0.2)


def _spin(seconds):
    # Burn CPU in pure Python for ``seconds`` of wall time.
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def test_threads_profiler_counts_new_and_ignores_vanished_threads():
    # Check the fields on a fake tree: a thread born during the call counts
    # from 0, one that died is ignored, a reused tid with less CPU restarts.
    before = {(1, 1): 10.0, (1, 2): 5.0, (1, 3): 2.0, (2, 8): 7.0}
    after = {(1, 1): 11.0, (1, 2): 5.05, (2, 7): 0.9, (2, 8): 0.3}
    record = _record(before, after, wall=1.0, usable_cores=2)
    assert record["busy_threads"] == 2  # (1, 1) and the new (2, 7)
    assert record["thread_parallelism"] == pytest.approx(1.0 + 0.05 + 0.9 + 0.3)
    assert record["ended_cpu_s"] == 0.0  # no process totals given
    assert record["n_threads"] == 4
    assert record["n_processes"] == 2
    assert record["oversubscribed"] is False
    json.dumps(record)


def test_threads_profiler_ended_threads_cpu_from_process_totals():
    # Check that CPU of threads that ended is recovered from the process
    # totals, (pid, None), and stays out of busy_threads.
    before = {(1, None): 20.0, (1, 1): 10.0, (1, 2): 4.0,
              (2, None): 3.0, (2, 5): 3.0}
    # (1, 2) ended after 0.7 s of CPU; a thread born and ended in process 2
    # ran 0.8 s; process 3 was born and ran a thread that ended, 0.6 s.
    after = {(1, None): 21.9, (1, 1): 11.2,
             (2, None): 4.5, (2, 5): 3.7,
             (3, None): 0.6}
    record = _record(before, after, wall=1.0, usable_cores=2)
    assert record["ended_cpu_s"] == pytest.approx(0.7 + 0.8 + 0.6)
    # Two live busy threads, but 2.1 s ran in threads no longer there: the
    # count is unknown, not 2.
    assert record["busy_threads"] is None
    assert record["oversubscribed"] is None
    assert record["thread_parallelism"] == pytest.approx(1.2 + 0.7)
    assert record["n_threads"] == 2
    assert record["n_processes"] == 3
    json.dumps(record)


@pytest.mark.parametrize("ended, live, cores, busy", [
    (0.49, [1.0, 1.0], 2, 2),     # under half a core ended: the live count stands
    (0.5, [1.0, 1.0], 2, None),   # half a core or more: unknown
    (0.8, [0.9, 0.9, 0.9], 2, 3),  # the live threads alone prove oversubscription
])
def test_threads_profiler_busy_threads_unknown_when_much_ran_in_ended_threads(
        ended, live, cores, busy):
    before = {(1, None): 10.0, **{(1, tid): 1.0 for tid in range(len(live))}}
    after = {(1, None): 10.0 + sum(live) + ended,
             **{(1, tid): 1.0 + cpu for tid, cpu in enumerate(live)}}
    record = _record(before, after, wall=1.0, usable_cores=cores)
    assert record["busy_threads"] == busy
    assert record["oversubscribed"] == (None if busy is None else busy > cores)


def test_threads_profiler_reaped_children_count_as_ended():
    # A child process that ran and was waited for during the call shows in
    # ended_cpu_s through the REAPED total, and is not a process of the tree.
    before = {threads_mod.REAPED: 5.0, (1, None): 2.0, (1, 1): 2.0}
    after = {threads_mod.REAPED: 6.5, (1, None): 2.1, (1, 1): 2.1}
    record = _record(before, after, wall=1.0, usable_cores=2)
    assert record["ended_cpu_s"] == pytest.approx(1.5)
    assert record["n_processes"] == 1
    assert record["busy_threads"] is None


@pytest.mark.parametrize(
    "n_threads, share, cores, busy",
    [(1, 1.0, 2, 1), (2, 0.95, 2, 2), (4, 0.5, 2, 4), (4, 0.9, 4, 4),
     (16, 0.25, 4, 16), (3, 0.4, 4, 0), (2, 0.5, 2, 0), (4, 0.25, 2, 0)],
    ids=["alone", "two-on-two", "four-on-two", "four-on-four", "sixteen-on-four",
         "idle-on-four", "gil-two-on-two", "gil-four-on-two"],
)
def test_threads_profiler_busy_threads_relative_to_fair_share(n_threads, share, cores, busy):
    # Check that threads sharing too few cores still count as busy, so that
    # heavy oversubscription is not hidden, while mostly idle threads and
    # threads taking turns on the GIL (one core between them) do not.
    before = {(1, tid): 3.0 for tid in range(n_threads)}
    after = {(1, tid): 3.0 + share * 2.0 for tid in range(n_threads)}
    record = _record(before, after, wall=2.0, usable_cores=cores)
    assert record["busy_threads"] == busy
    assert record["thread_parallelism"] == pytest.approx(n_threads * share)
    assert record["oversubscribed"] is (busy > cores)


def test_threads_profiler_zero_wall_time():
    # Check that a call too short for the clock gives zeros, not a division error.
    record = _record({(1, 1): 1.0}, {(1, 1): 1.0}, wall=0.0)
    assert record["busy_threads"] == 0
    assert record["thread_parallelism"] == 0.0
    assert record["oversubscribed"] is False


def test_threads_profiler_defaults():
    # Check the registry attributes and that usable cores default to joblib's count.
    profiler = ThreadsProfiler()
    assert profiler.name == "threads"
    assert profiler.extra_run is False
    assert profiler._cores() == joblib.cpu_count()
    assert ThreadsProfiler(usable_cores=3)._cores() == 3


@pytest.mark.parametrize("exc", [psutil.NoSuchProcess, psutil.ZombieProcess,
                                 psutil.AccessDenied])
def test_process_tree_thread_times_skips_vanished_process(monkeypatch, exc):
    # Check that a child that exits between listing and reading is skipped.
    class Gone:
        pid = 2 ** 22 + 1

        def cpu_times(self):  # read just before the process went away
            return psutil.Process().cpu_times()

        def threads(self):
            raise exc(self.pid)

    monkeypatch.setattr(psutil.Process, "children",
                        lambda self, recursive=False: [Gone()])
    times = process_tree_thread_times()
    assert times
    assert {pid for pid, _ in times} == {psutil.Process().pid, threads_mod.REAPED[0]}
    assert threading.get_native_id() in {tid for _, tid in times}


def test_threads_profiler_lists_threadpools_of_calling_thread():
    # Check that the BLAS pool appears with the limit in force, deduplicated.
    with threadpool_limits(1, user_api="blas"):
        record = _record({}, {})
    blas = [pool for pool in record["threadpools"] if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
    assert all(set(pool) == {"user_api", "internal_api", "num_threads"}
               for pool in record["threadpools"])
    expected = {(info["user_api"], info["internal_api"], info["num_threads"])
                for info in threadpool_info()}
    assert len(record["threadpools"]) == len(expected)


def test_threads_profiler_without_cached_controller(monkeypatch):
    # Check the fallback for threadpoolctl before 3.8 (no get_cached_controller).
    import threadpoolctl

    monkeypatch.delattr(threadpoolctl, "get_cached_controller")
    pools = threads_mod._threadpools()
    assert [tuple(pool.values()) for pool in pools] == sorted(
        {(info["user_api"], info["internal_api"], info["num_threads"])
         for info in threadpool_info()})


# -- real workloads: loose bounds, 2 cores -----------------------------------

@pytest.mark.slow
def test_threads_profiler_single_thread_workload():
    # Check that a single-threaded call keeps about one thread and one core busy.
    profiler = ThreadsProfiler()
    x = np.random.default_rng(0).normal(size=20_000)
    _settle()
    with threadpool_limits(1):
        profiler.start()
        end = time.perf_counter() + 0.4
        while time.perf_counter() < end:
            np.sort(x)
        record = profiler.stop()
    assert 0.6 < record["thread_parallelism"] < 1.3, record
    assert record["busy_threads"] == 1, record
    assert record["n_processes"] >= 1


def _openmp_kernel_work(seconds):
    pytest.importorskip("sktune._cy._kernels")
    from sktune._cy._kernels import column_affine, openmp_enabled

    if not openmp_enabled():
        pytest.skip("sktune's Cython extension is built without OpenMP")
    X = np.random.default_rng(0).normal(size=(2000, 500))
    mean, scale, out = X.mean(axis=0), X.std(axis=0) + 0.5, np.empty_like(X)

    def scale_with_two_threads():
        column_affine(X, mean, scale, out, False, False, False, 0.0, 0.0, False, 2)

    def work():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            scale_with_two_threads()
    scale_with_two_threads()  # the OpenMP team outlives the call
    return work


def _gil_free_threads_work(seconds):
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(300, 300)), rng.normal(size=(300, 300))
    # Threads that outlive the call, as in a reused pool: ended ones are lost.
    executor = ThreadPoolExecutor(2)
    for future in [executor.submit(lambda: A @ B) for _ in range(4)]:
        future.result()

    def burn():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            A @ B  # releases the GIL; one BLAS thread under the limit below

    def work():
        for future in [executor.submit(burn) for _ in range(2)]:
            future.result()
    work.close = executor.shutdown
    return work


@pytest.mark.slow
@two_cores
@pytest.mark.parametrize("make_work", [_openmp_kernel_work, _gil_free_threads_work],
                         ids=["openmp-kernel", "python-threads"])
def test_threads_profiler_two_thread_workload(make_work):
    # Check that two threads computing at once show as two busy threads.
    work = make_work(0.4)
    profiler = ThreadsProfiler()
    try:
        with threadpool_limits(1, user_api="blas"):
            profiler.start()
            work()
            record = profiler.stop()
    finally:
        getattr(work, "close", lambda: None)()
    assert record["thread_parallelism"] > 1.4, record
    assert record["busy_threads"] >= 2, record


@pytest.mark.slow
@two_cores
def test_threads_profiler_counts_loky_worker_threads():
    # Check that the threads of live loky workers count (PITFALLS.md section 7).
    with joblib.parallel_config(backend="loky", n_jobs=2):
        joblib.Parallel()(joblib.delayed(_spin)(0.01) for _ in range(2))  # warm pool
        profiler = ThreadsProfiler()
        profiler.start()
        joblib.Parallel()(joblib.delayed(_spin)(0.4) for _ in range(2))
        record = profiler.stop()
    assert record["n_processes"] >= 3, record
    assert record["thread_parallelism"] > 1.4, record
    assert record["busy_threads"] >= 2, record


@pytest.mark.slow
def test_threads_profiler_reports_threads_that_ended():
    # Check that a thread born and ended during the call is not counted as
    # a live thread, its CPU time shows in ended_cpu_s, and the busy-thread
    # count is unknown rather than 0.
    profiler = ThreadsProfiler()
    worker = threading.Thread(target=_spin, args=(0.3,))
    _settle()
    profiler.start()
    worker.start()
    worker.join()
    record = profiler.stop()
    assert record["ended_cpu_s"] > 0.15, record
    assert record["busy_threads"] is None, record


@pytest.mark.slow
def test_threads_profiler_reports_child_processes_that_ended():
    # A child process that spins and is waited for inside the call.
    import subprocess
    import sys

    profiler = ThreadsProfiler()
    _settle()
    profiler.start()
    subprocess.run([sys.executable, "-c",
                    "import time\nend = time.perf_counter() + 0.4\n"
                    "while time.perf_counter() < end: pass"], check=True)
    record = profiler.stop()
    assert record["ended_cpu_s"] > 0.3, record
    assert record["busy_threads"] is None, record
