"""Tests for the memory profiler: peak PSS over the process tree, memmap folders."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV

import sktune
from sktune.exceptions import InvalidParameterError
from sktune.profilers import memory
from sktune.profilers.memory import MemoryProfiler

MB = 2**20
FIELDS = {"mem_peak_bytes", "mem_rest_bytes", "mem_extra_bytes", "mem_shm_peak_bytes",
          "mem_processes", "mem_samples", "mem_metric"}


class ScriptedTree:
    """Fake ``list_pids``/``read_rss``/``read_process``: one snapshot per sample.

    A snapshot maps a pid to its PSS, to ``(rss, pss)`` or to ``(rss,
    shared, pss)`` (the probe's resident and shared bytes: shared is 0 when
    not given); a pid mapped to None is listed but has exited when read.
    After the last snapshot the tree stays as it is and ``played`` is set.
    """

    def __init__(self, snapshots, read_cpu=0.0):
        self.snapshots = snapshots
        self.read_cpu = read_cpu
        self.calls = 0
        self.reads = []
        self.played = threading.Event()

    def list_pids(self):
        self.current = self.snapshots[min(self.calls, len(self.snapshots) - 1)]
        self.calls += 1
        if self.calls >= len(self.snapshots):
            self.played.set()
        return list(self.current)

    def read_rss(self, pid):
        value = self.current[pid]
        return None if value is None else (value[0], value[1] if len(value) == 3 else 0)

    def read_process(self, pid):
        self.reads.append(pid)
        cpu = time.thread_time()
        while time.thread_time() - cpu < self.read_cpu:  # a costly read
            pass
        value = self.current[pid]
        return value[-1] if isinstance(value, tuple) else value


def _play(snapshots, probe=False, read_cpu=0.0):
    tree = ScriptedTree(snapshots, read_cpu)
    profiler = MemoryProfiler(read_process=tree.read_process, list_pids=tree.list_pids,
                              read_rss=tree.read_rss if probe else None,
                              interval=1e-4, max_interval=1e-3, memmap_roots=[])
    profiler.start()
    assert tree.played.wait(10)
    return profiler.stop(), tree


def _sampler_threads():
    return [t for t in threading.enumerate() if t.name == "sktune-memory-sampler"]


def _rendezvous(folder, n_parties, timeout=20):
    # Block until n_parties processes have arrived, so that they overlap.
    folder = Path(folder)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < n_parties and time.monotonic() < deadline:
        time.sleep(0.005)


def _hold_ones(nbytes, ready, seconds):
    block = np.ones(nbytes // 8)  # np.ones writes, so every page is resident
    _rendezvous(ready, 2)
    time.sleep(seconds)
    return float(block[-1])


def _hold_memmap(path, shape, ready, seconds):
    block = np.memmap(path, dtype=np.float64, mode="r", shape=shape)
    total = float(block.sum())  # reads every page of the file
    _rendezvous(ready, 2)
    time.sleep(seconds)
    del block
    return total


def _hold_array(array, seconds):
    time.sleep(seconds)
    return float(array[0])


@pytest.fixture(scope="module")
def warm_loky():
    # Start both loky workers (and numpy in them) before any measurement.
    Parallel(n_jobs=2, backend="loky")(delayed(_hold_array)(np.ones(2), 0.05) for _ in range(2))


def test_memory_profiler_peak_rest_extra_processes():
    # Check that the peak is the largest sum over the tree, the rest the first one.
    record, _ = _play([{1: 100}, {1: 150, 2: 50}, {1: 120, 2: 400, 3: 30}, {1: 110}])
    assert record["mem_rest_bytes"] == 100
    assert record["mem_peak_bytes"] == 550
    assert record["mem_extra_bytes"] == 450
    assert record["mem_processes"] == 3
    assert record["mem_samples"] >= 4
    assert set(record) == FIELDS
    json.dumps(record)


def test_memory_profiler_extra_never_negative():
    # Check that a call that frees memory has extra 0 and the rest as its peak.
    record, _ = _play([{1: 300, 2: 100}, {1: 200}, {1: 100}])
    assert record["mem_peak_bytes"] == record["mem_rest_bytes"] == 400
    assert record["mem_extra_bytes"] == 0


def test_memory_profiler_skips_vanished_process():
    # Check that a process listed but gone when read is skipped, not an error.
    record, _ = _play([{1: 100, 2: None}, {1: 100, 2: 50, 3: None}, {1: 100}])
    assert record["mem_peak_bytes"] == 150
    assert record["mem_processes"] == 2


def test_memory_profiler_reads_pss_when_shared_pages_settle():
    # Check that with a cheap probe, anonymous growth is estimated without a
    # read, PSS is read once a process's shared (file-backed) pages have
    # moved and settled, and a second sharer's arrival re-reads the first:
    # 200 of file pages mapped by both count once, never 300 + 150.
    record, tree = _play([{1: (100, 0, 100), 2: (50, 0, 50)},
                          {1: (100, 0, 100), 2: (150, 0, 150)},  # 2: +100 anonymous
                          {1: (300, 200, 300), 2: (50, 0, 50)},  # 1 maps a file: moving
                          {1: (300, 200, 300), 2: (50, 0, 50)},  # settled: read 1
                          {1: (300, 200, 200), 2: (250, 200, 150)},  # 2 maps it too
                          {1: (300, 200, 200), 2: (250, 200, 150)},  # settled: read 2, then all
                          {1: (100, 0, 100), 2: (50, 0, 50)}], probe=True)
    assert record["mem_rest_bytes"] == 150
    assert record["mem_peak_bytes"] == 350
    assert record["mem_processes"] == 2
    assert tree.reads.count(1) == 4  # start, its mapping, the second sharer's, stop


def test_memory_profiler_estimates_between_reads_over_budget():
    # Check that when PSS reads are over the CPU budget, anonymous pages a
    # process allocates are still in the peak (estimated from the probe),
    # pages it maps from a file are not guessed, and a new process is read.
    record, tree = _play([{1: (100, 100)},
                          {1: (300, 300)},  # +200 anonymous: estimated
                          {1: (300, 100, 300)},  # 200 of them freed, 200 mapped
                          {1: (100, 100), 2: (70, 40)},  # a new process
                          {1: (100, 100)}], probe=True, read_cpu=0.03)
    assert record["mem_peak_bytes"] == 300
    assert tree.reads.count(1) == 3  # start, when 2 appeared (it may share 1's pages), stop
    assert tree.reads.count(2) == 1  # new: read whatever the budget


def test_memory_profiler_keeps_costly_reads_within_budget():
    # Check that a read costing more CPU than the budget allows is not
    # repeated in the background (only start and stop read).
    calls = []

    def costly_read(pid):
        calls.append(pid)
        cpu = time.thread_time()
        while time.thread_time() - cpu < 0.03:
            pass
        return 1

    profiler = MemoryProfiler(read_process=costly_read, list_pids=lambda: [1],
                              interval=1e-3, max_interval=1e-2, memmap_roots=[])
    profiler.start()
    time.sleep(0.2)
    record = profiler.stop()
    assert len(calls) == 2
    assert record["mem_samples"] > 5


def test_memory_profiler_skips_exited_real_process():
    # Check that the default reader skips a real pid that has exited and was reaped.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    profiler = MemoryProfiler(list_pids=lambda: [os.getpid(), child.pid])
    profiler.start()
    record = profiler.stop()
    assert record["mem_processes"] == 1
    assert record["mem_peak_bytes"] > 0


def test_memory_profiler_stop_twice_and_without_start():
    # Check that stop() before start() or twice is harmless and leaves no thread.
    before = set(threading.enumerate())
    profiler = MemoryProfiler()
    record = profiler.stop()
    assert set(record) == FIELDS and record["mem_peak_bytes"] is None
    json.dumps(record)
    profiler.start()
    profiler.start()  # a second start must not leave the first thread behind
    assert len(_sampler_threads()) == 1
    first = profiler.stop()
    assert profiler.stop() == first
    assert first["mem_peak_bytes"] > 0
    profiler.close()
    assert not _sampler_threads()
    assert set(threading.enumerate()) == before


def test_memory_profiler_close_stops_thread():
    # Check that close() after start() stops the sampler thread.
    profiler = MemoryProfiler()
    profiler.start()
    profiler.close()
    assert not _sampler_threads()


def test_memory_profiler_invalid_parameters():
    # Check the error types and wording of the constructor's validation.
    with pytest.raises(InvalidParameterError, match="Invalid metric: 'uss'"):
        MemoryProfiler(metric="uss")
    with pytest.raises(InvalidParameterError, match="'interval' parameter of MemoryProfiler"):
        MemoryProfiler(interval=0)


def test_memory_profiler_falls_back_to_rss(monkeypatch):
    # Check that without a readable smaps_rollup the record says it used RSS.
    monkeypatch.setattr(memory, "_SMAPS_ROLLUP", "/nonexistent/{}/smaps_rollup")
    profiler = MemoryProfiler()
    profiler.start()
    record = profiler.stop()
    assert record["mem_metric"] == "rss"
    assert record["mem_peak_bytes"] > 0


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs Linux >= 4.14")
def test_memory_profiler_uses_pss_on_linux():
    # Check that PSS is the metric where smaps_rollup can be read.
    assert MemoryProfiler().metric == "pss"


def test_memory_profiler_memmap_folders_of_the_tree(tmp_path):
    # Check that only joblib folders of processes in the tree are counted.
    pid = os.getpid()
    for owner, size in [(pid, 1000), (4242, 500), (99999999, 7000)]:
        folder = tmp_path / f"joblib_memmapping_folder_{owner}_abc_def"
        folder.mkdir()
        (folder / "array.pkl").write_bytes(b"x" * size)
    (tmp_path / "unrelated").mkdir()
    profiler = MemoryProfiler(read_process=lambda pid: 1, list_pids=lambda: [pid, 4242],
                              memmap_roots=[tmp_path, tmp_path / "missing"])
    profiler.start()
    assert profiler.stop()["mem_shm_peak_bytes"] == 1500


@pytest.mark.slow
def test_memory_profiler_samples_short_and_long_calls():
    # Check that a 50 ms call is sampled and a 0.5 s call costs few samples.
    profiler = MemoryProfiler()
    profiler.start()
    time.sleep(0.05)
    assert profiler.stop()["mem_samples"] >= 3
    profiler.start()
    time.sleep(0.5)
    assert profiler.stop()["mem_samples"] <= 20  # the ramp gives ~13


@pytest.mark.slow
def test_memory_profiler_counts_worker_memory(warm_loky, tmp_path):
    # Check that memory allocated in two loky workers at once is in the peak.
    nbytes = 200 * MB
    profiler = MemoryProfiler()
    profiler.start()
    Parallel(n_jobs=2, backend="loky")(
        delayed(_hold_ones)(nbytes // 2, tmp_path, 0.5) for _ in range(2))
    record = profiler.stop()
    assert 0.9 * nbytes <= record["mem_extra_bytes"] <= 1.25 * nbytes
    assert record["mem_processes"] >= 3
    assert record["mem_metric"] == "pss"


def _allocate(nbytes, inherited, seconds):
    block = np.ones(nbytes // 8)
    time.sleep(seconds)
    return float(block[-1] + inherited[0])


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs Linux >= 4.14")
def test_memory_profiler_forked_workers_share_parent_pages():
    # Check that the pages forked workers inherit from the parent are counted
    # once: 2 x 50 MB allocated over a 200 MB parent is not 300 MB more.
    inherited = np.ones(200 * MB // 8)
    profiler = MemoryProfiler()
    profiler.start()
    Parallel(n_jobs=2, backend="multiprocessing")(
        delayed(_allocate)(50 * MB, inherited, 0.4) for _ in range(2))
    record = profiler.stop()
    assert 0.9 * 100 * MB <= record["mem_extra_bytes"] <= 170 * MB


def _proactive_pageout():
    """Whether a DAMON scheme pages out cold memory on this machine (sysfs admin)."""
    root = Path("/sys/kernel/mm/damon/admin/kdamonds")
    for kdamond in root.glob("[0-9]*"):
        state = kdamond / "state"
        if not state.exists() or state.read_text().strip() != "on":
            continue
        for action in kdamond.glob("contexts/*/schemes/*/action"):
            if action.read_text().strip() == "pageout":
                return True
    return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs Linux >= 4.14")
@pytest.mark.skipif(_proactive_pageout(), reason="the kernel's DAMON 'pageout' scheme evicts "
                    "the shared file's pages while it is measured (seen on the CI VM: the "
                    "PSS peak was 0 to 0.5 of one copy), so the bound cannot be checked here")
def test_memory_profiler_shared_memmap_counted_once(warm_loky, tmp_path):
    # Check that a file mapped and read by two workers at once is counted once
    # (checklist item 18), where summed RSS counts it twice.
    nbytes, shape = 128 * MB, (128 * MB // 8,)
    path = str(tmp_path / "shared.dat")
    block = np.memmap(path, dtype=np.float64, mode="w+", shape=shape)
    block[:] = 1.0
    block.flush()
    del block  # no longer mapped here: only the workers map it
    ready = tmp_path / "ready"
    ready.mkdir()
    pss, rss = MemoryProfiler(metric="pss"), MemoryProfiler(metric="rss")
    pss.start()
    rss.start()
    totals = Parallel(n_jobs=2, backend="loky")(
        delayed(_hold_memmap)(path, shape, ready, 0.5) for _ in range(2))
    rss_record, pss_record = rss.stop(), pss.stop()
    assert totals == [shape[0]] * 2
    assert len(list(ready.iterdir())) == 2  # two workers held it at the same time
    assert 0.6 * nbytes < pss_record["mem_extra_bytes"] < 1.5 * nbytes
    assert rss_record["mem_extra_bytes"] > 1.7 * nbytes


@pytest.mark.slow
def test_memory_profiler_reports_joblib_memmap_folder(warm_loky):
    # Check that an array joblib dumps for its workers is seen in its folder.
    array = np.ones(16 * MB // 8)
    profiler = MemoryProfiler()
    profiler.start()
    Parallel(n_jobs=2, backend="loky")(delayed(_hold_array)(array, 0.3) for _ in range(2))
    record = profiler.stop()
    assert record["mem_shm_peak_bytes"] >= array.nbytes


class HoldingClassifier(ClassifierMixin, BaseEstimator):
    """Holds ``nbytes`` of memory for ``seconds`` during ``fit``."""

    def __init__(self, nbytes=0, seconds=0.0, k=0):
        self.nbytes = nbytes
        self.seconds = seconds
        self.k = k

    def fit(self, X, y):
        block = np.ones(self.nbytes // 8)
        time.sleep(self.seconds)
        self.classes_ = np.unique(y)
        self.filled_ = float(block[-1])
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


@pytest.mark.slow
def test_profile_peak_memory_includes_grid_search_workers():
    # Check, through sktune.profile, that memory a GridSearchCV(n_jobs=2)
    # allocates in two loky workers at once is in the trial's added memory,
    # and that its inner fits are counted (2 candidates x 2 splits + refit).
    nbytes = 64 * MB
    X, y = np.zeros((40, 2)), np.arange(40) % 2
    search = GridSearchCV(HoldingClassifier(nbytes, 0.3), {"k": [0, 1]}, cv=2, n_jobs=2)
    with parallel_config(backend="loky"):
        result = sktune.profile(search, X, y, space=sktune.ConfigSpace(), budget="quick")
    baseline = result.stats[0]
    assert baseline.status == "ok"
    assert 1.5 * nbytes <= baseline.extra_bytes <= 4 * nbytes  # two workers' blocks at once
    assert baseline.peak_bytes > baseline.extra_bytes
    steps = result.steps.set_index(["step", "method"])
    assert steps.loc[("estimator", "fit"), "calls"] == 2 * 2 + 1
