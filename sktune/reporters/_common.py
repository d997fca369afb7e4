"""Formatted cells shared by the HTML and Markdown reporters.

The numbers are formatted by :mod:`sktune._units`, as in ``print(result)``
(:mod:`sktune.reporters.text`), so every report agrees with the terminal.
Values are plain, unescaped strings: each reporter escapes them for its
own format.
"""

from .._breakdown import ROOT
from .._units import is_missing, memory, seconds
from ..machine import gil_state, python_line

#: Columns of the candidates table: (header, key, numeric).
CANDIDATE_COLUMNS = (
    ("configuration", "config", False), ("median", "median", True),
    ("speedup", "speedup", True), ("95% interval", "interval", True),
    ("busy cores", "busy", True), ("threads", "threads", True),
    ("peak memory", "peak", True), ("added memory", "added", True),
    ("first call", "first", True), ("status", "status", False))

#: Columns of the steps table: (header, key, numeric).
STEP_COLUMNS = (("step", "step", False), ("class", "estimator", False),
                ("method", "method", False), ("calls", "calls", True),
                ("self time", "self", True), ("share", "share", True),
                ("inclusive", "seconds", True))


def _number(value, fmt):
    return "-" if is_missing(value) else format(value, fmt)


def candidate_rows(result):
    """One dict of formatted cells per candidate, fastest first, ``best`` flagged."""
    rows = []
    for row in result.summary().to_dict("records"):
        has_speedup = not is_missing(row.get("speedup"))
        status = row["status"] if row["status"] == "ok" or not row.get("detail") \
            else f"{row['status']}: {row['detail']}"
        rows.append({
            "best": bool(row["best"]), "config": row["config"],
            "median": seconds(row.get("median_s")),
            "speedup": f"{row['speedup']:.2f}x" if has_speedup else "-",
            "interval": (f"[{row['speedup_low']:.2f}, {row['speedup_high']:.2f}]"
                         if has_speedup else "-"),
            "busy": _number(row.get("busy_cores"), ".1f"),
            "threads": _number(row.get("busy_threads"), ".0f"),
            "peak": memory(row.get("peak_bytes")),
            "added": memory(row.get("extra_bytes")),
            "first": seconds(row.get("cold_s")), "status": status})
    return rows


def step_rows(result):
    """Rows of the steps table for the recommended configuration, and its title.

    Returns ``(title, rows)``; ``rows`` is empty when no step was profiled.
    """
    frame = result.steps
    if frame.empty:
        return "", []
    index = result.candidates.index(result.best)
    mine = frame[frame["config_index"] == index]
    if mine.empty:
        index, mine = 0, frame[frame["config_index"] == 0]
    if (mine["step"] == ROOT).all():
        return "", []  # a single estimator: nothing to break down, as in print(result)
    which = "as written" if index == 0 else result.candidates[index].describe()
    rows = [{"step": r.step, "estimator": r.estimator or "-", "method": r.method,
             "calls": f"{r.calls:.0f}", "self": seconds(r.self_seconds),
             "share": f"{r.share:.0%}", "seconds": seconds(r.seconds)}
            for r in mine.itertuples()]
    n_repeats = int(mine["n_repeats"].max())
    return (f"Self time of each step under {which} (median of {n_repeats} repeats)",
            rows)


def slowest_step_line(result):
    """A sentence on the recommended configuration's slowest step, or ''."""
    from .._breakdown import slowest_step

    index = result.candidates.index(result.best)
    slow = slowest_step(result, index)
    if slow is None:
        return ""
    line = (f"Slowest step: {slow['step']} ({slow['estimator']}, "
            f"{slow['share']:.0%} of the time)")
    return line + (f": {slow['advice']}" if slow["advice"] else ".")


def workload_rows(result):
    """(label, value) pairs describing the workload and the search."""
    workload, search = result.workload, result.search
    data = workload.get("data", {})
    rows = [("estimator", str(workload.get("estimator", "?"))),
            ("task", str(data.get("task", "?"))),
            ("data", data_line(data))]
    layers = workload.get("layers") or {}
    if layers:
        uses = [name for name in ("blas", "openmp") if layers.get(name)]
        if layers.get("n_jobs_params"):
            uses.append("n_jobs (" + ", ".join(map(str, layers["n_jobs_params"])) + ")")
        rows.append(("parallel layers", ", ".join(uses) or "none found"))
    if search:
        rows.append(("search", f"budget {search.get('budget')}, "
                               f"{search.get('elapsed_s', 0):.1f} s spent on "
                               f"{search.get('n_runs', 0)} runs in "
                               f"{search.get('rounds', 0)} rounds; stopped because "
                               f"{search.get('stop_reason')}"))
    return rows


def machine_rows(result):
    """(label, value) pairs of the machine facts that decide the answer."""
    machine = result.machine
    quota = "none" if machine.cgroup_quota is None else f"{machine.cgroup_quota:g} cores"
    versions = ", ".join(f"{k} {v}" for k, v in machine.versions.items() if v is not None)
    pools = "; ".join(f"{p.get('internal_api') or p.get('user_api')} "
                      f"{p.get('num_threads')} threads" for p in machine.threadpools)
    # The versions show Python; its own row only for a free-threaded build.
    python = [("python", python_line(machine))] if gil_state(machine) else []
    return [("CPU", machine.cpu_model),
            ("cores", f"{machine.usable_cores} usable ({machine.logical_cores} logical, "
                      f"{machine.physical_cores} physical; cgroup quota {quota})"),
            *python,
            ("thread pools", pools or "none loaded"),
            ("versions", versions),
            ("platform", machine.platform),
            ("fingerprint", machine.fingerprint)]


def use_it(result):
    """The lines of Python that apply the recommendation."""
    return ("with result.best.apply():\n"
            "    result.best.configure(estimator).fit(X, y)")


def data_line(data):
    """``X 4000x20 float64 (ndarray, C-order)``: the data as the result saw it."""
    # A list of documents (text pipelines) has rows but no feature count or dtype.
    n_features = data.get("n_features")
    shape = (f"{data.get('n_samples')}x{n_features}" if n_features is not None
             else f"{data.get('n_samples')} samples")
    dtype = f" {data['dtype']}" if data.get("dtype") else ""
    extra = f", nnz={data['nnz']}" if data.get("nnz") is not None else ""
    order = f", {data['order']}-order" if data.get("order") else ""
    return f"X {shape}{dtype} ({data.get('type')}{order}{extra})"


def origin_line(result):
    """Where the answer comes from, when it was not measured at full size by this call;
    else None."""
    origin = result.origin or {}
    extrapolation = result.extrapolation
    if extrapolation is not None and origin.get("source") != "wisdom":
        site = extrapolation["site"]
        return (f"Extrapolated: every candidate was timed on proxies of "
                f"{', '.join(map(str, extrapolation['sizes']))} {site['what']} instead of "
                f"{site['full']}; times and speedups are predicted full-size ones "
                "(see Extrapolation).")
    if origin.get("source") == "wisdom" and origin.get("predicted_for") is not None:
        site = extrapolation["site"]
        return (f"From wisdom, predicted: the cost models of a profile of "
                f"{origin['measured_full']} {site['what']} (measured on this machine on "
                f"{origin.get('created', '?')[:19]}, proxies of "
                f"{', '.join(map(str, extrapolation['sizes']))}) give the times at "
                f"{site['full']}; nothing timed now; profile(..., refresh=True) measures "
                "this size.")
    if origin.get("source") == "wisdom":
        return (f"From wisdom: measured on this machine on {origin.get('created', '?')[:19]} "
                f"with budget {origin.get('budget')!r}, nothing timed now; "
                "profile(..., refresh=True) measures again.")
    if origin.get("source") == "estimate":
        how = ("another machine's wisdom" if origin.get("from") == "hint"
               else "rules about the estimator and the machine")
        return f"Estimated from {how}: nothing was timed."
    return None


def extrapolation_lines(result):
    """What an extrapolated result was measured on and how well the model fits;
    ``[]`` for a result timed at full size."""
    extrapolation = result.extrapolation
    if extrapolation is None:
        return []
    site, probe = extrapolation["site"], extrapolation["probe"]
    where = f" of {site['path']}" if site.get("path") else ""
    lines = [f"Units: {site['full']} {site['what']}{where} as written; proxies of "
             f"{', '.join(map(str, extrapolation['sizes']))}"
             + (", fitted on the first rows of X: the cost per row may differ at full size"
                if site["kind"] == "rows" else "") + ".",
             f"Probe: {probe['units']} {site['what']} took {seconds(probe['cold_s'])} cold, "
             f"{seconds(probe['warm_s'])} warm"
             + (f", {2 * probe['units']} took {seconds(probe['double_s'])}"
                if probe.get("double_s") is not None else "")
             + f"; the as-written run was estimated from them at "
             f"{seconds(probe['estimated_full_s'])}, which decided the proxies"
             + (f" (with {seconds(probe['overhead_s'])} a trial beyond its timed call)"
                if probe.get("overhead_s") else "") + "."]
    race, budget = extrapolation.get("race_s"), extrapolation.get("budget_s")
    if race is not None and budget is not None and race < budget:
        lines.append(f"Budget: the proxies had {race:.0f} s of {budget:.0f} s; the rest "
                     "was kept for the check at full size.")
    if extrapolation.get("budget_raised"):
        named, raised = extrapolation["budget_raised"]
        lines.append(f"Budget: the smallest proxies needed {raised:.0f} s, more than the "
                     f"budget's {named:g} s but far less than timing at full size; pass "
                     "a budget in seconds to hold sktune to it.")
    for index, model in sorted(result.models.items()):
        predicted = model.predict(site["full"])
        lines.append(f"{result.candidates[index].describe()}: {seconds(model.fixed_s)} + "
                     f"{seconds(model.per_unit_s)} per unit, {seconds(predicted)} at "
                     f"{site['full']} (medians off the line by {model.residual:.0%}"
                     + (", a poor fit" if model.poor else "") + ").")
    confirm = extrapolation.get("confirm") or {}
    if confirm.get("skipped"):
        lines.append(f"Not confirmed at full size: {confirm['skipped']}.")
    elif confirm.get("runs"):
        runs = ", ".join(f"{result.candidates[int(i)].describe()} "
                         + " ".join(seconds(t) for t in times)
                         for i, times in confirm["runs"].items())
        measured = confirm.get("measured_speedup")
        lines.append(f"Confirmed at full size ({runs})"
                     + (f": {measured:.2f}x measured, {confirm['predicted_speedup']:.2f}x "
                        "predicted." if measured is not None else "."))
    return lines


def changes_something(rec):
    """Whether the recommendation asks for a change worth showing code for."""
    return rec.verdict == "faster" or (rec.verdict == "estimated" and rec.best.n_set > 0)
