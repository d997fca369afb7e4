import json
import re

import pytest

import sktune
from sktune import Config
from sktune.exceptions import InvalidParameterError
from sktune.plots import available_kinds
from sktune.reporters import (
    REPORTERS,
    HTMLReporter,
    JSONReporter,
    MarkdownReporter,
    Reporter,
    get_reporter,
    register_reporter,
    write_report,
)

from _helpers import synthetic_result

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def result():
    return synthetic_result(estimator_repr=f"Pipeline(steps=[('x', {SCRIPT})])",
                            notes=(f"note with {SCRIPT} & <b>markup</b>",))


@pytest.fixture(scope="module")
def page(result):
    return HTMLReporter().render(result)


@pytest.mark.parametrize("reporter_cls", list(REPORTERS.values()),
                         ids=lambda c: c.__name__)
def test_reporter_renders_recommendation(result, reporter_cls):
    # Check that every registered reporter renders text naming the recommendation.
    text = reporter_cls().render(result)
    assert isinstance(text, str) and text.endswith("\n")
    assert "n_jobs" in text and "1.94" in text


def test_html_report_escapes_user_strings(page):
    # Check that the estimator repr, notes and step advice are escaped and the
    # page contains no script at all.
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;markup&lt;/b&gt;" in page and "<b>markup</b>" not in page
    assert "try &lt;b&gt;this&lt;/b&gt;" in page


def test_html_report_loads_nothing_from_the_network(page):
    # Check that no src, href, url() or @import points outside the file, and
    # that a Content Security Policy forbids network access.
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)|url\(\s*["']?([^"')]+)""",
                      page, flags=re.IGNORECASE)
    targets = [a or b for a, b in refs]
    assert targets
    assert all(t.startswith(("#", "data:")) for t in targets), targets
    assert "http://" not in page and "https://" not in page and "@import" not in page
    assert "default-src 'none'" in page


def test_html_report_sections_in_order(result, page):
    # Check that the recommendation comes first, then the evidence, with one
    # inlined PNG per available plot.
    order = ['id="recommendation"', 'id="speedup"', 'id="workload"', 'id="candidates"',
             'id="plots"', 'id="steps"', 'id="notes"', 'id="machine"']
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert page.count("data:image/png;base64,") == len(available_kinds(result)) == 4
    assert page.count('<tr class="best">') == 1
    assert result.machine.fingerprint in page


def test_html_report_without_plots_or_steps():
    # Check that a result with nothing to plot besides intervals still renders,
    # without the sections it has no data for.
    result = synthetic_result({Config(): 1.0, Config(n_jobs=2, backend="loky"): 1.0},
                              steps=False, notes=())
    page = HTMLReporter().render(result)
    assert 'id="steps"' not in page and 'id="notes"' not in page
    assert "Keep the pipeline as written" in page


def test_markdown_report_round_trip(result, tmp_path):
    # Check that the Markdown report has the recommendation, a full
    # candidates table and escaped user strings.
    path = write_report(result, tmp_path / "report.md")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# sktune report: Pipeline")
    assert "**n_jobs=2 on threading**" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(result.candidates) + 1 + 3  # two tables with headers
    assert "| ★ n_jobs=2, backend=threading |" in text
    assert "note with &lt;script&gt;" in text
    assert "<script" not in text.split("```")[0]  # only inside the fenced repr


def test_json_report_round_trip(result, tmp_path):
    # Check that the JSON report parses, carries the recommendation and loads
    # back as the same result.
    path = write_report(result, tmp_path / "report.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    rec = data["recommendation"]
    assert rec["best"] == result.best.to_dict() and rec["verdict"] == "faster"
    assert rec["speedup"]["low"] <= rec["speedup"]["value"] <= rec["speedup"]["high"]
    assert {"alternatives", "caveats", "explanation", "describe"} <= set(rec)
    assert len(data["summary"]) == len(result.candidates)
    assert sktune.load(path) == result


@pytest.mark.parametrize("path, reporter_cls", [
    ("r.html", HTMLReporter), ("r.HTM", HTMLReporter), ("a/b/r.md", MarkdownReporter),
    ("r.markdown", MarkdownReporter), ("r.json", JSONReporter)])
def test_get_reporter_by_extension(path, reporter_cls):
    # Check that the file extension picks the reporter, case-insensitively.
    assert type(get_reporter(path=path)) is reporter_cls


def test_get_reporter_by_name_wins_over_extension():
    # Check that an explicit name is used whatever the extension.
    assert type(get_reporter("markdown", path="r.html")) is MarkdownReporter
    assert type(get_reporter("json")) is JSONReporter


def test_get_reporter_errors():
    # Check the lookup errors: joblib wording with the sorted registry, and
    # the fix for an unknown extension.
    with pytest.raises(InvalidParameterError,
                       match=r"Invalid reporter: 'htlm', expected one of "
                             r"\['html', 'json', 'markdown', 'text'\]\."):
        get_reporter("htlm")
    with pytest.raises(InvalidParameterError,
                       match=r"Invalid report extension: '.pdf', expected one of "
                             r"\['.htm', '.html', '.json', '.markdown', '.md', '.txt'\].*"
                             r"Pass format=\.\.\."):
        get_reporter(path="r.pdf")
    with pytest.raises(ValueError, match="needs a reporter name or a path"):
        get_reporter()


def test_register_reporter_adds_name_and_extension(result, tmp_path):
    # Check that a registered plug-in is found by name and by extension and
    # used by ProfileResult.report.
    class ShoutReporter(Reporter):
        name = "shout"
        extensions = (".shout",)

        def render(self, result):
            return str(result).upper() + "\n"

    register_reporter("shout", ShoutReporter)
    try:
        assert type(get_reporter("shout")) is ShoutReporter
        path = result.report(tmp_path / "r.shout")
        assert path.read_text(encoding="utf-8").startswith("SKTUNE PROFILE OF PIPELINE")
    finally:
        del REPORTERS["shout"]


@pytest.mark.parametrize("name, cls, match", [
    ("Shout", JSONReporter, "'name' parameter of register_reporter"),
    ("shout", dict, "'cls' parameter of register_reporter must be a subclass"),
])
def test_register_reporter_rejects_invalid(name, cls, match):
    # Check that names must be lowercase and classes Reporter subclasses.
    with pytest.raises(InvalidParameterError, match=match):
        register_reporter(name, cls)
    assert "shout" not in REPORTERS and "Shout" not in REPORTERS


def test_reporter_requires_render():
    # Check that Reporter is abstract: a subclass without render cannot be made.
    class Incomplete(Reporter):
        name = "incomplete"

    with pytest.raises(TypeError):
        Incomplete()


def test_write_report_format_overrides_extension(result, tmp_path):
    # Check that format= picks the reporter, the file is UTF-8 and a Path is returned.
    path = result.report(str(tmp_path / "out.txt"), format="html")
    assert path == tmp_path / "out.txt"
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("<!DOCTYPE html>") and "&middot;" in text


def test_print_result_is_the_text_reporter(result):
    # Check that print(result) is the registered "text" reporter's document,
    # so the terminal and a written .txt report never disagree.
    from sktune.reporters import TextReporter, get_reporter

    assert isinstance(get_reporter(path="r.txt"), TextReporter)
    assert TextReporter().render(result) == str(result) + "\n"
