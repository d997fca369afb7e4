"""Distributed engines: dask (a real LocalCluster on loopback) and ray.

Every profile here starts real engines: dask clusters of 2 worker processes
on 127.0.0.1, a user's cluster, a dask scheduler in a subprocess, a local
ray in sktune's worker process. What is checked besides the answers is
that nothing is left behind: no process, no thread, no file in /dev/shm or
the temporary folder, also when a trial fails or hangs.
"""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time

import joblib.pool
import numpy as np
import psutil
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import sktune
from sktune import Config, ConfigSpace
from sktune import _engines as engines
from sktune._candidates import engine_candidates
from sktune._engines import DaskEngine, RayEngine
from sktune._introspect import Layers
from sktune.exceptions import EngineError, InvalidConfigError, InvalidParameterError

from _helpers import OnDaskWorker

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

#: distributed's process-wide offload executor: one idle thread, made on
#: first use and kept by distributed itself (distributed.utils), not a
#: cluster's.
_DISTRIBUTED_OWN_THREADS = ("Dask-Offload",)


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=600, n_features=10, random_state=0)


def _ours(name):
    """A file sktune's engines or workers could leave: not another live program's."""
    if name.startswith("sem.loky-"):
        # loky names a semaphore after the pid that made it: one of a
        # process still running outside this test (another program on the
        # machine) is not this test's to judge.
        pid = int(name.split("-")[1])
        mine = {p.pid for p in psutil.Process().children(recursive=True)}
        return not psutil.pid_exists(pid) or pid in mine
    return any(tag in name for tag in ("sktune", "dask", "ray"))


def _leftovers(before, tmpdir, allowed_threads=()):
    """What exists now that did not before: processes, threads, files.

    ``tmpdir`` is the test's private temporary folder: every entry in it
    counts. /dev/shm is shared with the machine, so only new names that
    sktune's engines or workers could have made count there.
    """
    deadline = time.monotonic() + 15  # killed children are reaped asynchronously
    while True:
        children = [p for p in psutil.Process().children(recursive=True)
                    if p.pid not in before["children"] and p.is_running()
                    and p.status() != psutil.STATUS_ZOMBIE]
        threads = [t.name for t in threading.enumerate()
                   if t.ident not in before["threads"]
                   and not t.name.startswith(allowed_threads)]
        files = sorted(f"/dev/shm/{f}" for f in set(os.listdir("/dev/shm")) - before["shm"]
                       if _ours(f))
        files += sorted(str(p) for p in tmpdir.iterdir())
        if not (children or threads or files) or time.monotonic() > deadline:
            return {"children": [(p.pid, " ".join(p.cmdline())[:150]) for p in children],
                    "threads": threads, "files": files}
        time.sleep(0.25)


@pytest.fixture
def nothing_left_behind(private_tmpdir):
    """``with nothing_left_behind(allowed_threads=...):`` checks that the block
    leaves no process, thread or file behind, in a temporary folder of the
    test's own (``private_tmpdir``) and in /dev/shm."""

    @contextlib.contextmanager
    def check(allowed_threads=()):
        assert not any(private_tmpdir.iterdir())
        before = {"children": {p.pid for p in psutil.Process().children(recursive=True)},
                  "threads": {t.ident for t in threading.enumerate()},
                  "shm": set(os.listdir("/dev/shm"))}
        yield
        assert _leftovers(before, private_tmpdir, allowed_threads) == {
            "children": [], "threads": [], "files": []}

    return check


def _index(result, **fields):
    return [i for i, c in enumerate(result.candidates)
            if all(getattr(c, k) == v for k, v in fields.items())]


# -- choices, without starting anything -----------------------------------------
def test_check_engines():
    # Check the accepted forms of profile(engines=...) and the errors.
    assert engines.check_engines(None) == ()
    assert engines.check_engines("all") == ("dask", "ray", "intelex")
    assert engines.check_engines("ray") == ("ray",)
    assert engines.check_engines(["dask", "dask", "intelex"]) == ("dask", "intelex")
    with pytest.raises(InvalidParameterError, match="Invalid engine: 'spark'"):
        engines.check_engines(["dask", "spark"])
    with pytest.raises(InvalidParameterError, match="'engines' parameter of profile"):
        engines.check_engines(3)


def test_engine_table_finds_the_engine_of_a_configuration():
    # Check that the one table of engines says which engine a configuration
    # runs on: none for joblib's local backends and the as-written one.
    from sktune._engines import IntelexEngine

    assert engines.backend_engine(None) is None and engines.backend_engine("loky") is None
    assert engines.backend_engine("dask") is DaskEngine
    assert engines.backend_engine("ray") is RayEngine
    assert engines.engines_of(Config()) == []
    assert engines.engines_of(Config(n_jobs=2, backend="loky")) == []
    assert engines.engines_of(Config(intelex_steps=("",))) == [IntelexEngine]
    assert engines.engines_of(Config(backend="dask", cluster=(2, 1))) == [DaskEngine]


def test_cluster_shapes_from_all_processes_to_all_threads():
    # Check the shapes tried: all processes, dask's default, all threads.
    assert DaskEngine.auto_values(2) == [(2, 1), (1, 2)]
    assert DaskEngine.auto_values(16) == [(16, 1), (4, 4), (1, 16)]
    assert DaskEngine.auto_values(1) == [(1, 1)]


def test_config_cluster_only_with_dask():
    # Check that a cluster shape is validated and needs backend="dask".
    assert str(Config(backend="dask", cluster=(2, 1))) == "backend=dask, cluster=2x1"
    with pytest.raises(InvalidConfigError, match="backend='dask'"):
        Config(backend="loky", cluster=(2, 1))
    for bad in [(2,), (0, 1), (2, True), "2x1"]:
        with pytest.raises(InvalidParameterError, match="'cluster' parameter of Config"):
            Config(backend="dask", cluster=bad)


def test_space_gives_dask_one_candidate_whatever_n_jobs():
    # Check that n_jobs and thread counts are not varied under dask, which
    # ignores them (checklist item 22).
    space = ConfigSpace(n_jobs="auto", backend=["dask"], blas_threads="auto")
    resolved = space.resolve(usable_cores=4)
    dask = [c for c in resolved.candidates if c.backend == "dask"]
    assert dask == [Config(backend="dask")]


def _engine_candidates(engines, layers, isolation, client_address=None):
    """Only the candidates the engines add to an as-written baseline."""
    found, excluded, notes = engine_candidates(None, (Config(),), engines, layers, 2,
                                               isolation=isolation,
                                               client_address=client_address)
    assert found[0] == Config()
    return list(found[1:]), excluded, notes


def test_engine_candidates():
    # Check which candidates each engine brings, and the reasons for those
    # that cannot run here.
    joblib_layers = Layers(n_jobs_params=("n_jobs",), joblib_hints=frozenset({"threads"}))
    found, excluded, notes = _engine_candidates(["dask", "ray"], joblib_layers, "process")
    assert found == [Config(backend="dask", cluster=(2, 1)),
                     Config(backend="dask", cluster=(1, 2)),
                     Config(n_jobs=2, backend="ray")]
    assert excluded == [] and notes == []
    found, _, _ = _engine_candidates(["dask"], joblib_layers, "process",
                                     client_address="tcp://127.0.0.1:8786")
    assert found == [Config(backend="dask")]
    # ray never runs in the user's process.
    found, excluded, _ = _engine_candidates(["ray"], joblib_layers, "none")
    assert found == [] and "whole process" in excluded[0][1]
    # Nothing runs through joblib: nothing to distribute, said once.
    found, excluded, notes = _engine_candidates(["dask", "ray"], Layers(openmp=True),
                                                "process")
    assert found == [] and excluded == []
    assert notes == ["dask and ray: nothing in this workload runs through joblib, so "
                     "there is no work for a distributed engine."]


def test_engine_not_installed_is_one_line(monkeypatch):
    # Check that a missing engine is left out with a one-line reason
    # (simulated: the module cannot be found).
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    layers = Layers(n_jobs_params=("n_jobs",), joblib_hints=frozenset({"processes"}))
    found, excluded, _ = _engine_candidates(["dask", "ray"], layers, "process")
    assert found == []
    assert [reason for _, reason in excluded] == [
        "dask.distributed is not installed (pip install 'sktune[dask]')",
        "ray is not installed (pip install 'sktune[ray]')"]


# -- sktune's own LocalCluster ----------------------------------------------------
@pytest.mark.parametrize("kind", ["forest", "grid_search"])
def test_dask_results_equal_loky(data, kind, nothing_left_behind):
    # Check that a RandomForest and a GridSearchCV profiled on local dask
    # clusters (2 worker processes, and 1 process of 2 threads) give the
    # same output as on loky, and that nothing is left behind.
    X, y = data
    estimator = (RandomForestClassifier(n_estimators=20, random_state=0) if kind == "forest"
                 else GridSearchCV(DecisionTreeClassifier(random_state=0),
                                   {"max_depth": [2, 4, 8]}, cv=3))
    with nothing_left_behind():
        result = sktune.profile(estimator, X, y, engines=["dask"], budget=4, wisdom=False,
                                space=ConfigSpace(n_jobs=[2], backend=["loky"]))
    loky, = _index(result, backend="loky")
    dask = _index(result, backend="dask")
    assert [result.candidates[i].cluster for i in dask] == [(2, 1), (1, 2)]
    for index in [loky, *dask]:
        assert result.equivalence[index][0], result.equivalence[index]
    assert {result.equivalence[i][1] for i in [0, loky, *dask]} == {
        "max abs difference 0"}
    statuses = result.summary().set_index("config")["status"]
    assert all(statuses[str(result.candidates[i])] == "ok" for i in dask)
    assert any("LocalCluster of 2 worker(s) x 1 thread(s)" in n for n in result.notes)
    # The engine's overhead, next to loky's.
    overhead = [n for n in result.notes if n.startswith("Engine overhead: ")]
    assert len(overhead) == 2 and all("than n_jobs=2 on loky (" in n for n in overhead)


def test_dask_failing_trial_in_process_leaves_nothing(data, nothing_left_behind):
    # Check that a configuration failing on the dask workers is recorded as
    # failed, never recommended, and that the clusters sktune started in
    # this process are closed.
    X, y = data
    search = GridSearchCV(OnDaskWorker("raise"), {"max_depth": [2, 4]}, cv=2,
                          error_score="raise")
    with nothing_left_behind(allowed_threads=_DISTRIBUTED_OWN_THREADS):
        # No loky candidate: joblib keeps its loky pool alive on purpose.
        result = sktune.profile(search, X, y, engines=["dask"], isolation="none",
                                budget=2, wisdom=False, space=ConfigSpace())
    dask = _index(result, backend="dask")
    assert len(dask) == 2
    summary = result.summary().set_index("config")
    for index in dask:
        row = summary.loc[str(result.candidates[index])]
        assert row["status"] == "failed"
        assert "refuses to run on a dask worker" in row["detail"]
    assert result.best.backend != "dask"


def test_dask_hanging_trial_is_killed_with_its_cluster(data, monkeypatch, nothing_left_behind):
    # Check that a trial hanging on a dask worker ends as a timeout, and that
    # the worker process is killed with the cluster it started.
    monkeypatch.setattr(DaskEngine, "auto_values", classmethod(lambda cls, usable: [(2, 1)]))
    X, y = data
    search = GridSearchCV(OnDaskWorker("hang"), {"max_depth": [2, 4]}, cv=2)
    with nothing_left_behind():
        result = sktune.profile(search, X, y, engines=["dask"], budget=2, timeout=6,
                                wisdom=False)
    dask, = _index(result, backend="dask")
    row = result.summary().set_index("config").loc[str(result.candidates[dask])]
    assert row["status"] == "failed" and row["detail"].startswith("Timeout"), row["detail"]
    assert result.search["worker_restarts"] == 1


def test_dask_ctrl_c_in_process_closes_the_clusters(data, nothing_left_behind):
    # Check that a Ctrl-C during a dask trial in this process returns what was
    # measured and closes the cluster sktune started, scratch folder included.
    X, y = data
    with nothing_left_behind(allowed_threads=_DISTRIBUTED_OWN_THREADS):
        with pytest.warns(sktune.SktuneWarning, match="interrupted"):
            result = sktune.profile(OnDaskWorker("interrupt"), X, y, engines=["dask"],
                                    isolation="none", budget=2, wisdom=False,
                                    space=ConfigSpace())
    assert result.search["interrupted"]
    assert result.best == Config()


# -- the user's Client ------------------------------------------------------------
@pytest.fixture(scope="module")
def user_client(tmp_path_factory):
    # The user's cluster writes its scratch space into a folder of the
    # test's, not into the machine's temporary folder.
    scratch = str(tmp_path_factory.mktemp("user-cluster"))
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       local_directory=scratch,
                                       scheduler_kwargs={"local_directory": scratch})
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_user_client_is_profiled_and_left_as_it_was(data, user_client, isolation):
    # Check that profile(client=...) runs one dask candidate on the user's
    # cluster, and leaves the client, its workers and the default client as
    # they were.
    X, y = data
    workers = set(user_client.scheduler_info()["workers"])
    with pytest.raises(ValueError):
        distributed.default_client()
    result = sktune.profile(RandomForestClassifier(n_estimators=10, random_state=0), X, y,
                            client=user_client, isolation=isolation, budget=2, wisdom=False,
                            space=ConfigSpace())
    assert [str(c) for c in result.candidates] == ["as written", "backend=dask"]
    assert result.equivalence[1] == (True, "max abs difference 0")
    assert user_client.status == "running"
    assert set(user_client.scheduler_info()["workers"]) == workers
    with pytest.raises(ValueError):
        distributed.default_client()
    # sktune's own connection from its worker process is gone: what remains
    # is the user's client, the scheduler's own ("fire-and-forget") and the
    # clients that joblib's tasks opened inside the dask workers
    # (distributed keeps one per worker).
    clients = user_client.run_on_scheduler(lambda dask_scheduler: list(
        dask_scheduler.clients))
    assert [c for c in clients if not c.startswith(("fire-and-forget", "Client-worker"))
            ] == [user_client.id]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_client_errors_before_any_timing(data, monkeypatch, tmp_path):
    # Check the errors for a client that cannot be profiled: raised before
    # any timing, each naming what is wrong.
    X, y = data

    def no_timing(*args, **kwargs):
        raise AssertionError("timing started")

    monkeypatch.setattr(sktune._measure, "measure", no_timing)
    forest = RandomForestClassifier(n_estimators=5)
    with pytest.raises(InvalidParameterError, match="must be a dask.distributed.Client"):
        sktune.profile(forest, X, y, client="tcp://127.0.0.1:8786")
    # A scheduler in another process, first without workers, then gone.
    port = _free_port()
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp_path)})
    try:
        client = distributed.Client(f"tcp://127.0.0.1:{port}", timeout=30,
                                    set_as_default=False)
        with pytest.raises(EngineError, match="has no worker"):
            sktune.profile(forest, X, y, client=client)
        scheduler.kill()
        scheduler.wait()
        began = time.monotonic()
        with pytest.raises(EngineError) as excinfo:
            sktune.profile(forest, X, y, client=client)
        assert time.monotonic() - began < engines.CLIENT_TIMEOUT_S + 10
        assert isinstance(excinfo.value, ConnectionError)
        client.close()
        with pytest.raises(EngineError, match="is 'closed', not running"):
            sktune.profile(forest, X, y, client=client)
    finally:
        scheduler.kill()
        scheduler.wait()
    # A cluster inside this process cannot be reached from sktune's worker.
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address="127.0.0.1:0", local_directory=str(tmp_path),
                            scheduler_kwargs={"local_directory": str(tmp_path)},
                            set_as_default=False) as inproc:
        with pytest.raises(InvalidParameterError, match="isolation='none'"):
            sktune.profile(forest, X, y, client=inproc)


def test_config_apply_starts_and_closes_a_cluster(data, nothing_left_behind):
    # Check that Config.apply() with a cluster shape runs the user's own code
    # on a local dask cluster, and closes it on exit, also on an error.
    X, y = data
    config = Config(backend="dask", cluster=(2, 1))
    with nothing_left_behind(allowed_threads=_DISTRIBUTED_OWN_THREADS):
        with config.apply():
            seen = joblib.Parallel(n_jobs=2)(
                joblib.delayed(os.getpid)() for _ in range(8))
        assert os.getpid() not in seen
        with pytest.raises(RuntimeError, match="refuses"):
            with config.apply():
                search = GridSearchCV(OnDaskWorker("raise"), {"max_depth": [2]}, cv=2,
                                      error_score="raise")
                search.fit(X, y)
    assert joblib.parallel.get_active_backend()[0].__class__.__name__ == "LokyBackend"


# -- ray --------------------------------------------------------------------------
def test_ray_runs_only_in_the_worker_process(data, nothing_left_behind):
    # Check that ray trials run in sktune's worker process, with a local ray
    # started and stopped there: joblib is not patched here, ray is not even
    # imported here, and nothing is left behind.
    if RayEngine.why_unavailable():
        pytest.skip(RayEngine.why_unavailable())  # importorskip would import it here
    X, y = data
    bases = joblib.pool.PicklingPool.__bases__
    search = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [2, 4]},
                          cv=2)
    with nothing_left_behind():
        result = sktune.profile(search, X, y, engines=["ray"], budget=3, wisdom=False,
                                strategy="exhaustive", space=ConfigSpace())
    ray, = _index(result, backend="ray")
    assert result.equivalence[ray] == (True, "max abs difference 0")
    assert joblib.pool.PicklingPool.__bases__ == bases
    assert "ray" not in sys.modules, sys.modules.get("ray")
    assert any("local ray" in n for n in result.notes)


def test_ray_is_excluded_in_process(data):
    # Check that isolation="none" leaves ray out, saying why, and starts nothing.
    X, y = data
    result = sktune.profile(RandomForestClassifier(n_estimators=5), X, y, engines=["ray"],
                            isolation="none", budget=1, wisdom=False, space=ConfigSpace())
    assert [(c.backend, "whole process" in why) for c, why in result.excluded] == [
        ("ray", True)]
    assert "ray" not in sys.modules, sys.modules.get("ray")


def test_engines_change_the_wisdom_key(data, monkeypatch):
    # Check that a result measured with engines does not answer a profile
    # without them, and the other way round.
    X, y = data
    pipe = StandardScaler()
    first = sktune.profile(pipe, X, y, budget=1, isolation="none")
    assert first.origin["source"] == "measured"
    with_engines = sktune.profile(pipe, X, y, budget=1, isolation="none",
                                  engines=["dask"])
    assert with_engines.origin["source"] == "measured"
    again = sktune.profile(pipe, X, y, budget=1, isolation="none")
    assert again.origin["source"] == "wisdom"
    np.testing.assert_equal(len(again.candidates), len(first.candidates))


# -- the command line ---------------------------------------------------------------
def test_cli_engines_and_scheduler(capsys, tmp_path):
    # Check `sktune profile --engines` and `--scheduler`: a dask candidate per
    # cluster shape, and one-line errors for an unknown engine and for a
    # scheduler nobody listens at.
    from sktune.cli import main

    target = tmp_path / "work.py"
    target.write_text(
        "from sklearn.datasets import make_classification\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "def make():\n"
        "    X, y = make_classification(n_samples=300, random_state=0)\n"
        "    return RandomForestClassifier(n_estimators=10, random_state=0), X, y\n")
    saved = tmp_path / "result.json"
    assert main(["profile", f"{target}:make", "--budget", "2", "-q", "--no-wisdom",
                 "--n-jobs", "2", "--backend", "loky", "--engines", "dask",
                 "--save", str(saved)]) == 0
    capsys.readouterr()
    result = sktune.load(saved)
    assert [c.cluster for c in result.candidates if c.backend == "dask"] == [(2, 1), (1, 2)]
    assert main(["profile", f"{target}:make", "--backend", "dask", "--cluster", "2by1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sktune: error: The '--cluster' option must be") and \
        err.count("\n") == 1
    assert main(["profile", f"{target}:make", "--engines", "dask,spark"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sktune: error: The 'engines' parameter of profile must be a str "
                          "among ['all', 'dask', 'intelex', 'ray'], a list of str among "
                          "['dask', 'intelex', 'ray'] or None. Got ['dask', 'spark'] "
                          "instead.") and err.count("\n") == 1
    assert main(["profile", f"{target}:make", "--scheduler",
                 f"tcp://127.0.0.1:{_free_port()}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sktune: error: --scheduler: could not connect") and \
        err.count("\n") == 1


def test_dask_candidates_count_their_cluster_cores():
    # Check that a dask candidate counts the cores of its cluster (n_jobs is
    # unset), so that "fewer cores" never prefers it by mistake.
    assert Config(backend="dask", cluster=(2, 1)).cores(4) == 2
    assert Config(backend="dask", cluster=(4, 4)).cores(8) == 8
    assert Config(backend="dask").cores(4) == 4
    assert Config(backend="dask", cluster=(2, 2)).threads(8) == 4


def test_apply_without_the_engine_installed(monkeypatch):
    # Check that applying a ray or dask configuration where the engine is not
    # installed says so in one line, and leaves joblib as it was.
    from sktune.exceptions import EngineNotAvailableError

    monkeypatch.setitem(sys.modules, "ray", None)
    backend = joblib.parallel.get_active_backend()[0]
    with pytest.raises(EngineNotAvailableError, match=r"ray is not installed \(pip"):
        with Config(n_jobs=2, backend="ray").apply():
            pass
    assert type(joblib.parallel.get_active_backend()[0]) is type(backend)


def test_engine_notes_from_records():
    # Check the overhead note against fixed records: the dask median next to
    # the fastest loky candidate's, and the start-up cost of the engine.
    from sktune._measure import engine_notes

    candidates = [Config(), Config(n_jobs=2, backend="loky"),
                  Config(backend="dask", cluster=(2, 1)),
                  Config(n_jobs=2, backend="loky", intelex_steps=("",))]

    def timed(config, wall):
        return {"config": config, "phase": "timed", "error": None, "wall_s": wall}

    records = [{"config": 2, "phase": "warmup", "error": None, "wall_s": 9.0,
                "engine_start": [("Starting a dask LocalCluster of 2 worker(s) x 1 "
                                  "thread(s)", 1.25)]},
               timed(0, 1.0), timed(1, 0.5), timed(1, 0.7), timed(2, 0.8), timed(2, 0.8),
               timed(3, 0.1)]  # faster, but not stock loky: not the reference
    assert engine_notes(records, candidates) == [
        "Starting a dask LocalCluster of 2 worker(s) x 1 thread(s) took 1.25 s, before "
        "the first trial that needed it, outside every timing.",
        "Engine overhead: the dask backend, a local cluster of 2 worker(s) x 1 "
        "thread(s) took 800.0 ms per call, 200.0 ms more than n_jobs=2 on loky "
        "(600.0 ms)."]
    assert engine_notes(records[:1] + [timed(2, 0.8)], candidates)[1:] == []
