"""Where the time goes: per-step tables and the slowest step, with advice.

The steps profiler leaves, on every timed record, the time of each step's
methods. This module turns those records into a tidy table (one row per
configuration, step and method, medians over the timed repeats), names the
slowest step of a configuration, and says what sktune knows to try for it.
``describe_steps`` runs at profile time, on the estimator, and stores what
the advice needs in the result, so that a loaded result still explains
itself.
"""

import dis
import functools
import types

import numpy as np

from ._estimators import iter_estimators

#: How the root of the estimator (step path "") is shown.
ROOT = "(root)"
#: Opcodes of a Python-level loop (FOR_ITER: for loops and comprehensions;
#: JUMP_BACKWARD: while loops on 3.11+; JUMP_ABSOLUTE on older versions).
_LOOP_OPCODES = {"FOR_ITER", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT",
                 "JUMP_ABSOLUTE"}

_COLUMNS = ["config", "config_index", "step", "method", "calls", "seconds",
            "mean_seconds", "self_seconds", "share", "n_repeats", "alloc_peak_bytes",
            "estimator"]


def runs_python_loop(func):
    """Whether ``func`` (or a comprehension inside it) loops in Python bytecode."""
    while isinstance(func, functools.partial):
        func = func.func
    code = getattr(func, "__code__", None)
    todo = [code] if isinstance(code, types.CodeType) else []
    while todo:
        code = todo.pop()
        if any(ins.opname in _LOOP_OPCODES for ins in dis.get_instructions(code)):
            return True
        todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return False


def _advice(step):
    name = type(step).__name__
    if name == "FunctionTransformer":
        func = getattr(step, "func", None)
        if func is not None and runs_python_loop(func):
            label = getattr(func, "__name__", repr(func))
            return (f"its function {label}() loops in Python: "
                    "sktune.profile(..., accelerate=True) measures it compiled with "
                    "Numba (or vectorise it with NumPy); a Python loop also holds "
                    "the GIL, so the threading backend cannot run it in parallel.")
    return None


def describe_steps(estimator):
    """What the report needs to know about each step: class and advice.

    Returns
    -------
    steps : dict of str to dict
        Keyed by step path (``""`` for the root): ``{"class": ..., "advice": ...}``.
    """
    return {path: {"class": type(step).__name__, "advice": _advice(step)}
            for path, step in iter_estimators(estimator)}


def steps_frame(result):
    """One row per (configuration, step, method): medians over timed repeats.

    ``seconds`` is inclusive (a pipeline's time includes its steps'),
    ``self_seconds`` excludes timed steps called from it in the same
    thread, and ``share`` is ``self_seconds`` over the trial's wall time,
    so the shares of a sequential pipeline add up to about 1 (exactly so in
    each repeat; the medians of a noisy run, each from its own repeat, add
    up only roughly). Steps run
    concurrently (``n_jobs`` in a ``ColumnTransformer``, worker processes)
    can add up to more. ``calls`` counts calls per trial, e.g. a
    ``GridSearchCV``'s inner fits at step ``estimator``, method ``fit``.
    ``alloc_peak_bytes`` is the Python allocation peak from an extra
    tracemalloc run, where one was made.
    """
    import pandas as pd

    per_key, alloc = {}, {}
    # Extrapolated: the largest proxy's steps, whose shares are the closest
    # to full size's (medians of several sizes would mix their seconds).
    largest = max(result.extrapolation["sizes"]) if result.extrapolation else None
    for record in result.records:
        if largest is not None and record["phase"] == "timed" \
                and record.get("units") != largest:
            continue
        steps = record.get("steps")
        if not steps or record.get("error"):
            continue
        if record["phase"] == "extra":
            for row in steps:
                if "alloc_peak_bytes" in row:
                    alloc[(record["config"], row["step"], row["method"])] = \
                        row["alloc_peak_bytes"]
            continue
        if record["phase"] != "timed" or not record.get("wall_s"):
            continue
        for row in steps:
            key = (record["config"], row["step"], row["method"])
            per_key.setdefault(key, []).append(
                (row["calls"], row["seconds"], row["self_seconds"],
                 row["self_seconds"] / record["wall_s"]))
    described = result.workload.get("steps", {})
    rows = []
    for (index, step, method), values in per_key.items():
        calls, seconds, self_seconds, share = np.median(np.asarray(values), axis=0)
        rows.append({
            "config": str(result.candidates[index]), "config_index": index,
            "step": step or ROOT, "method": method, "calls": calls,
            "seconds": seconds, "mean_seconds": seconds / calls if calls else np.nan,
            "self_seconds": self_seconds, "share": share, "n_repeats": len(values),
            "alloc_peak_bytes": alloc.get((index, step, method), np.nan),
            "estimator": described.get(step, {}).get("class")})
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    return frame.sort_values(["config_index", "self_seconds"],
                             ascending=[True, False], ignore_index=True)


def slowest_step(result, index, frame=None):
    """The step with the most self time under candidate ``index``, or None.

    Returns None for an estimator without sub-steps (nothing to single
    out). Otherwise a dict: ``step``, ``method``, ``share``, ``seconds``,
    ``estimator`` and ``advice`` (a sentence, or None).
    """
    frame = steps_frame(result) if frame is None else frame
    mine = frame[(frame["config_index"] == index) & (frame["step"] != ROOT)]
    if mine.empty:
        return None
    by_step = mine.groupby("step", sort=False)[["self_seconds", "share"]].sum()
    step = by_step["self_seconds"].idxmax()
    methods = mine[mine["step"] == step].sort_values("self_seconds", ascending=False)
    info = result.workload.get("steps", {}).get(step, {})
    return {"step": step, "method": methods["method"].iloc[0],
            "share": float(by_step.loc[step, "share"]),
            "seconds": float(by_step.loc[step, "self_seconds"]),
            "estimator": info.get("class"), "advice": info.get("advice")}
