import io
import json

import pytest

from sktune.cli import main
from sktune.machine import Machine
from sktune.wisdom import WisdomStore

from _helpers import synthetic_result

HERE_KEY, OTHER_KEY = "aaaa1111" + "0" * 12, "bbbb2222" + "0" * 12
DESCRIPTION = {"estimator": {"class": "sklearn.pipeline.Pipeline", "params": {}},
               "data": {"n_samples_class": 10.0, "n_features": 4}, "task": "fit",
               "settings": {}}


@pytest.fixture
def root(tmp_path):
    """A store with one entry of this machine and one of another machine."""
    store = WisdomStore(tmp_path / "wisdom")
    result = synthetic_result()
    store.record(result, HERE_KEY, DESCRIPTION, budget="measure", budget_rank=1,
                 fingerprint=Machine.detect().stable_fingerprint)
    store.record(result, OTHER_KEY, DESCRIPTION, budget="quick", budget_rank=0,
                 fingerprint="0123456789abcdef")
    return store.root


def test_cli_wisdom_list(capsys, root):
    # Check that list prints one row per entry and marks other machines.
    assert main(["wisdom", "--root", str(root), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["key", "estimator", "data", "budget", "best", "speedup",
                                "created"]
    here = next(line for line in lines if HERE_KEY[:10] in line)
    other = next(line for line in lines if OTHER_KEY[:10] in line)
    assert not here.startswith("*") and other.startswith("*")
    assert "Pipeline" in here and "~1024 x 4" in here and "measure" in here
    assert "n_jobs=2, backend=threading" in here and "1.94x" in here
    assert "another machine" in lines[-1]


def test_cli_wisdom_list_empty_and_root_after_action(capsys, tmp_path):
    # Check that --root is accepted after the action too.
    assert main(["wisdom", "list", "--root", str(tmp_path / "empty")]) == 0
    assert "No wisdom in" in capsys.readouterr().out


def test_cli_wisdom_show_prefix(capsys, root):
    # Check that show accepts a unique prefix and prints the stored result.
    assert main(["wisdom", "--root", str(root), "show", HERE_KEY[:6]]) == 0
    out = capsys.readouterr().out
    assert HERE_KEY in out and "this machine" in out
    assert str(synthetic_result()) in out


@pytest.mark.parametrize("prefix, message", [("", "matches"), ("zz", "matches no entry")])
def test_cli_wisdom_show_bad_key_exit_1(capsys, root, prefix, message):
    # Check that an ambiguous or unknown key is a one-line user error.
    assert main(["wisdom", "--root", str(root), "show", prefix]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sktune: error: Wisdom key") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_wisdom_clear(capsys, root, monkeypatch):
    # Check that clear asks only on a terminal, and --yes never asks.
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Tty("n\n"))
    assert main(["wisdom", "clear", "--root", str(root)]) == 0
    assert "Nothing removed" in capsys.readouterr().out
    assert len(WisdomStore(root).entries()) == 2

    monkeypatch.setattr("sys.stdin", Tty("y\n"))
    assert main(["wisdom", "clear", "--root", str(root)]) == 0
    assert "Removed 2 wisdom entries" in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no question
    assert main(["wisdom", "--root", str(root), "clear"]) == 0
    assert "Removed 0 wisdom entries" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", Tty(""))
    assert main(["wisdom", "--root", str(root), "clear", "--yes"]) == 0


def test_cli_wisdom_export_import(capsys, root, tmp_path):
    # Check that export then import into another folder copies every entry.
    path = tmp_path / "w.json"
    assert main(["wisdom", "--root", str(root), "export", str(path)]) == 0
    assert "Exported 2 wisdom entries" in capsys.readouterr().out
    other = tmp_path / "other"
    assert main(["wisdom", "--root", str(other), "import", str(path)]) == 0
    assert "2 added, 0 replaced, 0 skipped, 0 rejected" in capsys.readouterr().out
    assert {e.key for e in WisdomStore(other).entries()} == {HERE_KEY, OTHER_KEY}


@pytest.mark.parametrize("content, message", [
    ("not json", "is not a sktune wisdom file: invalid JSON"),
    (json.dumps({"format": "other"}), "is not a sktune wisdom file"),
    (None, "No such file or directory")])
def test_cli_wisdom_import_bad_file_exit_1(capsys, tmp_path, content, message):
    # Check that a file that is not wisdom is a one-line user error.
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    assert main(["wisdom", "--root", str(tmp_path / "w"), "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert message in err and "bad.json" in err and len(err.strip().splitlines()) == 1
