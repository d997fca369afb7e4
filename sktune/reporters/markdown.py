"""Markdown report: the recommendation, the evidence and the machine, as text.

For a pull request, an issue or a notebook: the same sections as the HTML
report, without the plots, in GitHub-flavoured Markdown tables.
"""

from ..machine import format_machine
from . import _common
from ._common import changes_something, origin_line
from .base import Reporter


def _cell(text):
    """Escape what would break a table cell or render as markup (HTML included).

    Underscores are left alone: GitHub does not emphasise inside words, and
    ``n_jobs`` must stay readable in the raw file.
    """
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\\", "\\\\").replace("\n", " ")
    for char in "|*`":
        text = text.replace(char, "\\" + char)
    return text


def _table(columns, rows):
    lines = ["| " + " | ".join(header for header, _, _ in columns) + " |",
             "|" + "|".join("---:" if numeric else "---" for _, _, numeric in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[key]) for _, key, _ in columns) + " |")
    return lines


def _fence(text):
    fence = "```"
    while fence in text:
        fence += "`"
    return [fence, text, fence]


class MarkdownReporter(Reporter):
    """The report as GitHub-flavoured Markdown."""

    name = "markdown"
    extensions = (".md", ".markdown")

    def render(self, result) -> str:
        rec = result.recommendation
        lines = [f"# sktune report: {_cell(result.workload.get('estimator', '?'))}", "",
                 "## Recommendation", "",
                 f"**{_cell(rec.best.describe())}**"
                 + (f" — speedup **{rec.speedup.value:.2f}x** "
                    f"[{rec.speedup.low:.2f}, {rec.speedup.high:.2f}] "
                    f"({rec.speedup.confidence:.0%} interval) over the pipeline as written"
                    if rec.verdict == "faster" else f" ({_cell(rec.verdict)})"),
                 "", _cell(rec.explanation), ""]
        if origin_line(result):
            lines += [f"*{_cell(origin_line(result))}*", ""]
        if changes_something(rec):
            lines += ["Use it:", "", *_fence(_common.use_it(result)), ""]
        if rec.caveats:
            lines += ["Caveats:", ""] + [f"- {_cell(c)}" for c in rec.caveats] + [""]
        lines += ["## Workload", ""]
        lines += [f"- **{label}**: {_cell(value)}"
                  for label, value in _common.workload_rows(result)]
        if result.workload.get("repr"):
            lines += ["", *_fence(str(result.workload["repr"]))]
        lines += ["", "## Candidates", "",
                  "Median of interleaved, warmed-up repeats; speedup over the pipeline "
                  "as written; the recommended row is marked ★.", ""]
        rows = [{**row, "config": ("★ " if row["best"] else "") + row["config"]}
                for row in _common.candidate_rows(result)]
        lines += _table(_common.CANDIDATE_COLUMNS, rows)
        title, steps = _common.step_rows(result)
        if steps:
            lines += ["", "## Where the time goes", "", _cell(title), ""]
            lines += _table(_common.STEP_COLUMNS, steps)
            slow = _common.slowest_step_line(result)
            if slow:
                lines += ["", _cell(slow)]
        if result.excluded:
            lines += ["", "## Not run", ""]
            lines += [f"- {_cell(config)}: {_cell(reason)}"
                      for config, reason in result.excluded]
        if result.extrapolation is not None:
            lines += ["", "## Extrapolation", "",
                      "The medians and speedups above are predicted full-size times.", ""]
            lines += [f"- {_cell(line)}" for line in _common.extrapolation_lines(result)]
        if result.notes:
            lines += ["", "## Notes", ""] + [f"- {_cell(note)}" for note in result.notes]
        lines += ["", "## Machine", "", *_fence(format_machine(result.machine)), ""]
        return "\n".join(lines)
