"""Plain-text report: what ``print(result)`` shows, for terminals and notebooks.

The answer comes first (the recommendation, its interval, how to use it),
then the evidence (where the time goes, every candidate's median and
interval), then what was left out and why, and how the search went. The
same cells as the HTML and Markdown reports (:mod:`sktune.reporters._common`).
"""

from .._units import is_missing, memory, seconds
from ..machine import gil_state
from ._common import changes_something, data_line, extrapolation_lines, origin_line
from .base import Reporter

#: Rows of the step table shown by print(result); result.steps has them all.
_STEP_ROWS = 8


def _steps_lines(result, rec):
    """The step table of the recommended configuration, and its slowest step."""
    from .._breakdown import ROOT, slowest_step

    frame = result.steps
    index = result.candidates.index(rec.best)
    mine = frame[frame["config_index"] == index]
    if mine.empty or (mine["step"] == ROOT).all():
        return []  # not profiled, or a single estimator: nothing to break down
    which = "as written" if index == 0 else rec.best.describe()
    lines = ["", f"Where the time goes ({which}; self time of each step, median of "
                 f"{int(mine['n_repeats'].max())} repeats):",
             f"    {'step':<44} {'method':<14} {'calls':>6} {'self':>9} {'share':>6}"]
    for row in mine.head(_STEP_ROWS).itertuples():
        lines.append(f"    {row.step:<44} {row.method:<14} {row.calls:>6.0f} "
                     f"{seconds(row.self_seconds):>9} {row.share:>6.0%}")
    if len(mine) > _STEP_ROWS:
        lines.append(f"    ... {len(mine) - _STEP_ROWS} more rows in result.steps")
    slow = slowest_step(result, index, frame)
    if slow is not None:
        line = (f"  Slowest step: {slow['step']} ({slow['estimator']}, "
                f"{slow['share']:.0%} of the time)")
        lines.append(line + (f": {slow['advice']}" if slow["advice"] else "."))
    return lines


#: Libraries and functions named in the hot-spot lines of print(result).
_HOT_ITEMS = 4


def _hotspot_lines(result, rec):
    """Own time by library and the top functions, from the extra cProfile run."""
    libraries, functions = result.hotspot_libraries, result.hotspots
    config = str(rec.best)
    libraries = libraries[libraries["config"] == config]
    if libraries.empty:
        return []
    which = "as written" if rec.best == result.baseline else rec.best.describe()
    by_lib = ", ".join(f"{r.library} {r.share:.0%}"
                       for r in libraries.head(_HOT_ITEMS).itertuples())
    top = functions[functions["config"] == config].head(_HOT_ITEMS)
    lines = ["", f"Hot spots ({which}; one extra cProfile run of the calling thread):",
             f"  by library: {by_lib}"]
    lines += [f"  {r.own_share:>4.0%}  {r.function} ({r.library}, {r.file}:{r.line})"
              for r in top.itertuples()]
    return lines


def format_result(result):
    """Return the multi-line text shown by ``print(result)``."""
    rec = result.recommendation
    data = result.workload["data"]
    machine = result.machine
    gil = gil_state(machine)  # a GIL build, the usual case, goes unsaid
    lines = [
        f"sktune profile of {result.workload.get('estimator')} "
        f"(task={data.get('task')}), {data_line(data)}",
        f"machine: {machine.cpu_model}, {machine.usable_cores} usable cores"
        + (f", Python {machine.versions.get('python')} {gil}" if gil else "")
        + f" (fingerprint {machine.fingerprint})",
        "",
        f"Recommendation: {rec.best.describe()}"
        + (f"  ({rec.speedup} speedup)" if rec.verdict == "faster" else ""),
        f"  {rec.explanation}",
    ]
    if origin_line(result):
        lines.append(f"  {origin_line(result)}")
    if changes_something(rec):
        lines.append("  Use it:  with result.best.apply(): "
                     "result.best.configure(estimator).fit(X, y)")
    lines += _steps_lines(result, rec)
    lines += _hotspot_lines(result, rec)
    summary = result.summary()
    width = max([46] + [len(c) for c in summary["config"]])
    lines += ["", "Candidates (median of interleaved, warmed-up repeats; 'first' is the "
                  "first, cold call; 'busy' is CPU time over wall time, 'thr' the busy "
                  "threads ('-' where they ended within the call and could not be "
                  "counted), 'peak' the memory of the process tree and 'added' its "
                  "growth during the call):",
              f"    {'configuration':<{width}} {'median':>9} {'speedup [95% CI]':>20} "
              f"{'busy':>5} {'thr':>4} {'peak':>9} {'added':>9} {'first':>9}  status"]
    for row in summary.itertuples():
        if row.status == "excluded":
            continue
        mark = "*" if row.best else " "
        speed = (f"{row.speedup:.2f}x [{row.speedup_low:.2f}, {row.speedup_high:.2f}]"
                 if not is_missing(row.speedup) else "-")
        busy = f"{row.busy_cores:.1f}" if not is_missing(row.busy_cores) else "-"
        threads = f"{row.busy_threads:.0f}" if not is_missing(row.busy_threads) else "-"
        status = row.status if row.status == "ok" else f"{row.status}: {row.detail}"
        lines.append(f"  {mark} {row.config:<{width}} {seconds(row.median_s):>9} "
                     f"{speed:>20} {busy:>5} {threads:>4} {memory(row.peak_bytes):>9} "
                     f"{memory(row.extra_bytes):>9} "
                     f"{seconds(row.cold_s):>9}  {status}")
    if result.excluded:
        lines += ["", "Not run:"]
        lines += [f"  - {config}: {reason}" for config, reason in result.excluded]
    if result.extrapolation is not None:
        lines += ["", "Extrapolation (medians above are predicted full-size times):"]
        lines += [f"  - {line}" for line in extrapolation_lines(result)]
    if result.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in result.notes]
    if rec.caveats:
        lines += ["", "Caveats:"] + [f"  - {c}" for c in rec.caveats]
    search = result.search
    if search:
        how = ", ".join(filter(None, [
            # Results saved before strategies had names give the class name.
            {"RacingSearch": "racing", "ExhaustiveSearch": "exhaustive"}.get(
                search.get("strategy"), search.get("strategy")),
            {"process": "trials in a worker process",
             "none": "trials in this process"}.get(search.get("isolation"))]))
        restarts = search.get("worker_restarts") or 0
        lines += ["", f"Search: budget {search.get('budget')}"
                      + (f" ({how})" if how else "") + ", "
                      f"{search.get('elapsed_s', 0):.1f} s spent on "
                      f"{search.get('n_runs', 0)} runs in {search.get('rounds', 0)} rounds; "
                      f"stopped because {search.get('stop_reason')}."
                      + (f" The worker process was replaced {restarts} time"
                         f"{'s' if restarts > 1 else ''} after a crash, hang or cut-off."
                         if restarts else "")]
    return "\n".join(lines)


class TextReporter(Reporter):
    """The result as plain text: what ``print(result)`` shows."""

    name = "text"
    extensions = (".txt",)

    def render(self, result) -> str:
        return format_result(result) + "\n"
