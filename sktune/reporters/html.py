"""HTML report: one self-contained page a person can open, keep and share.

The page leads with the recommendation and why, above the fold, then the
speedup with its interval, the workload, the candidates, the plots, the steps,
the notes and the machine. Everything is in the one file: CSS inline, plots
as base64 PNG, no script, no font, no link to anything; a Content Security
Policy forbids the page any network access. Every string that comes from
the user or the machine (estimator repr, step names, notes, paths) is
escaped with :func:`html.escape`.
"""

import base64
import html
import io
import math

from ..machine import format_machine
from . import _common
from ._common import changes_something, origin_line
from .base import Reporter

#: Resolution of the inlined plots: sharp on a 1x screen at 7x4.2 inches,
#: about 40 KiB per plot.
PLOT_DPI = 110

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff;
  --soft: #f6f8fa; --good: #1a7f37; --good-bg: #dafbe1; --warn: #9a6700;
  --warn-bg: #fff8c5; --accent: #0969da; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.5;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica,
  Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 20px 32px 48px; }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap;
  border-bottom: 1px solid var(--line); padding-bottom: 10px; }
header h1 { font-size: 1.5rem; margin: 0; font-weight: 600; }
.brand { font-weight: 700; color: var(--accent); letter-spacing: .02em; }
.meta { color: var(--muted); font-size: .9rem; margin: 0; }
h2 { font-size: 1.15rem; margin: 32px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); font-weight: 600; }
#recommendation { margin: 18px 0 8px; padding: 18px 22px; border-radius: 10px;
  border: 1px solid var(--line); border-left: 6px solid var(--muted); background: var(--soft); }
#recommendation.faster { border-left-color: var(--good); background: #f3fbf5; }
#recommendation .label { text-transform: uppercase; font-size: .75rem; letter-spacing: .08em;
  color: var(--muted); font-weight: 600; }
#recommendation .best { font-size: 1.6rem; font-weight: 650; margin: 2px 0 6px; }
#recommendation .speedup { font-size: 1.05rem; }
#recommendation .big { font-size: 1.6rem; font-weight: 700; color: var(--good);
  font-variant-numeric: tabular-nums; }
#recommendation .why { margin: 8px 0; max-width: 88ch; }
#recommendation pre { max-width: 640px; }
.ci { color: var(--muted); font-variant-numeric: tabular-nums; }
.scale { position: relative; height: 26px; margin: 10px 0 18px; max-width: 560px;
  border-bottom: 1px solid var(--muted); }
.scale .band { position: absolute; top: 6px; height: 12px; background: var(--good);
  opacity: .35; border-radius: 3px; min-width: 3px; }
.scale .point { position: absolute; top: 2px; width: 3px; height: 20px; background: var(--good); }
.scale .one { position: absolute; top: 0; width: 1px; height: 26px; background: var(--fg); }
.scale .tick { position: absolute; top: 27px; font-size: .75rem; color: var(--muted);
  transform: translateX(-50%); }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 12px; overflow-x: auto; font-size: .85rem; margin: 8px 0;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: .9em; }
ul.caveats { margin: 8px 0 0; padding: 8px 12px 8px 30px; background: var(--warn-bg);
  border-radius: 6px; color: #4d3800; }
nav { font-size: .9rem; color: var(--muted); margin: 6px 0 0; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: 6px 0; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
tr.best td { background: var(--good-bg); font-weight: 600; }
tr.bad td { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 6px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 18px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 8px; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: var(--muted); padding: 4px 4px 0; }
.muted { color: var(--muted); }
footer { margin-top: 36px; color: var(--muted); font-size: .8rem; }
"""

_PLOT_CAPTIONS = {
    "scaling": "Speedup over the pipeline as written against n_jobs, per backend; "
               "the dashed line is ideal scaling (speedup = n_jobs).",
    "threads": "Median time for each BLAS x OpenMP thread count (lower is faster), "
               "with the speedup; the recommended cell is outlined.",
    "steps": "Self time of each step, as written and as recommended.",
    "intervals": "Every candidate's speedup with its confidence interval; "
                 "right of the dashed line is faster than as written.",
}


def _e(value):
    return html.escape(str(value), quote=True)


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PLOT_DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(columns, rows, row_class=None):
    head = "".join(f'<th class="num">{_e(h)}</th>' if numeric else f"<th>{_e(h)}</th>"
                   for h, _, numeric in columns)
    body = []
    for row in rows:
        cls = row_class(row) if row_class else ""
        cells = "".join(f'<td class="num">{_e(row[k])}</td>' if numeric
                        else f"<td>{_e(row[k])}</td>" for _, k, numeric in columns)
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return (f"<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _facts(rows):
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in rows)
    return f'<dl class="facts">{items}</dl>'


def _scale(speedup):
    """A CSS-only bar: the interval and the estimate against 1.0 (as written)."""
    top = max(2, math.ceil(speedup.high * 1.1))

    def at(x):
        return f"{100 * min(max(x, 0), top) / top:.2f}%"

    ticks = range(0, top + 1, 1 if top <= 8 else top // 8)
    parts = [f'<div class="one" style="left:{at(1.0)}"></div>',
             f'<div class="band" style="left:{at(speedup.low)};'
             f'width:calc({at(speedup.high)} - {at(speedup.low)})"></div>',
             f'<div class="point" style="left:{at(speedup.value)}"></div>']
    parts += [f'<span class="tick" style="left:{at(t)}">'
              f'{t}x{" (as written)" if t == 1 else ""}</span>' for t in ticks]
    return (f'<div class="scale" role="img" aria-label="speedup {speedup.value:.2f}x, '
            f'interval {speedup.low:.2f} to {speedup.high:.2f}">{"".join(parts)}</div>')


class HTMLReporter(Reporter):
    """The report as one self-contained HTML page, plots included."""

    name = "html"
    extensions = (".html", ".htm")

    def render(self, result) -> str:
        from .._version import __version__
        from ..plots import available_kinds, plot

        rec = result.recommendation
        estimator = result.workload.get("estimator", "?")
        data_line = dict(_common.workload_rows(result))["data"]
        out = [
            "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>sktune report: {_e(estimator)}</title>",
            f"<style>{_CSS}</style></head><body><main>",
            f'<header><span class="brand">sktune</span><h1>{_e(estimator)}</h1>'
            f'<p class="meta">{_e(data_line)} &middot; {_e(result.machine.cpu_model)}, '
            f"{result.machine.usable_cores} usable cores</p></header>",
        ]
        # -- the answer, above the fold ---------------------------------------
        verdict = _e(rec.verdict.replace(" ", "-"))
        out.append(f'<section id="recommendation" class="{verdict}">'
                   '<div class="label">Recommendation</div>'
                   f'<div class="best">{_e(rec.best.describe())}</div>')
        s = rec.speedup
        if rec.verdict == "faster":
            out.append(f'<div class="speedup"><span class="big">{s.value:.2f}&times;</span>'
                       " faster than the pipeline as written "
                       f'<span class="ci">({s.confidence:.0%} interval '
                       f"[{s.low:.2f}, {s.high:.2f}])</span></div>")
        elif rec.verdict == "estimated":
            out.append('<div class="speedup">Estimated, not measured '
                       '<span class="ci">(no timing: the speedup is unknown)</span></div>')
        else:
            out.append(f'<div class="speedup">Keep the pipeline as written '
                       f'<span class="ci">({_e(rec.verdict)})</span></div>')
        out.append(f'<p class="why">{_e(rec.explanation)}</p>')
        if origin_line(result):
            out.append(f'<p class="origin">{_e(origin_line(result))}</p>')
        if changes_something(rec):
            out.append(f"<pre><code>{_e(_common.use_it(result))}</code></pre>")
        if rec.caveats:
            out.append('<ul class="caveats">'
                       + "".join(f"<li>{_e(c)}</li>" for c in rec.caveats) + "</ul>")
        out.append("</section>")
        kinds = available_kinds(result)
        title, steps = _common.step_rows(result)
        links = [("speedup", "Speedup"), ("workload", "Workload"),
                 ("candidates", "Candidates")]
        links += [("plots", "Plots")] if kinds else []
        links += [("steps", "Steps")] if steps else []
        links += [("notes", "Notes")] if result.notes or result.excluded else []
        links += [("machine", "Machine")]
        out.append("<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in links) + "</nav>")
        # -- the evidence -------------------------------------------------------
        base = result.stats[0]
        best = result.stats[result.candidates.index(rec.best)]
        out.append('<section id="speedup"><h2>Speedup</h2>')
        if rec.verdict == "faster":
            out.append(f"<p>{_e(rec.best.describe())} ran {s.value:.2f}&times; as fast as "
                       f"the pipeline as written; the {s.confidence:.0%} interval is "
                       f"[{s.low:.2f}, {s.high:.2f}] (bootstrap of the ratio of "
                       f"medians, {len(base.wall)} and {len(best.wall)} interleaved "
                       "repeats).</p>")
            out.append(_scale(s))
        else:
            out.append("<p>No candidate was faster than the pipeline as written beyond "
                       "noise; every interval is in the candidates table.</p>")
        if rec.alternatives:
            out.append("<p>As fast within noise, but using more cores or settings: "
                       + ", ".join(f"<code>{_e(c)}</code>" for c in rec.alternatives)
                       + ".</p>")
        out.append("</section>")
        out.append('<section id="workload"><h2>Workload</h2>'
                   + _facts(_common.workload_rows(result)))
        if result.workload.get("repr"):
            out.append(f"<pre>{_e(result.workload['repr'])}</pre>")
        out.append("</section>")
        out.append('<section id="candidates"><h2>Candidates</h2>'
                   '<p class="muted">Median of interleaved, warmed-up repeats. '
                   "Speedup is over the pipeline as written; busy cores is CPU time over "
                   "wall time; first call is the cold first run. The recommended row is "
                   "highlighted.</p>")
        out.append(_table(_common.CANDIDATE_COLUMNS, _common.candidate_rows(result),
                          row_class=lambda r: "best" if r["best"] else
                          ("" if r["status"] == "ok" else "bad")))
        out.append("</section>")
        if kinds:
            out.append('<section id="plots"><h2>Plots</h2><div class="plots">')
            for kind in kinds:
                figure = plot(result, kind)
                out.append(f'<figure><img alt="{_e(kind)} plot" '
                           f'src="data:image/png;base64,{_png(figure)}">'
                           f"<figcaption>{_e(_PLOT_CAPTIONS[kind])}</figcaption></figure>")
            out.append("</div></section>")
        if steps:
            out.append(f'<section id="steps"><h2>Where the time goes</h2>'
                       f'<p class="muted">{_e(title)}; share is self time over the '
                       "whole call.</p>" + _table(_common.STEP_COLUMNS, steps))
            slow = _common.slowest_step_line(result)
            if slow:
                out.append(f"<p>{_e(slow)}</p>")
            out.append("</section>")
        if result.extrapolation is not None:
            out.append('<section id="extrapolation"><h2>Extrapolation</h2>'
                       '<p class="muted">The medians and speedups above are predicted '
                       "full-size times.</p><ul>"
                       + "".join(f"<li>{_e(line)}</li>"
                                 for line in _common.extrapolation_lines(result))
                       + "</ul></section>")
        if result.notes or result.excluded:
            out.append('<section id="notes"><h2>Notes and caveats</h2><ul>')
            out += [f"<li>{_e(note)}</li>" for note in result.notes]
            out += [f"<li>Not run: <code>{_e(config)}</code>: {_e(reason)}</li>"
                    for config, reason in result.excluded]
            out.append("</ul></section>")
        out.append('<section id="machine"><h2>Machine</h2>'
                   + _facts(_common.machine_rows(result))
                   + "<details><summary>Everything sktune recorded about the machine"
                   f"</summary><pre>{_e(format_machine(result.machine))}</pre></details>"
                   "</section>")
        out.append(f"<footer>Made by sktune {_e(__version__)}. The page is self-contained: "
                   "it loads nothing from the network.</footer></main></body></html>")
        return "\n".join(out) + "\n"
