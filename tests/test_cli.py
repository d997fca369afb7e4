import textwrap

import pytest

import sktune
from sktune import Config
from sktune.cli import EXAMPLES, example_workload, load_target, main

from _helpers import synthetic_result

WORKLOAD = """
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier


def make():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return DecisionTreeClassifier(random_state=0), X, y

WORKLOAD_CONSTANT = 3


def number():
    return 42


def pair():
    return make()[1:]


def not_an_estimator():
    return "tree", *make()[1:]


def raises():
    raise RuntimeError("no data here")
"""


@pytest.fixture
def workload_file(tmp_path):
    path = tmp_path / "my_workload.py"
    path.write_text(textwrap.dedent(WORKLOAD))
    return path


def _one_line_error(capsys):
    """The stderr of a failed command, checked to be one line, no traceback."""
    err = capsys.readouterr().err
    assert err.startswith("sktune: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    return err


def test_cli_info(capsys):
    # Check that `sktune info` prints the machine with its fingerprint.
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sktune {sktune.__version__}")
    assert "fingerprint" in out and "usable" in out


def test_cli_info_lists_engines(capsys, monkeypatch):
    # Check that `sktune info` gives each optional engine's version, or the
    # command that installs it, from sktune.machine.engine_versions().
    from sktune import machine

    monkeypatch.setattr(machine, "engine_versions", lambda: {
        "dask.distributed": "2026.1.0", "ray": None, "scikit-learn-intelex": "2026.2.0"})
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "engines        dask.distributed 2026.1.0" in out
    assert "ray: not installed: pip install 'sktune[ray]'" in out
    assert "scikit-learn-intelex 2026.2.0" in out


def test_cli_info_shows_the_python_build(capsys):
    # Check that `sktune info` says which build this Python is: a GIL build,
    # or a free-threaded one with the GIL's state now.
    import sys
    import sysconfig

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    python = next(line for line in out.splitlines() if line.startswith("python "))
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        assert python.endswith(", GIL build)")
    elif sys._is_gil_enabled():
        assert "free-threaded build, but the GIL was on" in python
    else:
        assert python.endswith("free-threaded build, GIL off)")


def test_cli_demo_writes_report_then_show_report_compare(capsys, tmp_path, monkeypatch):
    # Check that `sktune demo` profiles a built-in example, writes
    # sktune-report.html in the current folder and says so, saves JSON with
    # --save that `show`, `report` and `compare` read again.
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "no-parallelism", "--budget", "quick", "--n-samples", "300",
                 "--save", "demo.json"]) == 0
    out = capsys.readouterr().out
    assert "Recommendation: the pipeline as written" in out
    assert (tmp_path / "sktune-report.html").is_file()
    assert out.rstrip().endswith("sktune-report.html")
    assert "Report written to" in out and "Result saved to demo.json" in out
    assert main(["show", "demo.json"]) == 0
    assert "Recommendation" in capsys.readouterr().out
    assert main(["report", "demo.json", "-o", "again.html"]) == 0
    assert "again.html" in capsys.readouterr().out
    page = (tmp_path / "again.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html")
    assert main(["compare", "demo.json", "demo.json"]) == 0
    out = capsys.readouterr().out
    assert "Machine: the same" in out and "Recommendation: unchanged" in out


def test_cli_profile_target_file(capsys, tmp_path, workload_file):
    # Check that `sktune profile file.py:function` profiles what the function
    # returns in the space given by the options, and writes the report and
    # the JSON where asked.
    report, saved = tmp_path / "report.md", tmp_path / "result.json"
    assert main(["profile", f"{workload_file}:make", "--budget", "quick", "-q",
                 "--n-jobs", "1,2", "--backend", "threading", "-o", str(report),
                 "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "DecisionTreeClassifier" in out and "Recommendation" in out
    assert report.is_file() and f"Report written to {report}" in out
    result = sktune.load(saved)
    assert result.workload["estimator"] == "DecisionTreeClassifier"
    assert {c.backend for c in result.candidates} <= {None, "threading"}
    assert {c.n_jobs for c in result.candidates} <= {None, 1, 2}


def test_cli_user_error_exit_1(capsys):
    # Check that a user error prints a message without traceback and exits 1.
    assert main(["demo", "random-forest", "--budget", "bogus"]) == 1
    err = _one_line_error(capsys)
    assert err.startswith("sktune: error: The 'budget' parameter of profile must be a str "
                          "among ['estimate', 'exhaustive', 'measure', 'quick']")


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
    _one_line_error(capsys)


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("content, message", [
    (None, "No such file or directory: "),
    ("not json", "is not a sktune result: invalid JSON"),
    ('{"a": 1}', "is not a sktune result: no 'format_version' key")],
    ids=["missing", "invalid-json", "not-a-result"])
def test_cli_report_compare_bad_file_exit_1(capsys, tmp_path, command, content, message):
    # Check that `report` and `compare` on a missing or unreadable file give
    # one clear line naming the file, and exit status 1.
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    good = tmp_path / "good.json"
    synthetic_result().save(good)
    argv = (["report", str(path), "-o", str(tmp_path / "r.html")] if command == "report"
            else ["compare", str(good), str(path)])
    assert main(argv) == 1
    err = _one_line_error(capsys)
    assert message in err and repr(str(path)) in err


@pytest.mark.parametrize("target, message", [
    ("{dir}/nope.py:make", "No such file: '{dir}/nope.py'"),
    ("{file}", "Invalid TARGET: '{file}', expected path/to/file.py:function or "
               "module:function"),
    ("{file}:", "Invalid TARGET"),
    ("{file}:not-a-name", "Invalid TARGET"),
    ("no_such_module_sktune:make", "No module named 'no_such_module_sktune'"),
    ("{file}:missing", "'{file}' has no function named 'missing'"),
    ("{file}:WORKLOAD_CONSTANT", "'WORKLOAD_CONSTANT' in '{file}' is a int, not a "
                                 "function"),
    ("{file}:number", "number() in '{file}' must return (estimator, X, y) with a "
                      "scikit-learn estimator first; got a int."),
    ("{file}:pair", "got a tuple of length 2"),
    ("{file}:not_an_estimator", "got a first item of type str, not an estimator"),
    ("{file}:raises", "raises() raised RuntimeError: no data here"),
], ids=["missing-file", "no-colon", "no-function", "bad-function-name", "no-module",
        "missing-function", "not-callable", "returns-int", "returns-pair",
        "returns-no-estimator", "raises"])
def test_cli_profile_bad_target_exit_1(capsys, workload_file, target, message):
    # Check that each way TARGET can be wrong gives one clear line and exit
    # status 1, before any profiling.
    fill = {"dir": workload_file.parent, "file": workload_file}
    assert main(["profile", target.format(**fill), "--budget", "quick"]) == 1
    err = _one_line_error(capsys)
    assert message.format(**fill) in err


def test_cli_profile_target_import_error_exit_1(capsys, tmp_path):
    # Check that a target file that fails on import gives one line and exit 1.
    path = tmp_path / "broken.py"
    path.write_text("import no_such_package_sktune\n\ndef make():\n    pass\n")
    assert main(["profile", f"{path}:make"]) == 1
    err = _one_line_error(capsys)
    assert f"Importing '{path}' failed: ModuleNotFoundError" in err


@pytest.mark.parametrize("option, value, message", [
    ("--n-jobs", "1,two", "The '--n-jobs' option must be 'auto' or a comma-separated"),
    ("--backend", "lokyy", "Invalid backend: 'lokyy', expected one of"),
    ("--n-jobs", "0", "The 'n_jobs' parameter of ConfigSpace must be"),
], ids=["not-an-int", "unknown-backend", "zero-jobs"])
def test_cli_profile_bad_space_exit_1(capsys, workload_file, option, value, message):
    # Check that a bad space option is one line and exit 1, before the
    # workload is even imported.
    assert main(["profile", f"{workload_file}:raises", option, value]) == 1
    assert message in _one_line_error(capsys)


def test_load_target_module_and_file(tmp_path, monkeypatch, workload_file):
    # Check that TARGET may be module:function (importable from the current
    # folder) or path/to/file.py:function, and that sys.path is left as it was.
    import sys

    path_before = list(sys.path)
    monkeypatch.chdir(workload_file.parent)
    monkeypatch.delitem(sys.modules, "my_workload", raising=False)
    est, X, y = load_target("my_workload:make")
    assert type(est).__name__ == "DecisionTreeClassifier" and X.shape == (200, 5)
    sys.modules.pop("my_workload", None)
    est, X, y = load_target(f"{workload_file}:make")
    assert len(y) == 200
    assert sys.path == path_before


def test_cli_compare_flags_slower_not_noise(capsys, tmp_path):
    # Check that `sktune compare` on two saved results flags a configuration
    # that became 30% slower and not one that changed within noise.
    base, threads = Config(), Config(n_jobs=2, backend="threading")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    synthetic_result({base: 1.0, threads: 0.5}, seed=0).save(a)
    synthetic_result({base: 1.0, threads: 0.65}, seed=1).save(b)
    assert main(["compare", str(a), str(b), "--min-effect", "2"]) == 1
    assert "The 'min_effect' parameter of compare" in _one_line_error(capsys)
    assert main(["compare", str(a), str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"sktune compare: A = {a}, B = {b}"
    slower = next(line for line in lines if str(threads) in line)
    assert slower.startswith("! ") and slower.endswith("slower") and "1.30x" in slower
    unchanged = next(line for line in lines if line.strip().startswith("as written"))
    assert unchanged.endswith("within noise") and not unchanged.startswith("!")
    assert "Recommendation: unchanged, n_jobs=2 on threading." in lines


def test_cli_profile_measurement_options(capsys, workload_file):
    # Check that --budget estimate times nothing, that the measurement options
    # reach profile (in process, no wisdom), and that the second profile of
    # the same workload is answered from wisdom.
    target = f"{workload_file}:make"
    assert main(["profile", target, "--budget", "estimate", "-q"]) == 0
    assert "Estimated from rules" in capsys.readouterr().out
    argv = ["profile", target, "--budget", "quick", "-q", "--blas-threads", "1"]
    assert main(argv + ["--isolation", "none", "--timeout", "none", "--no-wisdom"]) == 0
    assert "From wisdom" not in capsys.readouterr().out
    assert main(argv + ["--timeout", "60"]) == 0
    assert "From wisdom" not in capsys.readouterr().out
    assert main(argv) == 0
    assert "From wisdom" in capsys.readouterr().out
    assert main(argv + ["--timeout", "soon"]) == 1
    assert "'timeout' parameter" in capsys.readouterr().err
