"""Figures of a profiling result, drawn with matplotlib without touching pyplot.

Each view answers one question a person asks of a :class:`~sktune.ProfileResult`:
how does the time scale with ``n_jobs`` ("scaling"), which BLAS and OpenMP
thread counts work best ("threads"), where the time goes step by step
("steps"), and how sure is each speedup ("intervals"). Figures are built as
:class:`matplotlib.figure.Figure` objects on the Agg canvas, so plotting is
headless-safe and leaves pyplot's global state alone; matplotlib is imported
only when a figure is drawn.
"""

import math

from ._units import seconds
from ._validation import one_of, validated
from .exceptions import InvalidParameterError

__all__ = ["KINDS", "available_kinds", "plot"]

#: The views :func:`plot` draws, in the order a report shows them.
KINDS = ("scaling", "threads", "steps", "intervals")

#: Size of a new figure, in inches: fits a report column at 100 dpi.
FIGSIZE = (7.0, 4.2)
#: Colour of the recommended configuration and of the baseline.
BEST_COLOR = "#1a7f37"
BASE_COLOR = "#57606a"
#: Steps shown by the "steps" view; the rest are summed into "other steps".
MAX_STEPS = 10

_THREAD_FIELDS = ("blas_threads", "openmp_threads")
_OTHER_FIELDS = ("inner_max_num_threads", "compiled_steps")


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ok_rows(result):
    """Summary rows of the candidates measured without error, as dicts."""
    summary = result.summary()
    return [row for row in summary.to_dict("records")
            if row["status"] == "ok" and not _missing(row.get("median_s"))]


def _scaling_rows(result):
    # Only n_jobs and the backend vary: native thread caps would confound it.
    return [row for row in _ok_rows(result)
            if not _missing(row.get("n_jobs"))
            and all(_missing(row.get(k)) for k in _THREAD_FIELDS + _OTHER_FIELDS)]


def _thread_rows(result):
    """Candidates that differ only by thread caps, at the best's n_jobs/backend."""
    best = result.best
    rows = [row for row in _ok_rows(result)
            if all(_missing(row.get(k)) for k in _OTHER_FIELDS)]
    for n_jobs, backend in ((best.n_jobs, best.backend), (None, None)):
        group = [row for row in rows
                 if _same(row.get("n_jobs"), n_jobs) and _same(row.get("backend"), backend)]
        if any(not _missing(row.get(k)) for row in group for k in _THREAD_FIELDS):
            return group, n_jobs, backend
    return [], None, None


def _same(value, other):
    return (_missing(value) and other is None) or value == other


def _step_frame(result):
    """Step rows of the baseline and the recommendation; empty without sub-steps."""
    from ._breakdown import ROOT

    frame = result.steps
    frame = frame[frame["config_index"].isin(_step_configs(result))]
    # A single estimator has nothing to break down (as print(result) decides).
    return frame.iloc[:0] if (frame["step"] == ROOT).all() else frame


def _step_configs(result):
    best = result.candidates.index(result.best)
    return [0] if best == 0 else [0, best]


def _interval_rows(result):
    return [row for row in _ok_rows(result) if not _missing(row.get("speedup"))]


def available_kinds(result) -> tuple:
    """The kinds of plot this result has data for.

    Parameters
    ----------
    result : ProfileResult

    Returns
    -------
    kinds : tuple of str
        A subset of :data:`KINDS`, in the same order.
    """
    have = {
        "scaling": bool(_scaling_rows(result)),
        "threads": bool(_thread_rows(result)[0]),
        "steps": not _step_frame(result).empty,
        "intervals": len(_interval_rows(result)) > 1,
    }
    return tuple(kind for kind in KINDS if have[kind])


_MISSING_DATA = {
    "scaling": ("no candidate that only sets n_jobs was measured successfully; profile "
                "with a space that varies n_jobs, e.g. ConfigSpace(n_jobs=[1, 2])"),
    "threads": ("no candidate that sets blas_threads or openmp_threads was measured "
                "successfully; profile with a space that varies them, e.g. "
                "ConfigSpace(blas_threads=[1, 2])"),
    "steps": ("no per-step times were recorded, or the estimator has no steps to "
              "break down (not a Pipeline, ColumnTransformer, search or ensemble of "
              "them); for a pipeline, profile with the 'steps' profiler, e.g. "
              "profilers=['wall', 'steps']"),
    "intervals": ("no candidate other than the baseline has a speedup interval; "
                  "profile a space with more than one configuration"),
}


@validated({"kind": [one_of(KINDS)]})
def plot(result, kind: str = "scaling", ax=None):
    """Draw one view of a profiling result.

    Parameters
    ----------
    result : ProfileResult
    kind : {"scaling", "threads", "steps", "intervals"}, default="scaling"
        "scaling": speedup over the as-written pipeline against ``n_jobs``,
        one line per backend, with the ideal (speedup = n_jobs).
        "threads": heatmap of the median time over BLAS x OpenMP thread
        counts, annotated with the speedup. "steps": self time of each step
        of the pipeline, as written and recommended. "intervals": every
        candidate's speedup with its confidence interval, the recommended
        one highlighted.
    ax : matplotlib.axes.Axes, default=None
        Where to draw. None makes a new Figure (pyplot is not used).

    Returns
    -------
    figure : matplotlib.figure.Figure
        The figure of ``ax``, or the new one.

    Raises
    ------
    InvalidParameterError
        If ``kind`` is unknown, or the result has no data for it (see
        :func:`available_kinds`); the message says how to get the data.
    """
    if kind not in available_kinds(result):
        raise InvalidParameterError(
            f"Cannot draw the {kind!r} plot: {_MISSING_DATA[kind]}.")
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=FIGSIZE, layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
    _DRAW[kind](result, ax)
    return ax.figure


def _title(ax, title, result):
    ax.set_title(f"{title}\n{result.workload.get('estimator', '?')} on "
                 f"{result.machine.usable_cores} usable cores", fontsize=11)


def _draw_scaling(result, ax):
    rows = _scaling_rows(result)
    by_backend = {}
    for row in rows:
        backend = row["backend"] if not _missing(row.get("backend")) else "estimator's default"
        by_backend.setdefault(backend, []).append(row)
    n_max = max(int(row["n_jobs"]) for row in rows)
    ideal = list(range(1, max(n_max, 1) + 1))
    ax.plot(ideal, ideal, linestyle="--", color="#8c959f", label="ideal (speedup = n_jobs)")
    ax.axhline(1.0, color=BASE_COLOR, linewidth=1, label="as written (1.0x)")
    for backend, mine in sorted(by_backend.items()):
        mine = sorted(mine, key=lambda r: r["n_jobs"])
        x = [int(r["n_jobs"]) for r in mine]
        y = [r["speedup"] for r in mine]
        low = [r["speedup"] - r["speedup_low"] for r in mine]
        high = [r["speedup_high"] - r["speedup"] for r in mine]
        ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, label=backend)
        for r, xi, yi in zip(mine, x, y):
            if r["best"]:
                ax.plot([xi], [yi], marker="*", markersize=16, color=BEST_COLOR,
                        linestyle="none", label="recommended", zorder=5)
    ax.set_xlabel("n_jobs (workers)")
    ax.set_ylabel("speedup over as written (x)")
    ax.set_xticks(ideal)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(title="backend", fontsize=8)
    _title(ax, "Scaling with n_jobs", result)


def _label(value):
    """Tick label of a thread count; -1 stands for "as written" (not set)."""
    return "as written" if value < 0 else str(int(value))


def _draw_threads(result, ax):
    import numpy as np

    rows, n_jobs, backend = _thread_rows(result)

    def key(value):
        return -1 if _missing(value) else value

    blas = sorted({(-1 if _missing(r["blas_threads"]) else r["blas_threads"]) for r in rows})
    omp = sorted({(-1 if _missing(r["openmp_threads"]) else r["openmp_threads"])
                  for r in rows})
    grid = np.full((len(blas), len(omp)), np.nan)
    cells = {}
    for r in rows:
        i, j = blas.index(key(r["blas_threads"])), omp.index(key(r["openmp_threads"]))
        grid[i, j] = r["median_s"]
        cells[i, j] = r
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis_r", aspect="auto",
                      origin="lower")
    ax.figure.colorbar(image, ax=ax, label="median time (seconds)")
    low, high = np.nanmin(grid), np.nanmax(grid)
    for (i, j), r in cells.items():
        text = seconds(r["median_s"])
        if not _missing(r.get("speedup")):
            text += f"\n{r['speedup']:.2f}x"
        # viridis_r is light at the fast end: dark text there, white elsewhere.
        light = high > low and (high - r["median_s"]) / (high - low) > 0.6
        ax.text(j, i, text, ha="center", va="center", fontsize=9,
                color="black" if light else "white",
                fontweight="bold" if r["best"] else "normal")
        if r["best"]:
            ax.add_patch(_rectangle((j - 0.5, i - 0.5), 1, 1, edgecolor=BEST_COLOR,
                                    linewidth=3, fill=False))
    ax.set_xticks(range(len(omp)), [_label(v) for v in omp])
    ax.set_yticks(range(len(blas)), [_label(v) for v in blas])
    ax.set_xlabel("OpenMP threads")
    ax.set_ylabel("BLAS threads")
    where = "as written" if n_jobs is None and backend is None else \
        f"n_jobs={n_jobs}" + (f" on {backend}" if backend else "")
    _title(ax, f"Native thread counts ({where}; lower is faster)", result)


def _rectangle(*args, **kwargs):
    from matplotlib.patches import Rectangle

    return Rectangle(*args, **kwargs)


def _draw_steps(result, ax):
    import numpy as np

    from ._breakdown import ROOT

    frame = _step_frame(result)
    configs = _step_configs(result)
    names = {0: "as written", configs[-1]: result.best.describe()}
    frame = frame.assign(label=[f"{s} ({m})" for s, m in zip(frame["step"], frame["method"])])
    # Steps of the pipeline, slowest first (the root's self time is its overhead).
    totals = frame.groupby("label", sort=False)["self_seconds"].max()
    order = list(totals.sort_values(ascending=False).index)
    shown = order[:MAX_STEPS]
    y = np.arange(len(shown))
    height = 0.8 / len(configs)
    for k, index in enumerate(configs):
        mine = frame[frame["config_index"] == index].set_index("label")["self_seconds"]
        values = [float(mine.get(label, 0.0)) for label in shown]
        color = BASE_COLOR if index == 0 else BEST_COLOR
        ax.barh(y + k * height, values, height=height, color=color,
                label=names[index] if len(configs) > 1 else "as written (recommended)")
    ax.set_yticks(y + height * (len(configs) - 1) / 2,
                  [label.replace(f"{ROOT} ", "whole estimator ") for label in shown])
    ax.invert_yaxis()
    ax.set_xlabel("self time per call of the workload (seconds, median)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    if len(order) > MAX_STEPS:
        ax.text(1, -0.12, f"{len(order) - MAX_STEPS} smaller steps not shown",
                transform=ax.transAxes, ha="right", fontsize=8)
    _title(ax, "Where the time goes (self time of each step)", result)


def _draw_intervals(result, ax):
    rows = sorted(_interval_rows(result), key=lambda r: r["speedup"])
    y = list(range(len(rows)))
    for yi, r in zip(y, rows):
        color = BEST_COLOR if r["best"] else (BASE_COLOR if r["config"] == "as written"
                                              else "#0969da")
        ax.errorbar([r["speedup"]], [yi],
                    xerr=[[r["speedup"] - r["speedup_low"]], [r["speedup_high"] - r["speedup"]]],
                    marker="*" if r["best"] else "o", markersize=12 if r["best"] else 6,
                    color=color, capsize=3, linestyle="none")
    ax.axvline(1.0, color=BASE_COLOR, linestyle="--", linewidth=1,
               label="as written (1.0x)")
    ax.set_yticks(y, [r["config"] + ("  (recommended)" if r["best"] else "")
                      for r in rows], fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), rows):
        if r["best"]:
            tick.set_color(BEST_COLOR)
            tick.set_fontweight("bold")
    confidence = result.speedup.confidence
    ax.set_xlabel(f"speedup over as written (x, with {confidence:.0%} interval)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _title(ax, "Speedup of every candidate", result)


_DRAW = {"scaling": _draw_scaling, "threads": _draw_threads, "steps": _draw_steps,
         "intervals": _draw_intervals}
