"""The result of a profiling run: data in, tables and text out, JSON on disk.

:class:`ProfileResult` holds everything measured (candidates, every trial,
output comparisons, the machine, the workload's signature) and derives the
rest: summaries are computed from the trial records on demand, and the
recommendation by the pure functions of :mod:`sktune.recommendation`. Saved files
are versioned JSON: loading one executes nothing (no pickle).
"""

import json
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property

from ._json import dumps
from ._validation import validated
from .exceptions import InvalidParameterError, SktuneWarning
from .machine import Machine
from .recommendation import (
    candidate_stats,
    choose,
    estimated_recommendation,
    extrapolated_recommendation,
)
from .space import Config

#: Bumped when the JSON layout changes incompatibly.
FORMAT_VERSION = 1
#: apply(X) warns when X's size differs from the profiled data by this factor.
SIZE_WARNING_FACTOR = 4.0


@dataclass(eq=False)
class ProfileResult:
    """Everything one :func:`sktune.profile` call measured.

    Attributes
    ----------
    candidates : list of Config
        Candidate 0 is the as-written baseline.
    records : list of dict
        One per run: ``config`` (index), ``phase`` ("warmup" or "timed"),
        ``round``, ``wall_s``, ``cpu_s``, ``error``, ``cold``, ``warnings``.
    equivalence : dict of int to (bool, str)
        Each candidate's output compared with the baseline's.
    excluded : list of (Config, str)
        Candidates not run, with the reason.
    machine : Machine
    workload : dict
        Estimator description and data signature.
    notes : list of str
        What sktune decided about the space, and why.
    search : dict
        Budget, time spent, repeats and why the search stopped.
    environment : dict
        Load, frequency and cgroup throttling before and after the run.
    settings : dict
        ``min_effect`` and ``seed`` used by the recommendation.
    origin : dict
        Where the answer comes from: ``{"source": "measured"}``, or
        "wisdom" (with the entry's ``created``, ``budget`` and ``path``) for
        a result read back from the wisdom cache, or "estimate".
    estimate : dict or None
        For ``budget="estimate"`` without wisdom: ``index`` (the candidate
        chosen without timing), ``reasons`` and ``confidence``; None for a
        measured result. :attr:`recommendation` then says "estimated".
    extrapolation : dict or None
        For a big workload timed on proxies (fewer search candidates,
        trees, iterations, initialisations or rows; :mod:`sktune._proxies`):
        ``site`` (what the units are and how many there are as written),
        ``sizes`` (the proxies' units), ``probe`` (the first, smallest
        proxy's times and the full-size time estimated from it),
        ``budget_s`` (the whole profile's), ``race_s`` (when the race on
        proxies stopped, leaving time for the check) and ``confirm`` (the
        full-size runs that checked the
        prediction: ``runs``, ``predicted_speedup``, ``measured_speedup``;
        or why they were skipped). Every median and speedup of the result
        is then a *predicted* full-size one; :attr:`models` holds the cost
        model of each candidate. None when everything ran at full size.
    """

    candidates: list
    records: list
    equivalence: dict
    machine: Machine
    workload: dict
    excluded: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    search: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    origin: dict = field(default_factory=lambda: {"source": "measured"})
    estimate: dict = None
    extrapolation: dict = None

    # -- derived ------------------------------------------------------------
    @cached_property
    def stats(self):
        """Per-candidate summaries (:class:`~sktune.recommendation.CandidateStats`)."""
        return candidate_stats(self.candidates, self.records, self.equivalence,
                               self.extrapolation)

    @cached_property
    def models(self):
        """Cost models of an extrapolated result: ``{index: Model}``, else ``{}``.

        Each :class:`~sktune._costmodel.Model` is the line ``fixed_s +
        per_unit_s * units`` through a candidate's median time at each
        proxy size, with its ``residual`` (how far the medians stray from
        the line) and ``poor`` (a fit not to be trusted far out).
        """
        if self.extrapolation is None:
            return {}
        from ._costmodel import fit_model

        return {i: model for i in range(len(self.candidates))
                if (model := fit_model(self.records, i)) is not None}

    @cached_property
    def recommendation(self):
        """The :class:`~sktune.recommendation.Recommendation` of this result."""
        if self.estimate is not None:
            return estimated_recommendation(self.candidates, self.estimate)
        layers = self.workload.get("layers", {})
        min_effect = self.settings.get("min_effect", 0.05)
        rec = choose(self.stats, usable_cores=self.machine.usable_cores,
                     min_effect=min_effect, blas=layers.get("blas", True),
                     openmp=layers.get("openmp", True), seed=self.settings.get("seed", 0),
                     run_noise=self.run_noise)
        if self.extrapolation is not None:
            rec = extrapolated_recommendation(rec, self.stats, self.models,
                                              self.extrapolation, min_effect,
                                              run_noise=self.run_noise)
        return rec

    @property
    def run_noise(self):
        """The between-run noise (a log standard deviation) the intervals use:
        this machine's, measured by :func:`sktune.calibration.calibrate`, or
        :data:`sktune._stats.RUN_NOISE` where it was never calibrated."""
        from ._stats import RUN_NOISE

        return self.settings.get("run_noise", RUN_NOISE)

    @property
    def best(self):
        """The recommended :class:`~sktune.Config`."""
        return self.recommendation.best

    @property
    def baseline(self):
        """The as-written configuration every speedup is quoted against."""
        return self.candidates[0]

    @property
    def speedup(self):
        """Speedup of :attr:`best` over the baseline, with its interval."""
        return self.recommendation.speedup

    @property
    def trials(self):
        """One row per run, as a pandas DataFrame.

        Columns: the configuration (as text and one column per field),
        ``phase`` ("warmup", "timed", or "extra" for untimed runs under
        costly profilers), ``repeat`` (index of the timed repeat of that
        configuration), ``round``, ``wall_s``, ``cpu_s``, ``error``, ``cold``,
        ``warnings``, and the scalar fields of the other profilers
        (``mem_peak_bytes``, ``busy_threads``, ``failed_step``, ...).
        """
        import pandas as pd

        rows, n_timed = [], {}
        for r in self.records:
            config = self.candidates[r["config"]]
            repeat = None
            if r["phase"] == "timed" and not r.get("error"):
                repeat = n_timed[r["config"]] = n_timed.get(r["config"], -1) + 1
            # Nested profiler output (steps, hot spots, pools) has its own tables.
            flat = {k: v for k, v in r.items()
                    if k != "config" and (k == "warnings" or not isinstance(v, (list, dict)))}
            rows.append({"config": str(config), **config.to_dict(), **flat,
                         "repeat": repeat, "config_index": r["config"]})
        return pd.DataFrame(rows)

    def summary(self):
        """One row per candidate: median, spread, speedup interval, status.

        Returns
        -------
        summary : pandas.DataFrame
            Sorted by median time; the recommended row has ``best=True``.
            Columns: ``config`` and its fields, ``status``, ``n_repeats``,
            ``median_s``, ``spread``, ``cold_s`` (the first, cold call),
            ``busy_cores`` (CPU over wall time), ``busy_threads``,
            ``peak_bytes`` and ``extra_bytes`` (memory of the process tree
            at its peak, and added during the call), ``speedup``,
            ``speedup_low``, ``speedup_high``, ``best``, ``detail``. The
            profiler-derived columns are NaN when their profiler did not run,
            and ``busy_threads`` also when most of the work ran in threads or
            processes that ended within the call (joblib's threading and
            multiprocessing backends), whose number cannot be known.
        """
        import pandas as pd

        from ._stats import same_speed_interval, spread
        from .recommendation import speedup_of

        base = self.stats[0]
        rows = []
        for s in self.stats:
            row = {"config": str(s.config), **s.config.to_dict(), "status": s.status,
                   "n_repeats": len(s.wall), "median_s": s.median,
                   "spread": spread(s.wall) if s.wall else None,
                   "cold_s": s.cold_s, "busy_cores": s.busy_cores,
                   "busy_threads": s.busy_threads, "peak_bytes": s.peak_bytes,
                   "extra_bytes": s.extra_bytes,
                   "speedup": None, "speedup_low": None, "speedup_high": None,
                   "best": s.config == self.best, "detail": s.detail}
            if s.wall and base.wall:
                seed = self.settings.get("seed", 0)
                ci = (same_speed_interval(base.wall, run_noise=self.run_noise, seed=seed)
                      if s is base else
                      speedup_of(base, s, run_noise=self.run_noise, seed=seed))
                row.update(speedup=ci.value, speedup_low=ci.low, speedup_high=ci.high)
            rows.append(row)
        for config, reason in self.excluded:
            rows.append({"config": str(config), **config.to_dict(), "status": "excluded",
                         "n_repeats": 0, "best": False, "detail": reason})
        frame = pd.DataFrame(rows)
        return frame.sort_values("median_s", na_position="last", kind="stable",
                                 ignore_index=True)

    @property
    def steps(self):
        """Where the time goes, step by step, as a pandas DataFrame.

        One row per configuration, step path (its ``set_params`` prefix, ``columntransformer__num``;
        ``(root)`` for the whole estimator) and method, with medians over
        the timed repeats: ``calls``, ``seconds`` (inclusive),
        ``mean_seconds``, ``self_seconds`` and ``share`` (self time over the
        trial's wall time). Empty without the "steps" profiler.
        """
        from ._breakdown import steps_frame

        return steps_frame(self)

    @property
    def hotspots(self):
        """Top functions of the extra "hotspots" runs, as a pandas DataFrame.

        Empty unless ``profile(..., profilers=[..., "hotspots"])`` was used.
        """
        from .profilers.hotspots import hotspots_frame

        return hotspots_frame(self.records, self.candidates)

    @property
    def hotspot_libraries(self):
        """Own time per library in the extra "hotspots" runs, as a DataFrame."""
        from .profilers.hotspots import library_frame

        return library_frame(self.records, self.candidates)

    # -- using the answer -----------------------------------------------------
    def apply(self, X=None):
        """Context manager running code under :attr:`best`.

        Parameters
        ----------
        X : array-like, default=None
            The data about to be used. A warning is raised if its size
            differs from the profiled data by more than a factor of 4: the
            recommendation may not hold (checklist item 28).
        """
        if X is not None:
            from .workload import data_signature

            now, then = data_signature(X), self.workload["data"]
            for key in ("n_samples", "n_features"):
                a, b = now.get(key), then.get(key)
                if a and b and max(a, b) / min(a, b) > SIZE_WARNING_FACTOR:
                    warnings.warn(
                        f"X has {a} {key[2:]} but the recommendation was measured on "
                        f"{b}; it may not hold. Profile again on data of this size.",
                        SktuneWarning, stacklevel=2)
                    break
        return self.best.apply()

    # -- text -----------------------------------------------------------------
    def __repr__(self):
        return (f"<ProfileResult {self.workload.get('estimator', '?')} "
                f"task={self.workload['data'].get('task')!r}: best={self.best!r}, "
                f"speedup={self.speedup}>")

    def __str__(self):
        from .reporters.text import format_result

        return format_result(self)

    def plot(self, kind="scaling", ax=None):
        """Draw one view of this result with matplotlib (headless-safe).

        Parameters
        ----------
        kind : str, default="scaling"
            One of ``sktune.plots.KINDS``.
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new Figure (no pyplot state touched).

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        from .plots import plot

        return plot(self, kind=kind, ax=ax)

    def report(self, path, format=None):
        """Write a report of this result; the format follows the extension.

        Parameters
        ----------
        path : str or path-like
            ``.html`` (self-contained page with plots), ``.md`` or ``.json``,
            or any extension registered in ``sktune.reporters``.
        format : str, default=None
            A reporter name, overriding the extension.

        Returns
        -------
        path : pathlib.Path
        """
        from .reporters import write_report

        return write_report(self, path, format=format)

    # -- JSON -----------------------------------------------------------------
    def to_dict(self):
        """A JSON-serialisable dict (see :meth:`save`)."""
        return {
            "format_version": FORMAT_VERSION,
            "unit": "seconds",
            "candidates": [c.to_dict() for c in self.candidates],
            "records": self.records,
            "equivalence": {str(k): list(v) for k, v in self.equivalence.items()},
            "excluded": [[c.to_dict(), reason] for c, reason in self.excluded],
            "machine": self.machine.to_dict(),
            "workload": self.workload,
            "notes": list(self.notes),
            "search": self.search,
            "environment": self.environment,
            "settings": self.settings,
            "origin": self.origin,
            "estimate": self.estimate,
            "extrapolation": self.extrapolation,
            "recommendation": {
                "best": self.best.to_dict(),
                "speedup": self.speedup.to_dict(),
                "verdict": self.recommendation.verdict,
                "explanation": self.recommendation.explanation,
            },
        }

    @classmethod
    def from_dict(cls, data):
        """Rebuild a result from :meth:`to_dict` output."""
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise InvalidParameterError(
                f"Unsupported sktune result format_version {version!r}; this sktune "
                f"reads version {FORMAT_VERSION}. Re-run sktune.profile to create it.")
        return cls(
            candidates=[Config.from_dict(c) for c in data["candidates"]],
            records=data["records"],
            equivalence={int(k): tuple(v) for k, v in data["equivalence"].items()},
            excluded=[(Config.from_dict(c), reason) for c, reason in data["excluded"]],
            machine=Machine.from_dict(data["machine"]),
            workload=data["workload"], notes=data["notes"], search=data["search"],
            environment=data["environment"], settings=data["settings"],
            # Results saved before wisdom existed were all measured.
            origin=data.get("origin") or {"source": "measured"},
            estimate=data.get("estimate"),
            # Results saved before proxies existed ran at full size.
            extrapolation=data.get("extrapolation"))

    def save(self, path):
        """Write this result as JSON to ``path``; :func:`sktune.load` reads it."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(dumps(self.to_dict(), indent=1))
        return path

    def __eq__(self, other):
        if not isinstance(other, ProfileResult):
            return NotImplemented
        return dumps(self.to_dict(), sort_keys=True) == dumps(other.to_dict(), sort_keys=True)


@validated({"path": [str, os.PathLike]})
def load(path: "str | os.PathLike") -> ProfileResult:
    """Read a :class:`ProfileResult` saved with :meth:`ProfileResult.save`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    result : ProfileResult
    """
    with open(path, encoding="utf-8") as f:  # OSError propagates as is
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(
                f"{str(path)!r} is not a sktune result: invalid JSON ({exc}).") from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise InvalidParameterError(
            f"{str(path)!r} is not a sktune result: no 'format_version' key.")
    try:
        return ProfileResult.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise InvalidParameterError(
            f"{str(path)!r} is not a valid sktune result: {exc!r}.") from None
