"""Smoke tests of the example scripts that have a small mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_compiled_transformers_example_runs():
    # Check that the example runs end to end on small data and shows its answer.
    env = dict(os.environ, SKTUNE_EXAMPLE_ROWS="2000")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "compiled_transformers.py")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Recommendation:" in proc.stdout
    assert "row_summary compiled by numba" in proc.stdout
