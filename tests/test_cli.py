import pytest

import sktune
from sktune.cli import EXAMPLES, example_workload, main


def test_cli_info(capsys):
    # Check that `sktune info` prints the machine with its fingerprint.
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sktune {sktune.__version__}")
    assert "fingerprint" in out and "usable" in out


def test_cli_demo_and_show(capsys, tmp_path):
    # Check that `sktune demo` profiles a built-in example and saves JSON that
    # `sktune show` prints again.
    path = tmp_path / "demo.json"
    assert main(["demo", "no-parallelism", "--budget", "quick", "--n-samples", "300",
                 "-o", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Recommendation: the pipeline as written" in out
    assert main(["show", str(path)]) == 0
    assert "Recommendation" in capsys.readouterr().out


def test_cli_user_error_exit_1(capsys):
    # Check that a user error prints a message without traceback and exits 1.
    assert main(["demo", "random-forest", "--budget", "bogus"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sktune: error: Invalid budget: 'bogus'")
    assert "Traceback" not in err


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_workloads_build(name):
    # Check that every built-in example builds an unfitted estimator and data.
    est, X, y = example_workload(name, n_samples=50)
    assert X.shape[0] == 50 and len(y) == 50
    assert not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("content", [None, "not json", '{"a": 1}'],
                         ids=["missing", "invalid-json", "not-a-result"])
def test_cli_show_bad_file_exit_1(capsys, tmp_path, content):
    # Check that a missing or foreign file gives a message and exit status 1.
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert main(["show", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sktune: error:") and "Traceback" not in err
