"""Plain-text rendering of a ProfileResult for terminals and notebooks.

The answer comes first, then the evidence (every candidate's median and
interval), then what was left out and why. Reporters for HTML and Markdown
build on the same summary table.
"""

import math


def _seconds(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def _data_line(data):
    shape = f"{data.get('n_samples')}x{data.get('n_features')}"
    extra = f", nnz={data['nnz']}" if data.get("nnz") is not None else ""
    order = f", {data['order']}-order" if data.get("order") else ""
    return f"X {shape} {data.get('dtype')} ({data.get('type')}{order}{extra})"


def format_result(result):
    """Return the multi-line text shown by ``print(result)``."""
    rec = result.recommendation
    data = result.workload["data"]
    machine = result.machine
    lines = [
        f"sktune profile of {result.workload.get('estimator')} "
        f"(task={data.get('task')}), {_data_line(data)}",
        f"machine: {machine.cpu_model}, {machine.usable_cores} usable cores "
        f"(fingerprint {machine.fingerprint})",
        "",
        f"Recommendation: {rec.best.describe()}"
        + (f"  ({rec.speedup} speedup)" if rec.verdict == "faster" else ""),
        f"  {rec.explanation}",
    ]
    if rec.verdict == "faster":
        lines.append("  Use it:  with result.best.apply(): "
                     "result.best.configure(estimator).fit(X, y)")
    summary = result.summary()
    lines += ["", "Candidates (median of interleaved, warmed-up repeats):",
              f"    {'configuration':<52} {'median':>9} {'speedup [95% CI]':>20} "
              f"{'busy':>5}  status"]
    for row in summary.itertuples():
        if row.status == "excluded":
            continue
        mark = "*" if row.best else " "
        speed = (f"{row.speedup:.2f}x [{row.speedup_low:.2f}, {row.speedup_high:.2f}]"
                 if row.speedup is not None and not _isnan(row.speedup) else "-")
        busy = f"{row.busy_cores:.1f}" if not _isnan(row.busy_cores) else "-"
        status = row.status if row.status == "ok" else f"{row.status}: {row.detail}"
        lines.append(f"  {mark} {row.config:<52} {_seconds(row.median_s):>9} "
                     f"{speed:>20} {busy:>5}  {status}")
    if result.excluded:
        lines += ["", "Not run:"]
        lines += [f"  - {config}: {reason}" for config, reason in result.excluded]
    if result.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in result.notes]
    if rec.caveats:
        lines += ["", "Caveats:"] + [f"  - {c}" for c in rec.caveats]
    search = result.search
    if search:
        lines += ["", f"Search: budget {search.get('budget')}, "
                      f"{search.get('elapsed_s', 0):.1f} s spent on "
                      f"{search.get('n_runs', 0)} runs in {search.get('rounds', 0)} rounds; "
                      f"stopped because {search.get('stop_reason')}."]
    return "\n".join(lines)


def _isnan(value):
    return value is None or (isinstance(value, float) and math.isnan(value))
