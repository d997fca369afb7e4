"""Run trials in this process: one configuration, one call, measured by the profilers.

The runner applies a :class:`~sktune.Config` (through ``Config.apply`` and
``Config.configure``), runs the workload's call between the profilers'
``start`` and ``stop``, and appends a record. It warms each configuration up
before its first timed repeat, and again whenever the loky worker pool it
relies on was restarted by another configuration (checklist items 14-16);
a timed repeat during which the pool was (re)started is relabelled as a
warm-up and repeated. It never analyses: statistics live elsewhere.

A trial that raises is recorded with its error and the configuration is
not run again; ``KeyboardInterrupt`` and other ``BaseException`` propagate
after every setting has been restored. A profiler that raises is not the
configuration's fault: every started profiler is still stopped, then a
:class:`~sktune.exceptions.ProfilerError` naming it propagates.
"""

import gc
import logging
import warnings

from .._compat import loky_executor_state
from .._engines import EngineSession
from ..exceptions import ProfilerError
from .apply import apply_config
from .base import RunnerBase, timed_record

logger = logging.getLogger("sktune")

#: A timed repeat that restarted the pool is retried at most this many times.
_MAX_COLD_RETRIES = 2


#: Record fields the runner owns; a profiler may not overwrite them.
_RUNNER_FIELDS = frozenset({"config", "phase", "round", "error", "cold", "warnings",
                            "engine_start"})


def _guarded(profiler, method, *args):
    """Call a profiler hook; its own failure becomes a :class:`ProfilerError`."""
    try:
        return getattr(profiler, method)(*args)
    except Exception as exc:
        raise ProfilerError(
            f"The {profiler.name!r} profiler ({type(profiler).__name__}) raised in "
            f"{method}(): {type(exc).__name__}: {exc}") from exc


def _each(profilers, call):
    """``call(profiler)`` for every profiler, even if some raise.

    Returns the results in order, or raises the first
    :class:`ProfilerError` once every profiler had its call, so that no
    sampler thread or cProfile hook is left on behind a broken one.
    """
    results, first = [], None
    for profiler in profilers:
        try:
            results.append(call(profiler))
        except ProfilerError as exc:
            first = first or exc
    if first is not None:
        raise first
    return results


def _stop(profiler):
    """Stop one profiler; return the record fields it measured."""
    fields = _guarded(profiler, "stop")
    clash = sorted(_RUNNER_FIELDS & set(fields)) if isinstance(fields, dict) else None
    if clash is None or clash:
        got = type(fields).__name__ if clash is None else f"the runner's own fields {clash}"
        raise ProfilerError(
            f"The {profiler.name!r} profiler ({type(profiler).__name__}) must "
            f"return a dict of its own fields from stop(). Got {got} instead.")
    return fields


def pool_user(may_use_loky):
    """``uses_pool`` for :class:`Runner`: loky configs, and unset backends when
    the workload's joblib sites may default to loky."""
    return lambda config: config.backend == "loky" or (
        config.backend is None and may_use_loky)


def close_all(profilers):
    """Close every profiler, even if some raise; then raise the first failure."""
    _each(profilers, lambda profiler: _guarded(profiler, "close"))


class Runner(RunnerBase):
    """Runs trials of one workload in this process.

    Parameters
    ----------
    workload : Workload
        With the estimator already seeded (see :func:`sktune.profile`).
    candidates : sequence of Config
        Candidate 0 is the as-written baseline.
    profilers : list of Profiler
        Started in order, stopped in reverse; the wall clock should be last.
    uses_pool : callable, default=None
        ``uses_pool(config) -> bool``: whether a configuration may run on the
        loky worker pool, so that a pool change forces a new warm-up.
    engines : EngineSession, default=None
        Runs the dask and ray configurations; closed by :meth:`close`. None
        starts one that scatters the workload's X and y to dask workers.
    units : UnitSite, default=None
        Where the workload's units are (:mod:`sktune._proxies`): trials with
        ``units=k`` run the proxy of ``k`` units instead of the workload.

    Notes
    -----
    In this process a trial can neither be stopped nor replaced: no time
    limit, no cut-off, no restart (``supports_time_limit`` and
    ``supports_restart`` are False; the isolated runner has both).
    """

    isolation = "none"

    def __init__(self, workload, candidates, profilers, uses_pool=None, engines=None,
                 units=None):
        super().__init__(candidates)
        self.workload = workload
        self.engines = engines or EngineSession(data=(workload.X, workload.y))
        self.profilers = list(profilers)
        self.uses_pool = uses_pool or (lambda config: True)
        self.site = units
        self._scaled = {}  # units -> proxy Workload
        self._pool_after = {}

    def _workload(self, units):
        if units is None:
            return self.workload
        if units not in self._scaled:
            self._scaled[units] = self.site.scale(self.workload, units)
        return self._scaled[units]

    # -- one call ---------------------------------------------------------
    def _trial(self, index, phase, round_=None, profilers=None, units=None,
               keep_output=True):
        config = self.candidates[index]
        profilers = self.profilers if profilers is None else profilers
        record = {"config": index, "phase": phase, "round": round_,
                  "wall_s": None, "cpu_s": None, "error": None, "cold": False,
                  "warnings": [], "units": units}
        workload = self._workload(units)
        caught = []
        try:
            # configure() and apply() can fail too (a backend joblib refuses):
            # that fails this candidate, not the whole run.
            estimator = config.configure(workload.estimator)
            for profiler in profilers:
                estimator = _guarded(profiler, "instrument", estimator)
            n_started = len(self.engines.started)
            with apply_config(config, self.engines), \
                    warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                prepared = workload.prepare(estimator)
                gc.collect()
                pool_before = loky_executor_state()
                started = []
                try:
                    for profiler in profilers:
                        _guarded(profiler, "start")
                        started.append(profiler)
                    fitted, result = workload.call(prepared)
                finally:
                    # In reverse: the wall clock, started last, stops first.
                    for fields in _each(reversed(started), _stop):
                        record.update(fields)
                pool_after = loky_executor_state()
                record["cold"] = pool_after is not None and pool_after != pool_before
                if len(self.engines.started) > n_started:
                    # Started under apply(), outside the timing: the result's
                    # notes say what each engine cost to start.
                    record["engine_start"] = self.engines.started[n_started:]
                self._pool_after[index] = pool_after
                if phase == "timed" and keep_output and index not in self.outputs:
                    self.outputs[index] = workload.output(fitted, result)
        except ProfilerError:
            raise  # a broken plug-in says nothing about this configuration
        except Exception as exc:  # a failing candidate must not end the run
            record["error"] = f"{type(exc).__name__}: {exc}"
            self.failed[index] = record["error"]
            self.exceptions.setdefault(index, exc)
            logger.info("candidate %s failed: %s", config, record["error"])
        record["warnings"] = sorted({w.category.__name__ for w in caught})
        if "FitFailedWarning" in record["warnings"] and not record["error"]:
            # error_score=nan hides failed fits behind a fast run (checklist 13).
            record["error"] = "FitFailedWarning: some fits failed and were scored NaN"
            self.failed[index] = record["error"]
        self.records.append(record)
        return record

    # -- what the search asks for ------------------------------------------
    def needs_warmup(self, index):
        """Whether the next timed repeat of ``index`` would start cold."""
        if index not in self._pool_after:
            return True
        config = self.candidates[index]
        return self.uses_pool(config) and loky_executor_state() != self._pool_after[index]

    def warm_up(self, index, units=None):
        """Run an untimed warm-up of candidate ``index``; return its record."""
        return self._trial(index, "warmup", units=units)

    def visit(self, index, round_, limit=None, units=None, keep_output=True):
        """Warm up if needed, then run one timed repeat of candidate ``index``.

        ``limit`` (a cut-off time) is ignored: a run in this process cannot
        be stopped. Returns the timed record, or None (see :func:`timed_record`).
        """
        if index in self.failed:
            return None
        if self.needs_warmup(index):
            if self.warm_up(index, units)["error"]:
                return None
        for _ in range(_MAX_COLD_RETRIES + 1):
            record = self._trial(index, "timed", round_, units=units,
                                 keep_output=keep_output)
            if record["error"] or not record["cold"]:
                break
            record["phase"] = "warmup"  # the pool restarted inside the timing
        return timed_record(record)

    def confirm(self, index, round_):
        """One timed run of ``index`` at full size, to check a prediction.

        Its record has phase "confirm": no statistic of the search uses it.
        """
        if index in self.failed:
            return None
        return self._trial(index, "confirm", round_, keep_output=False)

    def extra(self, index, profilers):
        """One untimed run of candidate ``index`` under costly ``profilers``.

        Warmed up first if needed, so that what the profilers see is the
        steady state that was timed. Returns the record (phase "extra").
        """
        if index in self.failed or (self.needs_warmup(index)
                                    and self.warm_up(index)["error"]):
            return None
        record = self._trial(index, "extra", profilers=profilers)
        if record["error"] and self.failed.get(index) == record["error"]:
            # A failure seen only under a costly profiler says nothing about
            # the timed runs: keep it on the record, not on the candidate.
            del self.failed[index]
        return record

    def machine(self):
        """This process's :class:`~sktune.Machine`, thread pools loaded by the runs included."""
        from ..machine import Machine

        return Machine.detect()

    def close(self):
        """Close the engines the trials started (dask clusters, a local ray)."""
        self.engines.close()
