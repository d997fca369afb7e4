"""Isolated trials: crashes, hangs, cut-offs and Ctrl-C end a trial, not the run.

Real worker processes, real signals; no test asserts a wall-clock time. The
misbehaving estimator decides what to do from the joblib backend active
during its fit, so one configuration hangs and another one segfaults.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from sklearn.datasets import make_classification

import sktune
from sktune import Config, ConfigSpace
from sktune._trials import isolated as isolation
from sktune._trials import worker as worker_module
from sktune.exceptions import WorkerStartError
from sktune.profilers import Profiler
from sktune.search import RacingSearch

from _helpers import ContextProbe, MisbehavingEstimator

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

SPACE = ConfigSpace(n_jobs=[2], backend=["threading", "loky"])
HANG, CRASH = Config(n_jobs=2, backend="threading"), Config(n_jobs=2, backend="loky")


@pytest.fixture
def data():
    return make_classification(n_samples=100, n_features=4, random_state=0)


def _data_folders():
    """This process's sktune data folders, wherever the isolated runner puts them."""
    roots = [Path(tempfile.gettempdir()), Path("/dev/shm")]
    return {p for root in roots if root.is_dir()
            for p in root.glob(f"sktune-{os.getpid()}-*")}


@pytest.fixture
def leaves_nothing_behind(private_tmpdir):
    """Check that no child process, data folder or temporary file outlives the
    test (in a temporary folder of the test's own, and in /dev/shm)."""
    me = psutil.Process()
    children, folders = set(me.children(recursive=True)), _data_folders()
    yield
    assert set(me.children(recursive=True)) <= children
    assert _data_folders() <= folders
    assert sorted(private_tmpdir.iterdir()) == []


def _status(result, config):
    row = result.summary().set_index("config").loc[str(config)]
    return row["status"], row["detail"]


def test_hang_and_segfault_are_recorded_and_never_recommended(data, leaves_nothing_behind):
    # Check that a configuration that hangs (threading) and one that kills
    # its process (loky: SIGSEGV) are both recorded as failed with their
    # cause, the workers are replaced, and profiling ends with an answer.
    X, y = data
    est = MisbehavingEstimator(behaviour={"threading": "hang", "loky": "segfault"})
    result = sktune.profile(est, X, y, space=SPACE, budget="quick", timeout=3,
                            wisdom=False)
    status, detail = _status(result, HANG)
    assert status == "failed" and detail.startswith("Timeout: no result after 3 s")
    status, detail = _status(result, CRASH)
    assert status == "failed" and "SIGSEGV" in detail
    assert result.best == Config()
    assert result.search["isolation"] == "process"
    assert result.search["worker_restarts"] == 2
    assert _status(result, Config())[0] == "ok"
    assert any("SIGSEGV" in caveat for caveat in result.recommendation.caveats)


def test_exit_in_a_worker_is_a_failure_with_its_status(data, leaves_nothing_behind):
    # Check that a worker that exits (os._exit) is a crash with its exit status.
    X, y = data
    est = MisbehavingEstimator(behaviour={"threading": "exit"})
    result = sktune.profile(est, X, y, space=ConfigSpace(n_jobs=[2], backend=["threading"]),
                            budget="quick", wisdom=False)
    status, detail = _status(result, HANG)
    assert status == "failed" and "exited with status 3" in detail


#: The baseline, a well-behaved candidate (n_jobs=2 on joblib's default
#: backend) and one that misbehaves (n_jobs=2 on threading), in this order.
FAIL_SPACE = ConfigSpace(n_jobs=[2], backend=[None, "threading"])
BAD = Config(n_jobs=2, backend="threading")
#: The round in which the bad candidate misbehaves: its warm-up and its
#: timed repeats of rounds 0 and 1 go well (3 fits), the fourth fit fails.
FAIL_ROUND = 2


def _seed_per_position(n_candidates=3):
    """A ``random_state`` for each position of the last candidate in round
    FAIL_ROUND, as profile shuffles its rounds (checked against the records)."""
    seeds = {}
    for seed in range(100):
        rng = np.random.default_rng(seed)
        for _ in range(FAIL_ROUND + 1):
            order = list(range(n_candidates))
            rng.shuffle(order)
        seeds.setdefault(order.index(n_candidates - 1), seed)
    return [seeds[position] for position in range(n_candidates)]


class _LimitSpy(RacingSearch):
    """Racing over exactly FAIL_ROUND + 1 rounds that notes what each time limit saw."""

    def __init__(self):
        super().__init__(FAIL_ROUND + 1, FAIL_ROUND + 1)
        self.seen = []

    def time_limit(self, state, index):
        self.seen.append((index, set(state.failed), set(state.timed())))
        return super().time_limit(state, index)


@pytest.mark.parametrize("isolation, behaviour, cause", [
    ("process", "segfault", "killed by SIGSEGV"),
    ("process", "exit", "exited with status 3"),
    ("process", "hang", "Timeout: no result after 2 s"),
    ("none", "raise", "RuntimeError: misbehaving under threading"),
])
def test_failure_on_a_timed_repeat_in_any_position_of_the_round(
        data, leaves_nothing_behind, isolation, behaviour, cause):
    # Check that a candidate crashing, exiting, hanging or raising on its third
    # timed repeat, after two successful ones, wherever it comes in the round,
    # is recorded as failed with its cause and never recommended, and that
    # its earlier timings enter no interval and no later cut-off.
    X, y = data
    bad_index = 2
    for position, seed in enumerate(_seed_per_position()):
        est = MisbehavingEstimator(behaviour={"threading": behaviour}, after=3,
                                   token=f"{behaviour}-{position}")
        spy = _LimitSpy()
        result = sktune.profile(est, X, y, space=FAIL_SPACE, strategy=spy, wisdom=False,
                                isolation=isolation, random_state=seed,
                                timeout=2 if behaviour == "hang" else "auto")
        assert result.candidates[bad_index] == BAD
        in_round = [r["config"] for r in result.records
                    if r["round"] == FAIL_ROUND and r["phase"] != "warmup"]
        assert in_round.index(bad_index) == position, (seed, in_round)
        status, detail = _status(result, BAD)
        assert status == "failed" and cause in detail, detail
        assert "after 2 successful timed repeats, not used" in detail
        assert result.best != BAD
        assert [_status(result, c)[0] for c in result.candidates[:2]] == ["ok", "ok"]
        row = result.summary().set_index("config").loc[str(BAD)]
        assert row["n_repeats"] == 0 and np.isnan(row["speedup"])
        # Every time limit after the failure knew of it, and left its timings out.
        first_after = FAIL_ROUND * len(result.candidates) + position + 1
        for index, failed, timed in spy.seen[first_after:]:
            assert bad_index in failed and bad_index not in timed


def test_worker_starts_under_a_long_temporary_folder(private_tmpdir):
    # Check, in a fresh process whose temporary folder is longer than an
    # AF_UNIX socket path may be (108 bytes; a CI job's is), that the worker
    # starts and that nothing is left in the folder.
    deep = private_tmpdir / ("x" * 60) / ("y" * 60)
    deep.mkdir(parents=True)
    code = textwrap.dedent("""
        import sktune
        from sklearn.datasets import make_classification
        from sklearn.tree import DecisionTreeClassifier
        X, y = make_classification(n_samples=100, n_features=4, random_state=0)
        result = sktune.profile(DecisionTreeClassifier(random_state=0), X, y,
                                budget="quick", wisdom=False)
        print(result.search["isolation"], result.summary()["status"].tolist()[0])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(deep)}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["process", "ok"]
    assert list(deep.iterdir()) == []


def test_far_slower_trial_is_cut_off(data, leaves_nothing_behind):
    # Check that a timed repeat taking far longer than the best is stopped
    # and the candidate is marked "cut off", not failed, and not recommended.
    X, y = data
    est = MisbehavingEstimator(behaviour={"threading": 1.5}, seconds=0.01)
    racing = RacingSearch(3, 5, min_effect=0.05, cutoff_factor=4, cutoff_min_s=0.3)
    result = sktune.profile(est, X, y, space=ConfigSpace(n_jobs=[2], backend=["threading"]),
                            strategy=racing, wisdom=False)
    status, detail = _status(result, HANG)
    assert status == "cut off" and "far slower" in detail
    cut = [r for r in result.records if r["phase"] == "cutoff"]
    assert len(cut) == 1 and cut[0]["limit_s"] == pytest.approx(0.31, rel=0.5)
    assert result.best == Config()


def test_isolated_timings_come_from_the_worker(data, leaves_nothing_behind):
    # Check that an isolated run measures like the in-process one: the same
    # candidates, statuses and equivalent outputs, each timed repeat recorded.
    from sklearn.tree import DecisionTreeClassifier

    X, y = data
    space = ConfigSpace(blas_threads=[1])
    runs = {mode: sktune.profile(DecisionTreeClassifier(random_state=0), X, y, space=space,
                                 budget="quick", isolation=mode, wisdom=False)
            for mode in ("process", "none")}
    a, b = runs["process"], runs["none"]
    assert a.candidates == b.candidates
    assert list(a.summary()["status"]) == list(b.summary()["status"])
    assert all(ok for ok, _ in a.equivalence.values())
    assert a.search["isolation"] == "process" and b.search["isolation"] == "none"


def test_worker_runs_under_the_callers_settings(data, leaves_nothing_behind):
    # Check that the worker enters this process's scikit-learn configuration
    # and joblib context (both part of the pipeline as written), and that a
    # DataFrame arrives as a DataFrame.
    import joblib
    import pandas as pd
    import sklearn

    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    with sklearn.config_context(assume_finite=True), \
            joblib.parallel_config(backend="threading", n_jobs=2):
        runner = isolation.IsolatedRunner(sktune.workload.Workload(ContextProbe(), frame, y),
                                          [Config()], [], may_use_loky=False)
    with runner:
        record = runner.warm_up(0)
    assert record["config"] == 0
    assert record["error"] == ("ValueError: seen: assume_finite=True, "
                               "backend=ThreadingBackend, n_jobs=2, X=DataFrame")


def test_worker_start_failure_is_clear(data, monkeypatch):
    # Check that a worker that cannot start says so instead of hanging.
    X, y = data
    monkeypatch.setattr(isolation.sys, "executable", "/bin/false")
    runner = isolation.IsolatedRunner(sktune.workload.Workload(MisbehavingEstimator(), X, y),
                                      [Config()], [], may_use_loky=False)
    with runner, pytest.raises(WorkerStartError, match="exited with status 1"):
        runner.warm_up(0)


def test_invalid_isolation_and_timeout_fail_before_timing(data):
    X, y = data
    with pytest.raises(sktune.InvalidParameterError, match="isolation"):
        sktune.profile(MisbehavingEstimator(), X, y, isolation="thread")
    for bad in (0, -1, "soon", True):
        with pytest.raises(sktune.InvalidParameterError, match="'timeout' parameter"):
            sktune.profile(MisbehavingEstimator(), X, y, timeout=bad)


_CTRL_C_SCRIPT = textwrap.dedent("""
    import signal, sys, warnings
    # As in an interactive session: a shell that starts a job in the
    # background (CI runners do) leaves SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {tests!r})
    import psutil
    from sklearn.datasets import make_classification
    import sktune
    from _helpers import ContextProbe, MisbehavingEstimator

    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    est = MisbehavingEstimator(behaviour={{"threading": "hang"}})
    space = sktune.ConfigSpace(n_jobs=[2], backend=["threading"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sktune.profile(est, X, y, space=space, timeout=None, verbose=1)
    print("interrupted:", result.search["interrupted"])
    print("warned:", any("interrupted" in str(w.message) for w in caught))
    print("children:", len(psutil.Process().children(recursive=True)))
    print("wisdom:", len(sktune.wisdom.WisdomStore().entries()))
    print("baseline runs:", sum(r["config"] == 0 for r in result.records))
""")


def test_ctrl_c_returns_the_partial_result_and_stops_the_worker(tmp_path):
    # Check, with a real SIGINT to a real script, that Ctrl-C during a hung
    # trial returns what was measured, warns, saves no wisdom, and leaves no
    # process behind (the worker's session is killed).
    script = tmp_path / "interrupt.py"
    script.write_text(_CTRL_C_SCRIPT.format(tests=str(Path(__file__).parent)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SKTUNE_CACHE_DIR": str(tmp_path / "c")})
    worker = []
    try:
        for line in proc.stderr:  # the log says when candidates are being timed
            if "profiling 2 candidates" in line:
                break
        worker[:] = psutil.Process(proc.pid).children()
        assert worker, "the worker process should be running"
        time.sleep(1.0)  # let the hung trial start
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        for p in worker:  # a worker left hung if the test failed
            with contextlib.suppress(psutil.Error):
                p.kill()
    assert proc.returncode == 0, err
    assert "interrupted: True" in out and "warned: True" in out
    assert "children: 0" in out and "wisdom: 0" in out
    assert int(out.split("baseline runs:")[1]) >= 1
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in worker)


def test_a_worker_ends_with_its_parent_killed_mid_trial(tmp_path):
    # Check that a parent killed with SIGKILL (no finally block runs) during
    # a hung trial leaves neither its worker nor the worker's threads pool
    # nor its data folder behind: the worker watches its parent.
    script = tmp_path / "killed.py"
    script.write_text(_CTRL_C_SCRIPT.format(tests=str(Path(__file__).parent)))
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()

    def data_folders():
        # /dev/shm when roomy, else the temp folder (as joblib decides).
        return [d for parent in (Path("/dev/shm"), own_tmp) if parent.is_dir()
                for d in parent.glob(f"sktune-{proc.pid}-*")]

    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SKTUNE_CACHE_DIR": str(tmp_path / "c"),
                                 "TMPDIR": str(own_tmp)})
    tree = []
    try:
        for line in proc.stderr:
            if "profiling 2 candidates" in line:
                break
        for _ in range(300):  # until the worker runs the hung trial
            tree[:] = psutil.Process(proc.pid).children(recursive=True)
            if tree and data_folders():
                break
            time.sleep(0.1)
        assert tree and data_folders(), "a worker and its data folder"
        time.sleep(1.0)
        proc.kill()
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(tree, timeout=10 * worker_module.PARENT_POLL_S)
        assert not alive
        assert data_folders() == [] and sorted(own_tmp.iterdir()) == []
    finally:
        proc.kill()
        for p in tree:
            with contextlib.suppress(psutil.Error):
                p.kill()


def test_kill_tree_kills_grandchildren():
    # Check that kill_tree reaps a process and the process it started.
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
           "'import time; time.sleep(600)']); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        for _ in range(100):
            kids = psutil.Process(proc.pid).children(recursive=True)
            if kids:
                break
            time.sleep(0.1)
        assert kids
        isolation.kill_tree(proc)
        gone, alive = psutil.wait_procs(kids, timeout=10)
        assert not alive and proc.returncode is not None
    finally:
        proc.kill()
    assert np.isfinite(proc.returncode)


class BrokenStop(Profiler):
    """A profiler whose stop() raises: a bug in a plug-in, not in the config."""

    name = "broken"

    def stop(self):
        raise OSError("sensor unplugged")


def test_a_broken_profiler_in_the_worker_stops_the_run(data, leaves_nothing_behind):
    # Check that a profiler raising inside the worker is re-raised here as
    # ProfilerError (as in process), not recorded against a configuration.
    X, y = data
    with pytest.raises(sktune.ProfilerError, match="'broken'.*raised in stop"):
        sktune.profile(MisbehavingEstimator(), X, y, space=ConfigSpace(blas_threads=[1]),
                       profilers=[BrokenStop(), "wall"], wisdom=False)
