import numpy as np
import pytest

from sktune import Config, ProfileResult
from sktune.comparison import CHANGES, Comparison, compare

from _helpers import fake_machine

BASE = Config()
THREADS = Config(n_jobs=2, backend="threading")
LOKY = Config(n_jobs=2, backend="loky")


@pytest.fixture
def machine():
    return fake_machine()


def _noisy(median, n=9, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    return median * (1 + noise * rng.standard_normal(n))


def _result(machine, timings, estimator="RandomForestClassifier", n_samples=100,
            run_noise=None):
    """A ProfileResult built from timed records only (no profiling).

    ``timings`` maps each Config to its timed wall times; the first is the
    baseline. Unlike ``_helpers.synthetic_result``, the noise and the number
    of repeats are free.
    """
    candidates, records = list(timings), []
    for index, walls in enumerate(timings.values()):
        records.append({"config": index, "phase": "warmup", "round": 0,
                        "wall_s": float(walls[0]), "cpu_s": None, "error": None})
        records += [{"config": index, "phase": "timed", "round": r, "wall_s": float(w),
                     "cpu_s": None, "error": None} for r, w in enumerate(walls)]
    return ProfileResult(
        candidates=candidates, records=records, equivalence={}, machine=machine,
        workload={"estimator": estimator,
                  "data": {"n_samples": n_samples, "n_features": 4, "task": "fit"}},
        settings={} if run_noise is None else {"run_noise": run_noise})


def test_compare_flags_30_percent_slower_not_noise(machine):
    # Check that a configuration 30% slower in B is flagged "slower" with an
    # interval above 1, and that one that moved by 1% (noise) is not flagged.
    a = _result(machine, {BASE: _noisy(1.0), THREADS: _noisy(0.5, seed=1),
                          LOKY: _noisy(0.6, seed=2)})
    b = _result(machine, {BASE: _noisy(1.01, seed=3), THREADS: _noisy(0.65, seed=4),
                          LOKY: _noisy(0.6, seed=5)})
    comparison = compare(a, b)
    table = comparison.table.set_index("config")
    assert table.loc[str(THREADS), "change"] == "slower"
    assert table.loc[str(THREADS), "ratio_low"] > 1
    assert table.loc[str(THREADS), "ratio"] == pytest.approx(1.3, rel=0.03)
    assert table.loc[str(BASE), "change"] == "within noise"
    assert table.loc[str(LOKY), "change"] == "within noise"
    assert comparison.slower == [str(THREADS)] and comparison.faster == []
    assert table.loc[str(LOKY), "ratio_low"] <= 1 <= table.loc[str(LOKY), "ratio_high"]


def test_compare_flags_faster(machine):
    # Check that a configuration twice as fast in B is flagged "faster".
    a = _result(machine, {BASE: _noisy(1.0), LOKY: _noisy(1.0, seed=1)})
    b = _result(machine, {BASE: _noisy(1.0, seed=2), LOKY: _noisy(0.5, seed=3)})
    comparison = compare(a, b)
    assert comparison.faster == [str(LOKY)] and comparison.slower == []
    assert comparison.recommendation_changed
    assert (comparison.best_a, comparison.best_b) == (BASE, LOKY)


def test_compare_noisy_large_change_is_within_noise(machine):
    # Check that a 30% change whose interval includes 1 (very noisy repeats)
    # is not flagged.
    a = _result(machine, {BASE: _noisy(1.0, n=5, noise=0.6)})
    b = _result(machine, {BASE: _noisy(1.3, n=5, noise=0.6, seed=1)})
    row = compare(a, b).table.iloc[0]
    assert row.change == "within noise" and row.ratio_low <= 1


def test_compare_small_change_beyond_interval_is_within_noise(machine):
    # Check that a change below min_effect is not flagged even when its
    # interval excludes 1, and is with a smaller min_effect, on a machine
    # calibrated as nearly noiseless between runs.
    a = _result(machine, {BASE: _noisy(1.0, noise=0.001)}, run_noise=0.001)
    b = _result(machine, {BASE: _noisy(1.03, noise=0.001, seed=1)}, run_noise=0.001)
    assert compare(a, b).table.change.tolist() == ["within noise"]
    assert compare(a, b, min_effect=0.01).table.change.tolist() == ["slower"]


def test_compare_change_within_between_run_noise_is_not_flagged(machine):
    # Check that a 10% shift between two steady runs is "within noise" on a
    # machine whose runs differ by 8% (log sd) with nothing changed (the
    # default between-run noise), and that 40% is beyond it.
    a = _result(machine, {BASE: _noisy(1.0, noise=0.001)})
    for shift, change in ((1.1, "within noise"), (1.4, "slower")):
        b = _result(machine, {BASE: _noisy(shift, noise=0.001, seed=1)})
        row = compare(a, b, min_effect=0.01).table.iloc[0]
        assert row.change == change
        assert row.ratio_high / row.ratio_low > 1.15  # the between-run noise is in it


def test_compare_rejects_bad_min_effect(machine):
    # Check that min_effect is validated with sklearn's wording.
    a = _result(machine, {BASE: _noisy(1.0)})
    with pytest.raises(ValueError, match="The 'min_effect' parameter of compare must be"):
        compare(a, a, min_effect=-0.1)


def test_compare_configurations_in_one_run_only(machine):
    # Check that configurations measured in one run only are listed as such,
    # and that a failed one is "not measured".
    a = _result(machine, {BASE: _noisy(1.0), THREADS: _noisy(0.5, seed=1)})
    b = _result(machine, {BASE: _noisy(1.0, seed=2), LOKY: _noisy(0.5, seed=3)})
    table = compare(a, b).table.set_index("config")
    assert table.loc[str(THREADS), "change"] == "only in A"
    assert table.loc[str(LOKY), "change"] == "only in B"
    assert table.loc[str(THREADS), "median_a_s"] == pytest.approx(0.5, rel=0.05)
    assert np.isnan(table.loc[str(LOKY), "median_a_s"])
    assert set(table.change) <= set(CHANGES)

    failed = _result(machine, {BASE: _noisy(1.0), THREADS: _noisy(0.5, seed=1)})
    failed.records = [r for r in failed.records if r["config"] == 0] + [
        {"config": 1, "phase": "warmup", "round": 0, "wall_s": 0.1, "cpu_s": None,
         "error": "RuntimeError: boom"}]
    table = compare(a, failed).table.set_index("config")
    assert table.loc[str(THREADS), "change"] == "not measured"
    assert table.loc[str(THREADS), "status_b"] == "failed"


def test_compare_does_not_depend_on_candidate_order(machine):
    # Check that configurations are matched by Config, not by position.
    a = _result(machine, {BASE: _noisy(1.0), THREADS: _noisy(0.5, seed=1),
                          LOKY: _noisy(0.6, seed=2)})
    b = _result(machine, {BASE: _noisy(1.0, seed=3), LOKY: _noisy(0.9, seed=5),
                          THREADS: _noisy(0.5, seed=4)})
    table = compare(a, b).table.set_index("config")
    assert table.loc[str(LOKY), "change"] == "slower"
    assert table.loc[str(THREADS), "change"] == "within noise"


def test_compare_machine_fingerprint_and_recommendation(machine):
    # Check that a different machine and an unchanged recommendation are
    # reported, in the attributes and in the text.
    other = fake_machine(usable_cores=4)
    a = _result(machine, {BASE: _noisy(1.0), THREADS: _noisy(0.5, seed=1)})
    b = _result(other, {BASE: _noisy(1.0, seed=2), THREADS: _noisy(0.5, seed=3)})
    comparison = compare(a, b, labels=("a.json", "b.json"))
    assert not comparison.same_machine and not comparison.recommendation_changed
    text = str(comparison)
    assert "A = a.json, B = b.json" in text
    assert f"Machine: different (fingerprint {machine.fingerprint} in A" in text
    assert "Recommendation: unchanged, n_jobs=2 on threading." in text
    assert compare(a, a).same_machine
    assert "Machine: the same" in str(compare(a, a))


def test_compare_notes_different_workloads(machine):
    # Check that comparing different estimators or data says so.
    a = _result(machine, {BASE: _noisy(1.0)})
    assert "estimators differ" in str(compare(
        a, _result(machine, {BASE: _noisy(1.0)}, estimator="LogisticRegression")))
    assert "data differ" in str(compare(a, _result(machine, {BASE: _noisy(1.0)},
                                                  n_samples=500)))
    assert compare(a, a).notes == ()


def test_compare_text_lists_every_configuration(machine):
    # Check that the text has one row per configuration with medians, the
    # ratio interval and the change, and marks slower rows.
    a = _result(machine, {BASE: _noisy(1.0), THREADS: _noisy(0.5, seed=1)})
    b = _result(machine, {BASE: _noisy(1.0, seed=2), THREADS: _noisy(0.65, seed=3)})
    comparison = compare(a, b)
    assert isinstance(comparison, Comparison)
    lines = str(comparison).splitlines()
    assert any("1 slower, 1 within noise" in line for line in lines)
    row = next(line for line in lines if str(THREADS) in line)
    assert row.startswith("! ") and row.endswith("slower")
    assert comparison.table.set_index("config").loc[str(THREADS), "ratio"] == \
        pytest.approx(1.3, rel=0.03)
    assert "ms" in row
    base_row = next(line for line in lines if line.strip().startswith("as written"))
    assert base_row.endswith("within noise") and base_row.startswith("  ")
