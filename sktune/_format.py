"""Plain-text rendering of results and machines for terminals and notebooks.

For a result, the answer comes first, then the evidence (every candidate's median and
interval), then what was left out and why. Reporters for HTML and Markdown
build on the same summary table.
"""

from ._units import exact_size, memory, seconds
from ._units import is_missing as _isnan


#: Rows of the step table shown by print(result); result.steps has them all.
_STEP_ROWS = 8


def _steps_lines(result, rec):
    """The step table of the recommended configuration, and its slowest step."""
    from ._breakdown import ROOT, slowest_step

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


def _data_line(data):
    # A list of documents (text pipelines) has rows but no feature count or dtype.
    n_features = data.get("n_features")
    shape = (f"{data.get('n_samples')}x{n_features}" if n_features is not None
             else f"{data.get('n_samples')} samples")
    dtype = f" {data['dtype']}" if data.get("dtype") else ""
    extra = f", nnz={data['nnz']}" if data.get("nnz") is not None else ""
    order = f", {data['order']}-order" if data.get("order") else ""
    return f"X {shape}{dtype} ({data.get('type')}{order}{extra})"


def origin_line(result):
    """Where the answer comes from, when it was not measured by this call; else None."""
    origin = result.origin or {}
    if origin.get("source") == "wisdom":
        return (f"From wisdom: measured on this machine on {origin.get('created', '?')[:19]} "
                f"with budget {origin.get('budget')!r}, nothing timed now; "
                "profile(..., refresh=True) measures again.")
    if origin.get("source") == "estimate":
        how = ("another machine's wisdom" if origin.get("from") == "hint"
               else "rules about the estimator and the machine")
        return f"Estimated from {how}: nothing was timed."
    return None


def changes_something(rec):
    """Whether the recommendation asks for a change worth showing code for."""
    return rec.verdict == "faster" or (rec.verdict == "estimated" and rec.best.n_set > 0)


def format_result(result):
    """Return the multi-line text shown by ``print(result)``."""
    rec = result.recommendation
    data = result.workload["data"]
    machine = result.machine
    gil = gil_state(machine)  # a GIL build, the usual case, goes unsaid
    lines = [
        f"sktune profile of {result.workload.get('estimator')} "
        f"(task={data.get('task')}), {_data_line(data)}",
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
                 if not _isnan(row.speedup) else "-")
        busy = f"{row.busy_cores:.1f}" if not _isnan(row.busy_cores) else "-"
        threads = f"{row.busy_threads:.0f}" if not _isnan(row.busy_threads) else "-"
        status = row.status if row.status == "ok" else f"{row.status}: {row.detail}"
        lines.append(f"  {mark} {row.config:<{width}} {seconds(row.median_s):>9} "
                     f"{speed:>20} {busy:>5} {threads:>4} {memory(row.peak_bytes):>9} "
                     f"{memory(row.extra_bytes):>9} "
                     f"{seconds(row.cold_s):>9}  {status}")
    if result.excluded:
        lines += ["", "Not run:"]
        lines += [f"  - {config}: {reason}" for config, reason in result.excluded]
    if result.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in result.notes]
    if rec.caveats:
        lines += ["", "Caveats:"] + [f"  - {c}" for c in rec.caveats]
    search = result.search
    if search:
        how = ", ".join(filter(None, [
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


def _wrap_items(items, width=64):
    """Join ``items`` with commas into lines of about ``width``, never inside one."""
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) > width:
            lines[-1] += ","
            lines.append(item)
        else:
            lines[-1] += ", " + item
    return lines


def _short_path(path):
    if not path:
        return "-"
    parts = str(path).replace("\\", "/").split("/")
    return path if len(parts) <= 2 else ".../" + "/".join(parts[-2:])


def gil_state(machine):
    """How the interpreter runs threads, for reports; None for a GIL build.

    Only a free-threaded build (3.13t, 3.14t) has something to say: whether
    the GIL was really off when the trials ran, since an extension not
    marked compatible turns it back on (PITFALLS.md section 6).
    """
    if not machine.free_threaded and machine.gil_enabled:
        return None
    if not machine.gil_enabled:
        return "free-threaded build, GIL off"
    return ("free-threaded build, but the GIL was on "
            "(an extension turned it back on, or PYTHON_GIL=1)")


def python_line(machine):
    """``3.14.0 (CPython, free-threaded build, GIL off)``; a GIL build says "GIL build"."""
    return (f"{machine.versions.get('python')} ({machine.python_implementation}, "
            f"{gil_state(machine) or 'GIL build'})")


def format_engines(versions):
    """The ``engines`` rows of ``sktune info`` from :func:`sktune.machine.engine_versions`:
    each engine's version, or the command that installs it."""
    from ._engines import ENGINES

    hints = {cls.package.display: cls.package.install_hint for cls in ENGINES.values()}
    rows = [f"{name} {version}" if version else f"{name}: not installed: {hints[name]}"
            for name, version in versions.items()]
    return "\n".join(f"{'engines' if i == 0 else '':<15}{row}" for i, row in enumerate(rows))


def format_machine(machine):
    """Return the multi-line text shown by ``sktune info``."""
    quota = "none" if machine.cgroup_quota is None else f"{machine.cgroup_quota:g}"
    affinity = "unknown" if machine.affinity_cores is None else machine.affinity_cores
    caches = ", ".join(f"{k} {exact_size(v)}" for k, v in machine.caches.items())
    versions = [f"{k} {v}" for k, v in machine.versions.items()
                if k != "python" and v is not None]
    missing = [k for k, v in machine.versions.items() if v is None]
    if missing:
        versions.append(f"not installed: {' '.join(missing)}")
    compiled = [f"{k}={v}" for k, v in machine.compiled.items()] or ["unknown"]
    env = [f"{k}={v}" for k, v in machine.omp_env.items()] or ["none set"]
    rows = [
        ("CPU", machine.cpu_model),
        ("cores", f"{machine.usable_cores} usable ({machine.logical_cores} logical, "
                  f"{machine.physical_cores} physical; affinity {affinity}; "
                  f"cgroup quota {quota})"),
        ("caches", caches or "unknown"),
        ("python", python_line(machine)),
        ("platform", machine.platform),
        ("versions", versions),
        ("start method", machine.start_method),
        ("numba layer", machine.numba_threading_layer or "- (numba not imported)"),
        ("compiled", compiled),
        ("thread env", env),
    ]
    lines = []
    for label, value in rows:
        wrapped = _wrap_items(value) if isinstance(value, list) else [str(value)]
        lines.append(f"{label:<15}{wrapped[0]}")
        lines.extend(" " * 15 + more for more in wrapped[1:])
    lines.append("thread pools" if machine.threadpools else "thread pools   none loaded")
    cells = [[p.get("user_api") or "-", p.get("internal_api") or "-",
              str(p.get("version") or "-"), p.get("threading_layer") or "-",
              f"{p.get('num_threads')} threads", _short_path(p.get("filepath"))]
             for p in machine.threadpools]
    widths = [max((len(row[i]) for row in cells), default=0) for i in range(5)]
    for row in cells:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths))
                     + "  " + row[5])
    lines.append(f"{'fingerprint':<15}{machine.fingerprint} (wisdom is kept under "
                 f"{machine.stable_fingerprint}, which leaves out the loaded thread pools)")
    return "\n".join(lines)
