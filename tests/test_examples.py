"""Smoke tests of the example scripts, each run in small mode in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Every runnable script; ``_small.py`` and other private helpers are not examples.
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))

#: A line each example prints once it has done its job (beyond print(result)).
EXPECTED = {
    "big_workload.py": "(predicted ",
    "budgets_and_wisdom.py": "Again: answered from wisdom",
    "compiled_transformers.py": "row_summary compiled by",
    "grid_search_blas.py": "Oversubscribed on",
    "hist_gradient_boosting_threads.py": "OpenMP threads tried:",
    "profile_grid_search.py": "best C:",
    "random_forest_n_jobs.py": "speedup over the forest as written",
    "reports.py": "sktune compare: A =",
    "text_classification.py": "Verdict: ",
    "distributed_engines.py": "On your cluster:",
    "where_time_goes.py": "Where the time goes",
}


def test_examples_all_have_an_expected_phrase():
    # Check that every example script is listed, so none is smoke-tested blind.
    assert sorted(EXPECTED) == [p.name for p in SCRIPTS]


#: What an example's own code (not sktune) leaves in the temporary folder:
#: the user's LocalCluster of distributed_engines.py keeps dask's default
#: scratch space there, as any user's cluster does.
USERS_OWN_FILES = {"distributed_engines.py": {"dask-scratch-space"}}


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs_in_small_mode(script, tmp_path):
    # Check that the example runs end to end on small data, shows its answer
    # and leaves nothing of sktune's in its temporary folder. It runs in
    # tmp_path, so files it writes (examples_output/) land there.
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, SKTUNE_EXAMPLES_SMALL="1", TMPDIR=str(tmpdir))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Recommendation:" in proc.stdout
    assert EXPECTED[script.name] in proc.stdout
    left = {p.name for p in tmpdir.iterdir()} - USERS_OWN_FILES.get(script.name, set())
    assert left == set()
