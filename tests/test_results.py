import json
import math

import pytest
from sklearn.datasets import make_classification

import sktune
from sktune import ConfigSpace, SktuneWarning, _measure
from sktune._stats import RUN_NOISE
from sktune.profilers import CPUTimeProfiler, WallClockProfiler

from _helpers import CostlyEstimator, FakeClock


@pytest.fixture(scope="module")
def result():
    # One profile for the whole module: every test only reads it.
    clock = FakeClock()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(_measure, "_now", clock)
        X, y = make_classification(n_samples=120, n_features=4, random_state=0)
        est = CostlyEstimator(clock=clock, cost={1: 1.0, 2: 0.5})
        return sktune.profile(
            est, X, y, space=ConfigSpace(n_jobs=[1, 2], backend=["loky", "threading"]),
            profilers=[CPUTimeProfiler(cpu_clock=clock), WallClockProfiler(clock=clock)],
            isolation="none", wisdom=False)


def test_save_load_round_trip(result, tmp_path):
    # Check that load(save(r)) == r, through plain JSON with a format version.
    path = result.save(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["format_version"] == 1 and data["unit"] == "seconds"
    loaded = sktune.load(path)
    assert loaded == result
    assert loaded.best == result.best and loaded.speedup == result.speedup
    assert str(loaded) == str(result)


def test_saved_result_records_signature_and_environment(result, tmp_path):
    # Check that the JSON carries the data signature and the environment facts
    # that decide the result (checklists 28 and 30).
    data = json.loads(result.save(tmp_path / "r.json").read_text())
    signature = data["workload"]["data"]
    assert signature["n_samples"] == 120 and signature["n_features"] == 4
    assert signature["dtype"] == "float64" and signature["order"] == "C"
    for key in ("load_avg", "gil_enabled", "throttle", "cpu_freq_mhz"):
        assert key in data["environment"]["before"]
    machine = data["machine"]
    for key in ("threadpools", "start_method", "numba_threading_layer", "compiled",
                "usable_cores", "physical_cores"):
        assert key in machine


def test_load_rejects_other_versions(result, tmp_path):
    # Check that a file of another format version is refused with the fix.
    data = result.to_dict()
    data["format_version"] = 99
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="format_version 99.*Re-run sktune.profile"):
        sktune.load(path)


def test_trials_and_summary_frames(result):
    # Check the pandas views: one row per run and one per candidate, sorted.
    trials, summary = result.trials, result.summary()
    assert len(trials) == len(result.records)
    assert {"config", "n_jobs", "backend", "phase", "wall_s", "cpu_s", "error"} <= set(
        trials.columns)
    timed = trials[trials.phase == "timed"]
    assert (timed.groupby("config_index").repeat.apply(list).map(
        lambda r: r == list(range(len(r))))).all()
    assert trials[trials.phase == "warmup"].repeat.isna().all()
    assert len(summary) == len(result.candidates)
    assert summary.median_s.is_monotonic_increasing
    assert summary.loc[summary.best, "config"].tolist() == [str(result.best)]


def test_str_and_repr_are_readable(result):
    # Check that the printed result leads with the recommendation and speedup.
    text = str(result)
    assert text.splitlines()[3].startswith("Recommendation: n_jobs=2")
    # Noiseless fake timings: the interval is the machine's between-run noise
    # alone (this test's private cache holds no calibration: the default).
    floor = math.exp(math.sqrt(2) * 1.959964 * RUN_NOISE)
    assert f"2.00x [{2 / floor:.2f}, {2 * floor:.2f}]" in text
    assert "95% of re-runs on this machine land in this interval" in text
    assert repr(result).startswith("<ProfileResult CostlyEstimator")


def test_apply_warns_on_different_data_size(result):
    # Check that applying the answer to data 10x larger warns (checklist 28).
    X_big, _ = make_classification(n_samples=1200, n_features=4, random_state=0)
    with pytest.warns(SktuneWarning, match="1200 samples"):
        with result.apply(X_big):
            pass
    with result.apply(X_big[:150]) as config:
        assert config == result.best


def test_profile_result_is_public():
    # Check that the result and config classes are the ones sktune exports,
    # under their documented modules, and listed in sktune.__all__.
    import sktune.results
    import sktune.space

    assert sktune.results.ProfileResult.__module__ == "sktune.results"
    assert sktune.space.Config.__module__ == "sktune.space"
    assert {"ProfileResult", "Config", "ConfigSpace", "load"} <= set(sktune.__all__)
    assert sktune.load is sktune.results.load
