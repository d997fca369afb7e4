import json
import os
import subprocess
import sys
import textwrap
import time
from functools import partial

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import sktune
from sktune.exceptions import InvalidParameterError, SktuneWarning
from sktune.wisdom import (
    BUDGET_RANKS,
    WisdomEntry,
    WisdomStore,
    budget_rank,
    workload_key,
)


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=5, random_state=0)


@pytest.fixture(scope="module")
def profiled(data):
    """One real ProfileResult with its workload key, shared by the module."""
    X, y = data
    tree = DecisionTreeClassifier(random_state=0)
    result = sktune.profile(tree, X, y, budget="quick", verbose=0)
    key, description = workload_key(tree, X, y)
    return result, key, description


@pytest.fixture
def store(tmp_path):
    return WisdomStore(tmp_path / "wisdom")


def _record(store, profiled, key=None, budget="quick", fingerprint=None):
    result, default_key, description = profiled
    return store.record(result, key or default_key, description, budget=budget,
                        budget_rank=budget_rank(budget), fingerprint=fingerprint)


def _files(folder, pattern="*"):
    return sorted(p for p in folder.rglob(pattern) if p.is_file()) if folder.exists() else []


# -- workload_key ---------------------------------------------------------------


def test_workload_key_stable_for_same_workload(data):
    # Check that equal estimators and equal-class data give the same key,
    # in canonical JSON.
    X, y = data
    key, description = workload_key(DecisionTreeClassifier(random_state=0), X, y)
    again, _ = workload_key(DecisionTreeClassifier(random_state=0), X.copy(), y.copy())
    assert key == again and len(key) == 20
    assert json.loads(json.dumps(description)) == description
    assert description["estimator"]["class"] == "sklearn.tree._classes.DecisionTreeClassifier"
    assert description["data"]["type"] == "numpy.ndarray"


def test_workload_key_size_class_half_octave():
    # Check that 5% more rows share a key and twice the rows do not.
    tree = DecisionTreeClassifier()

    def key(n):
        return workload_key(tree, np.zeros((n, 4)), np.arange(n) % 2)[0]

    assert key(10000) == key(10500)
    assert key(10000) != key(20000)


@pytest.mark.parametrize("change", [
    "param", "n_features", "dtype", "order", "rows_x2", "sparse", "task", "settings",
    "y_float", "y_none", "dataframe"])
def test_workload_key_changes_with_workload(data, change):
    # Check that anything changing the work done changes the key.
    X, y = data
    est, task, settings = DecisionTreeClassifier(random_state=0), "fit", None
    base = workload_key(est, X, y)[0]
    if change == "param":
        est = DecisionTreeClassifier(random_state=0, max_depth=3)
    elif change == "n_features":
        X = X[:, :4]
    elif change == "dtype":
        X = X.astype(np.float32)
    elif change == "order":
        X = np.asfortranarray(X)
    elif change == "rows_x2":
        X, y = np.vstack([X, X]), np.concatenate([y, y])
    elif change == "sparse":
        X = sp.csr_matrix(X)
    elif change == "task":
        task = "predict"
    elif change == "settings":
        settings = {"profilers": ["wall", "memory"]}
    elif change == "y_float":
        y = y.astype(float)
    elif change == "y_none":
        y = None
    elif change == "dataframe":
        X = pd.DataFrame(X)
    assert workload_key(est, X, y, task=task, settings=settings)[0] != base


def test_workload_key_sparse_density_bucket():
    # Check that sparse data is keyed by format and density class.
    rng = np.random.default_rng(0)
    X1 = sp.random(1000, 50, density=0.1, format="csr", random_state=rng)
    X2 = sp.random(1000, 50, density=0.105, format="csr", random_state=rng)
    X3 = sp.random(1000, 50, density=0.4, format="csr", random_state=rng)
    tree = DecisionTreeClassifier()
    k1, d1 = workload_key(tree, X1)
    assert d1["data"]["type"] == "scipy.sparse.csr_matrix" and d1["data"]["sparse"]
    assert k1 == workload_key(tree, X2)[0]
    assert k1 != workload_key(tree, X3)[0]
    assert k1 != workload_key(tree, X1.tocsc())[0]


def _double(X):
    return X * 2


def test_workload_key_odd_params_do_not_crash(data):
    # Check that functions, lambdas, arrays, partials, random states and
    # nested meta-estimators are described, deterministically and as JSON.
    X, y = data
    pipe = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), [0, 1]),
                           ("f", FunctionTransformer(lambda Z: Z + 1), np.array([2, 3]))]),
        FunctionTransformer(partial(np.clip, a_min=0, a_max=1)),
        FunctionTransformer(_double),
        GridSearchCV(LogisticRegression(), {"C": np.logspace(-2, 2, 3)}, cv=2),
        memory=None)
    pipe.set_params(gridsearchcv__estimator__random_state=np.random.RandomState(0))
    key, description = workload_key(pipe, X, y, settings={"x": object()})
    json.dumps(description)
    assert key == workload_key(pipe, X, y, settings={"x": object()})[0]
    text = json.dumps(description)
    assert "test_wisdom._double" in text and "<lambda>" in text
    assert "sklearn.linear_model._logistic.LogisticRegression" in text
    # Two different lambdas are told apart.
    other = make_pipeline(FunctionTransformer(lambda Z: Z - 1))
    same = make_pipeline(FunctionTransformer(lambda Z: Z + 1))
    assert workload_key(other, X)[0] != workload_key(same, X)[0]
    # A different array inside the params changes the key.
    pipe2 = GridSearchCV(LogisticRegression(), {"C": np.logspace(-2, 2, 4)}, cv=2)
    pipe3 = GridSearchCV(LogisticRegression(), {"C": np.logspace(-2, 2, 3)}, cv=2)
    assert workload_key(pipe2, X, y)[0] != workload_key(pipe3, X, y)[0]


def test_workload_key_broken_repr_does_not_crash(data):
    # Check that a parameter whose repr raises still gives a key.
    class Odd:
        def __repr__(self):
            raise RuntimeError("no repr")

    X, y = data
    key, _ = workload_key(FunctionTransformer(kw_args={"odd": Odd()}), X, y)
    assert len(key) == 20


# -- record / lookup -----------------------------------------------------------


def test_wisdom_record_lookup_round_trip(store, profiled):
    # Check that a recorded result comes back equal, with its metadata.
    result, key, description = profiled
    path = _record(store, profiled, budget="measure")
    fingerprint = result.machine.stable_fingerprint
    assert path == store.root / "v1" / fingerprint / f"{key}.json"
    entry = store.lookup(fingerprint, key)
    assert isinstance(entry, WisdomEntry)
    assert entry.result() == result
    assert (entry.key, entry.machine, entry.budget, entry.source) == (
        key, fingerprint, "measure", "measured")
    assert entry.budget_rank == BUDGET_RANKS["measure"]
    assert entry.workload == description
    assert entry.machine_summary["usable_cores"] == result.machine.usable_cores
    assert entry.sktune_version == sktune.__version__
    assert store.lookup(fingerprint, "0" * 20) is None
    assert store.lookup("f" * 16, key) is None
    assert store.entries() == [entry] and store.problems == []


def test_wisdom_root_follows_environment(tmp_path, monkeypatch, profiled):
    # Check that WisdomStore() reads SKTUNE_CACHE_DIR at each call.
    store = WisdomStore()
    monkeypatch.setenv("SKTUNE_CACHE_DIR", str(tmp_path / "a"))
    _record(store, profiled)
    monkeypatch.setenv("SKTUNE_CACHE_DIR", str(tmp_path / "b"))
    assert store.entries() == []
    assert store.root == tmp_path / "b" / "wisdom"
    monkeypatch.setenv("SKTUNE_CACHE_DIR", str(tmp_path / "a"))
    assert len(store.entries()) == 1


def test_wisdom_min_rank(store, profiled):
    # Check that a "quick" entry does not answer a request needing "measure",
    # and that a lower-ranked record does not replace a better entry.
    result, key, _ = profiled
    fingerprint = result.machine.stable_fingerprint
    _record(store, profiled, budget="quick")
    assert store.lookup(fingerprint, key, min_rank=budget_rank("quick")) is not None
    assert store.lookup(fingerprint, key, min_rank=budget_rank("measure")) is None
    _record(store, profiled, budget="exhaustive")
    _record(store, profiled, budget="quick")
    assert store.lookup(fingerprint, key).budget == "exhaustive"
    _record(store, profiled, budget="exhaustive")  # equal rank: the newer wins
    assert budget_rank(30.0) == BUDGET_RANKS["measure"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign_version",
                                    "missing_field", "bad_result", "not_object"])
def test_wisdom_bad_file_set_aside(store, profiled, damage):
    # Check that a damaged entry is moved aside with a warning, and that
    # every other entry is still served.
    result, key, _ = profiled
    fingerprint = result.machine.stable_fingerprint
    keys = [f"{i:020x}" for i in range(4)]
    for k in keys:
        _record(store, profiled, key=k)
    bad = store.root / "v1" / fingerprint / f"{keys[1]}.json"
    text = bad.read_text()
    data = json.loads(text)
    if damage == "truncate":
        bad.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        bad.write_bytes(os.urandom(300))
    elif damage == "foreign_version":
        bad.write_text(json.dumps({**data, "wisdom_version": 99}))
    elif damage == "missing_field":
        del data["budget_rank"]
        bad.write_text(json.dumps(data))
    elif damage == "bad_result":
        data["result"]["format_version"] = 99
        bad.write_text(json.dumps(data))
    else:
        bad.write_text("[1, 2]")
    with pytest.warns(SktuneWarning, match="set aside, not deleted"):
        assert store.lookup(fingerprint, keys[1]) is None
    assert len(store.problems) == 1 and keys[1] in store.problems[0]
    assert not bad.exists()
    aside = _files(store.root / "set-aside")
    assert len(aside) == 1 and aside[0].name.startswith(f"{fingerprint}-{keys[1]}-")
    assert sorted(e.key for e in store.entries()) == [keys[0], keys[2], keys[3]]
    assert store.problems == []
    # The slot is usable again.
    _record(store, profiled, key=keys[1])
    assert store.lookup(fingerprint, keys[1]) is not None


def test_wisdom_listing_sets_aside_and_carries_on(store, profiled):
    # Check that entries() warns about a bad file and returns the others.
    result, _, _ = profiled
    for k in ("a" * 20, "b" * 20):
        _record(store, profiled, key=k)
    (store.root / "v1" / result.machine.stable_fingerprint / ("c" * 20 + ".json")).write_text("{")
    with pytest.warns(SktuneWarning, match="not valid JSON"):
        entries = store.entries()
    assert sorted(e.key for e in entries) == ["a" * 20, "b" * 20]
    assert len(store.problems) == 1


def test_wisdom_temp_files_ignored_and_stale_ones_cleaned(store, profiled):
    # Check that a crashed writer's temp files are never read, and are
    # deleted once older than an hour.
    result, key, _ = profiled
    _record(store, profiled)
    folder = store.root / "v1" / result.machine.stable_fingerprint
    fresh, stale = folder / f".{key}.1.aaaa.tmp", folder / f".{key}.2.bbbb.tmp"
    fresh.write_text('{"half": ')
    stale.write_text('{"half": ')
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    assert len(store.entries()) == 1 and store.problems == []
    assert fresh.exists() and not stale.exists()


def test_wisdom_record_unwritable_warns(tmp_path, profiled):
    # Check that a cache that cannot be written warns and returns None.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = WisdomStore(blocker / "wisdom")
    with pytest.warns(SktuneWarning, match="not saved to the wisdom cache"):
        assert _record(store, profiled) is None
    assert store.lookup(profiled[0].machine.stable_fingerprint, profiled[1]) is None


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_wisdom_record_read_only_warns(store, profiled):
    # Check that a read-only cache folder warns instead of raising.
    store.root.mkdir(parents=True)
    os.chmod(store.root, 0o500)
    try:
        with pytest.warns(SktuneWarning, match="not saved"):
            assert _record(store, profiled) is None
    finally:
        os.chmod(store.root, 0o700)


def test_wisdom_lock_timeout_warns_and_proceeds(store, profiled, monkeypatch):
    # Check that a lock held elsewhere delays a record only by LOCK_TIMEOUT.
    fcntl = pytest.importorskip("fcntl")
    import sktune.wisdom

    monkeypatch.setattr(sktune.wisdom, "LOCK_TIMEOUT", 0.2)
    lock = store.root / "v1" / ".lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with pytest.warns(SktuneWarning, match="still held"):
            assert _record(store, profiled) is not None
    assert len(store.entries()) == 1


def test_wisdom_remove(store, profiled):
    # Check removal by machine, by key, and of everything.
    result, key, _ = profiled
    for fingerprint in ("m1", "m2"):
        for k in ("a" * 20, "b" * 20):
            _record(store, profiled, key=k, fingerprint=fingerprint)
    assert store.remove(fingerprint="m1", key="a" * 20) == 1
    assert store.remove(key="b" * 20) == 2
    assert [(e.machine, e.key) for e in store.entries()] == [("m2", "a" * 20)]
    assert store.remove() == 1 and store.entries() == []
    assert WisdomStore(store.root / "missing").remove() == 0
    with pytest.raises(InvalidParameterError, match="'key' parameter"):
        store.lookup("m1", "../etc")


# -- concurrency -----------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import os, sys, time, warnings
    import sktune
    from sktune.wisdom import WisdomStore

    root, result_path, go, worker = sys.argv[1:5]
    warnings.simplefilter("error")  # a lock timeout or set-aside fails the run
    result = sktune.load(result_path)
    store = WisdomStore(root)
    while not os.path.exists(go):
        time.sleep(0.005)
    for i in range(25):
        key = f"w{worker}k{i:02d}"
        assert store.record(result, key, {"worker": worker}, budget="quick",
                            budget_rank=0) is not None
        store.record(result, "shared", {"worker": worker}, budget="quick", budget_rank=0)
    assert store.problems == []
""")


def test_wisdom_concurrent_processes(tmp_path, profiled):
    # Check that 4 real processes recording at once into one store lose no
    # entry, leave no temp file and corrupt nothing.
    result, _, _ = profiled
    result_path = tmp_path / "result.json"
    result.save(result_path)
    root, go = tmp_path / "wisdom", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(result_path),
                               str(go), str(w)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for w in range(4)]
    time.sleep(0.5)  # most imports done, then all start together
    go.write_text("go")
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    store = WisdomStore(root)
    entries = store.entries()
    assert store.problems == []
    assert len(entries) == 101
    assert {e.key for e in entries} == {f"w{w}k{i:02d}" for w in range(4) for i in range(25)} \
        | {"shared"}
    shared = store.lookup(result.machine.stable_fingerprint, "shared")
    assert shared.result() == result
    assert [p for p in _files(root) if p.suffix == ".tmp"] == []
    assert _files(root / "set-aside") == []


# -- export / import ---------------------------------------------------------------


def test_wisdom_export_clear_import_round_trip(store, profiled, tmp_path):
    # Check that export + clear + import gives back the same entries.
    result, key, _ = profiled
    for k in ("a" * 20, "b" * 20, key):
        _record(store, profiled, key=k)
    before = {(e.machine, e.key): e.data["result"] for e in store.entries()}
    path = tmp_path / "wisdom-export.json"
    assert store.export(path) == 3
    assert json.loads(path.read_text())["format"] == "sktune-wisdom"
    assert store.remove() == 3 and store.entries() == []
    report = store.import_(path)
    assert (report.added, report.replaced, report.skipped, report.rejected) == (3, 0, 0, [])
    after = store.entries()
    assert {(e.machine, e.key): e.data["result"] for e in after} == before
    assert {e.source for e in after} == {"imported"}
    assert store.lookup(result.machine.stable_fingerprint, key).result() == result
    again = store.import_(path)
    assert (again.added, again.skipped) == (0, 3)


def test_wisdom_import_other_machine_only_as_hint(store, profiled, tmp_path):
    # Check that an entry of another machine never answers lookup().
    result, key, _ = profiled
    _record(store, profiled)
    path = tmp_path / "w.json"
    store.export(path)
    data = json.loads(path.read_text())
    data["entries"][0]["machine"] = "0123456789abcdef"
    path.write_text(json.dumps(data))
    store.remove()
    assert store.import_(path).added == 1
    here = result.machine.stable_fingerprint
    assert store.lookup(here, key) is None
    hints = store.hints(key, exclude_fingerprint=here)
    assert [h.machine for h in hints] == ["0123456789abcdef"]
    _record(store, profiled)
    assert [h.machine for h in store.hints(key, exclude_fingerprint=here)] == [
        "0123456789abcdef"]
    assert len(store.hints(key)) == 2


@pytest.mark.parametrize("content", ['{"entries": []}', "not json", "[]",
                                     '{"format": "sktune-wisdom", "wisdom_version": 7, '
                                     '"entries": []}'])
def test_wisdom_import_not_wisdom_file_raises(store, tmp_path, content):
    # Check that a file that is not wisdom at all raises, naming the path.
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(InvalidParameterError, match="other.json"):
        store.import_(path)


def test_wisdom_import_rejects_bad_entries_keeps_good(store, profiled, tmp_path):
    # Check that invalid entries are reported and the good ones imported.
    _record(store, profiled, key="a" * 20)
    _record(store, profiled, key="b" * 20)
    path = tmp_path / "w.json"
    store.export(path)
    store.remove()
    data = json.loads(path.read_text())
    good = data["entries"][0]
    data["entries"] += [
        {**good, "key": "c" * 20, "budget_rank": "high"},
        {**good, "key": "d" * 20, "result": {"format_version": 1}},
        {**good, "key": "../../escape"},
        "not an entry",
    ]
    path.write_text(json.dumps(data))
    report = store.import_(path)
    assert report.added == 2
    reasons = dict(report.rejected)
    assert len(reasons) == 4
    assert "budget_rank" in reasons[f"entry 2 (key {'c' * 20!r})"]
    assert "result cannot be loaded" in reasons[f"entry 3 (key {'d' * 20!r})"]
    assert "not a valid name" in reasons["entry 4 (key '../../escape')"]
    assert "JSON object" in reasons["entry 5"]
    assert sorted(e.key for e in store.entries()) == ["a" * 20, "b" * 20]
    assert "2 added" in str(report)
