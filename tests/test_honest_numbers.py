"""Claims that survive a re-run: prediction intervals, asv's significance
rule, pyperf's warnings, the early stop where nothing helps, calibration.

Injected timings only: no estimator is timed and no clock is read, except
in the one end-to-end check of a calibration saved in a private cache.
"""

import math

import numpy as np
import pandas as pd
import pytest

from sktune import Config
from sktune._run_noise import measured_run_noise, save_run_noise
from sktune._stats import (
    RUN_NOISE,
    ratio_interval,
    same_speed_interval,
    significance,
    speedup_interval,
)
from sktune.calibration import summarise
from sktune.recommendation import CandidateStats, choose
from sktune.search import RacingSearch, SearchState

Z95 = 1.959964


def _run(rng, log_speedup, shift_sd, noise_sd, n):
    """One simulated run: n interleaved rounds of baseline and candidate.

    Each round has a drift common to both (the machine got slower), each
    timing its own noise, and the whole run a shift of the candidate's
    ratio (what changes between runs: memory layout, the pools' state).
    """
    drift = 0.05 * rng.standard_normal(n)
    shift = shift_sd * rng.standard_normal()
    base = np.exp(drift + noise_sd * rng.standard_normal(n))
    cand = np.exp(drift - log_speedup + shift + noise_sd * rng.standard_normal(n))
    return base, cand


@pytest.mark.parametrize("shift_sd", [0.03, 0.08])
def test_prediction_interval_covers_re_runs_at_its_level(shift_sd):
    # Check the interval's promise on 1000 simulated run pairs with a known
    # between-run shift: the next run's ratio lands inside 95% of the time,
    # within 2 points. The machine's noise is calibrated as calibrate() does:
    # the standard deviation of the log ratio over independent runs.
    rng = np.random.default_rng(0)
    n, noise = 7, 0.01
    sample = [_run(rng, 0.5, shift_sd, noise, n) for _ in range(400)]
    run_noise = float(np.std([np.log(np.median(b) / np.median(c)) for b, c in sample],
                             ddof=1))
    inside = 0
    for k in range(1000):
        claim, rerun = _run(rng, 0.5, shift_sd, noise, n), _run(rng, 0.5, shift_sd, noise, n)
        interval = speedup_interval(*claim, rounds_baseline=range(n),
                                    rounds_candidate=range(n), run_noise=run_noise,
                                    n_bootstrap=200, seed=k)
        inside += np.median(rerun[0]) / np.median(rerun[1]) in interval
    assert abs(inside / 1000 - 0.95) <= 0.02


def test_one_runs_bootstrap_interval_misses_re_runs():
    # Check the problem the prediction interval solves: the plain bootstrap
    # of one run knows nothing of the shift between runs and covers far
    # fewer re-runs than its 95% (the "[1.91, 1.92]").
    rng = np.random.default_rng(1)
    inside = 0
    for k in range(300):
        claim, rerun = _run(rng, 0.5, 0.05, 0.01, 7), _run(rng, 0.5, 0.05, 0.01, 7)
        inside += (np.median(rerun[0]) / np.median(rerun[1])
                   in ratio_interval(*claim, n_bootstrap=200, seed=k))
    assert inside / 300 < 0.75


def test_paired_rounds_cancel_a_drift_common_to_both():
    # Check that a slowdown hitting baseline and candidate in the same round
    # widens the unpaired bootstrap but not the paired one.
    drift = np.linspace(1.0, 1.6, 9)  # the machine slows down through the run
    base, cand = 1.0 * drift, 0.5 * drift
    paired = speedup_interval(base, cand, rounds_baseline=range(9),
                              rounds_candidate=range(9), run_noise=0.0)
    unpaired = speedup_interval(base, cand, run_noise=0.0)
    assert paired.value == pytest.approx(2.0)
    assert paired.high / paired.low < 1.001 < unpaired.high / unpaired.low


def test_interval_is_never_narrower_than_the_between_run_noise():
    # Check the floor: noiseless repeats still get sqrt(2) * z * run_noise on
    # each side, and a noisy run more than that.
    steady = speedup_interval([1.0] * 5, [0.5] * 5, run_noise=0.04)
    assert math.log(steady.high / steady.value) == pytest.approx(math.sqrt(2) * Z95 * 0.04,
                                                                  rel=1e-4)
    rng = np.random.default_rng(2)
    noisy = speedup_interval(1 + 0.3 * rng.random(5), 0.5 + 0.15 * rng.random(5),
                             run_noise=0.04)
    assert noisy.high / noisy.low > steady.high / steady.low


def test_same_speed_interval_is_centred_on_one():
    interval = same_speed_interval([1.0, 1.01, 0.99, 1.0, 1.02], run_noise=RUN_NOISE)
    assert interval.value == 1.0 and interval.low < 1 < interval.high
    assert interval.low == pytest.approx(1 / interval.high)


def test_significance_follows_asvs_rule():
    # Check which test decides: Mann-Whitney U at p < 0.002 where the samples
    # can reach it (7 against 7), else complete separation (5 against 5).
    fast, slow = [0.50, 0.51, 0.52, 0.49, 0.50, 0.53, 0.51], [1.0] * 7
    verdict = significance(slow, fast)
    assert verdict.significant and "Mann-Whitney" in verdict.test
    assert verdict.p_value < 0.002
    five = significance(slow[:5], fast[:5])
    assert five.significant and "every run" in five.test
    assert five.p_value == pytest.approx(2 / math.comb(10, 5))
    # One overlap among 5 against 5: not significant.
    assert not significance([1.0, 1.0, 1.0, 1.0, 0.6], [0.5, 0.5, 0.5, 0.5, 0.7]).significant
    # Heavily overlapping 7 against 7: not significant.
    rng = np.random.default_rng(3)
    assert not significance(1 + 0.1 * rng.random(7), 0.97 + 0.1 * rng.random(7)).significant


def _stats(*entries):
    return [CandidateStats(index=i, config=c, wall=tuple(w), rounds=tuple(range(len(w))))
            for i, (c, w) in enumerate(entries)]


def test_a_gain_not_separated_from_noise_is_not_recommended():
    # Check that a 10% faster median with overlapping repeats keeps the
    # pipeline as written, and says which test decided.
    base = [1.00, 1.12, 0.95, 1.08, 1.02]
    cand = [0.90, 0.98, 0.86, 1.00, 0.93]
    rec = choose(_stats((Config(), base), (Config(n_jobs=2, backend="loky"), cand)),
                 usable_cores=2)
    assert rec.best == Config() and rec.verdict == "no gain"
    assert "not told apart" in rec.explanation and "every run" in rec.explanation
    # The same gain, cleanly separated, is recommended with the test named.
    clean = [0.90, 0.91, 0.90, 0.92, 0.91]
    rec = choose(_stats((Config(), [1.0, 1.01, 1.0, 1.02, 1.01]),
                        (Config(n_jobs=2, backend="loky"), clean)), usable_cores=2)
    assert rec.verdict == "faster"
    assert "faster beyond noise by every run of one faster" in rec.explanation
    assert "95% of re-runs on this machine land in this interval" in rec.explanation


def test_every_alternative_slower_is_said_so():
    rec = choose(_stats((Config(), [1.0] * 5), (Config(n_jobs=2, backend="loky"), [1.3] * 5)),
                 usable_cores=2)
    assert rec.explanation.startswith("Every alternative was slower")
    assert rec.speedup.value == 1.0 and rec.speedup.low < 1 < rec.speedup.high


def test_unsteady_and_short_calls_are_caveats():
    # pyperf's warnings: identical repeats spread above 10%, a call under 1 ms.
    rec = choose(_stats((Config(), [1.0, 1.3, 0.8, 1.25, 0.85]),
                        (Config(n_jobs=2, backend="loky"), [1.3] * 5)), usable_cores=2)
    assert any("vary by" in c and "the pipeline as written" in c for c in rec.caveats)
    rec = choose(_stats((Config(), [0.0004] * 5), (Config(n_jobs=2, backend="loky"),
                                                   [0.0008] * 5)), usable_cores=2)
    assert any("under 1 ms" in c for c in rec.caveats)
    steady = choose(_stats((Config(), [1.0, 1.01, 0.99, 1.0, 1.0]),
                           (Config(n_jobs=2, backend="loky"), [1.3] * 5)), usable_cores=2)
    assert not any("vary by" in c or "under 1 ms" in c for c in steady.caveats)


def test_racing_stops_after_the_minimum_rounds_where_nothing_helps():
    # Check the cheap "nothing helps": candidates confidently within 5% of
    # the baseline are dropped after 3 rounds and the search stops.
    strategy = RacingSearch(min_repeats=5, max_repeats=7, min_effect=0.05)
    rng = np.random.default_rng(4)
    timings = {i: list(1.0 + 0.005 * rng.standard_normal(3)) for i in range(5)}
    state = SearchState(n_candidates=5, timings=timings, rounds=3)
    assert strategy.next_round(state) is None
    assert state.dropped == {1, 2, 3, 4}
    assert state.stop_reason == "no candidate left can beat the pipeline as written by 5%"


def test_racing_keeps_a_candidate_that_may_still_win():
    # A candidate 10% faster, or one too noisy to rule out, is raced on.
    strategy = RacingSearch(min_repeats=5, max_repeats=7, min_effect=0.05)
    timings = {0: [1.0, 1.01, 0.99], 1: [0.90, 0.91, 0.89], 2: [1.0, 0.7, 1.3],
               3: [1.0, 1.0, 1.0]}
    state = SearchState(n_candidates=4, timings=timings, rounds=3)
    assert set(strategy.next_round(state)) == {0, 1, 2}
    assert state.dropped == {3}


def test_calibration_summary_of_a_fixed_table():
    # Coverage, median over-claim (per workload, of the median re-run),
    # pooled between-run noise and the narrowest interval.
    table = pd.DataFrame({
        "workload": ["a"] * 3 + ["b"] * 3,
        "claimed": [2.0] * 3 + [1.0] * 3, "low": [1.8] * 3 + [0.9] * 3,
        "high": [2.2] * 3 + [1.1] * 3,
        "measured": [1.9, 2.0, 2.1, 1.0, 1.0, 1.0],
        "inside": [True] * 6})
    summary = summarise(table)
    assert summary["coverage"] == 1.0
    assert summary["median_over_claim"] == pytest.approx(0.0)
    log_sd_a = np.std(np.log([1.9, 2.0, 2.1]), ddof=1)
    assert summary["run_noise"] == pytest.approx(math.sqrt(log_sd_a ** 2 / 2))
    assert summary["narrowest"] == pytest.approx(math.log(1.1 / 0.9) / 2)


def test_saved_run_noise_is_read_back_for_this_machine_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SKTUNE_CACHE_DIR", str(tmp_path))
    assert measured_run_noise("abc") is None  # nothing calibrated: the default applies
    path = save_run_noise(0.031, "abc")
    assert path.parent == tmp_path / "calibration"
    assert measured_run_noise("abc") == pytest.approx(0.031)
    assert measured_run_noise("another machine") is None
    path.write_text("not json")
    assert measured_run_noise("abc") is None


def test_environment_notes_name_frequency_steal_and_restarts():
    from sktune._measure import environment_notes

    quiet = {"cpu_freq_mhz": 2000.0, "cpu_steal_s": 10.0}
    assert environment_notes(quiet, quiet, 2, {"elapsed_s": 10.0}) == []
    after = {"cpu_freq_mhz": 2600.0, "cpu_steal_s": 12.0}
    notes = environment_notes(quiet, after, 2, {"elapsed_s": 10.0, "worker_restarts": 2})
    assert any("2000 MHz before, 2600 MHz after" in n for n in notes)
    assert any("2.0 s of CPU time" in n and "10%" in n for n in notes)
    assert any("restarted 2 times" in n for n in notes)


@pytest.mark.slow
def test_calibrate_end_to_end_in_fresh_processes(private_tmpdir, tmp_path, monkeypatch):
    # Check one real calibration: a profile and two re-runs, each in its own
    # fresh interpreter; one row per re-run, the summary computed from them,
    # and nothing written outside the cache folder (the noise is saved only
    # when asked).
    from sktune.calibration import calibrate

    monkeypatch.setenv("SKTUNE_CACHE_DIR", str(tmp_path / "cache"))
    lines = []
    result = calibrate(["pca_ridge"], reruns=2, repeats=3, budget="quick", scale=0.05,
                       progress=lines.append)
    table = result.table
    assert len(table) == 2 and set(table.workload) == {"pca_ridge"}
    assert (table.measured > 0).all() and (table.low <= table.claimed).all()
    assert result.coverage == table.inside.mean()
    assert lines[0] == "[pca_ridge] profiling ..." and len(lines) == 3
    assert "Re-runs inside the claimed interval" in str(result)
    assert not (tmp_path / "cache" / "calibration").exists()
    assert list(private_tmpdir.iterdir()) == []


def test_calibrate_cli_rejects_bad_arguments(capsys):
    from sktune.cli import main

    assert main(["calibrate", "--reruns", "0"]) == 1
    assert "The 'reruns' parameter of calibrate must be an int" in capsys.readouterr().err
    assert main(["calibrate", "--only", "forest,nope"]) == 1
    assert "'workloads' parameter" in capsys.readouterr().err


def test_racing_rules_out_a_twin_of_the_baseline_through_common_drift():
    # A candidate running exactly as the baseline, in rounds that drift
    # together by 10%: paired by round, it is ruled out after 3 rounds.
    strategy = RacingSearch(min_repeats=5, max_repeats=7, min_effect=0.05)
    drift = [1.0, 1.1, 0.95]
    timings = {0: [d * 1.0 for d in drift], 1: [d * 1.002 for d in drift],
               2: [d * 0.7 for d in drift]}
    state = SearchState(n_candidates=3, timings=timings, rounds=3)
    assert set(strategy.next_round(state) or ()) <= {0, 2}
    assert 1 in state.dropped
