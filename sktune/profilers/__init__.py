"""Profilers: plug-ins that wrap each timed call and add fields to its record.

``PROFILERS`` maps a name to a profiler class; :func:`register_profiler`
adds one (third parties included) and :func:`get_profiler` looks one up.
``DEFAULT_PROFILERS`` run on every trial: they must be cheap, since they sit
inside the timing that chooses the configuration (benchmarks/bench_profilers.py
measures their overhead). Profilers with ``extra_run = True`` ("hotspots",
"tracemalloc") run only in extra, untimed runs.
"""

from .._validation import REGISTRY_NAME, invalid_choice, subclass_of, validated
from ..exceptions import InvalidParameterError
from .base import Profiler
from .hotspots import HotspotsProfiler
from .memory import MemoryProfiler
from .pyalloc import TracemallocProfiler
from .steps import StepsProfiler
from .threads import ThreadsProfiler
from .wall import CPUTimeProfiler, WallClockProfiler, process_tree_cpu_time

__all__ = [
    "Profiler",
    "WallClockProfiler",
    "CPUTimeProfiler",
    "HotspotsProfiler",
    "MemoryProfiler",
    "StepsProfiler",
    "ThreadsProfiler",
    "TracemallocProfiler",
    "PROFILERS",
    "DEFAULT_PROFILERS",
    "register_profiler",
    "get_profiler",
    "start_order",
    "resolve_profilers",
    "process_tree_cpu_time",
]

PROFILERS = {}
DEFAULT_PROFILERS = ("cpu", "memory", "steps", "threads", "wall")


@validated({"name": [REGISTRY_NAME],
            "profiler_cls": [subclass_of(Profiler, "sktune.profilers.Profiler")]})
def register_profiler(name: str, profiler_cls: type) -> None:
    """Register a profiler class under ``name``.

    Parameters
    ----------
    name : str
        Lowercase registry key, used in ``profile(..., profilers=[name])``.
    profiler_cls : type
        A subclass of :class:`Profiler`, instantiated without arguments. An
        instance whose class sets no ``name`` takes ``name``.

    Notes
    -----
    As with joblib's ``register_parallel_backend``, registering an existing
    name replaces the class registered under it. The record fields that
    ``stop`` returns must not reuse the runner's own (``config``, ``phase``,
    ``round``, ``error``, ``cold``, ``warnings``).

    Examples
    --------
    >>> import resource
    >>> from sktune.profilers import Profiler, register_profiler
    >>> class MinorFaults(Profiler):
    ...     name = "minor_faults"
    ...     def start(self):
    ...         self._before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ...     def stop(self):
    ...         now = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ...         return {"minor_faults": now - self._before}
    >>> register_profiler("minor_faults", MinorFaults)
    >>> # sktune.profile(estimator, X, y, profilers=["wall", "cpu", "minor_faults"])
    >>> from sktune.profilers import PROFILERS
    >>> del PROFILERS["minor_faults"]
    """
    PROFILERS[name] = profiler_cls


def start_order(profilers):
    """``profilers`` in the order the runner starts them (it stops them in reverse).

    The wall clock starts last and stops first, so it measures only the
    call; the CPU clock goes next to it, so that other profilers' start and
    stop work (a threads snapshot costs ~2-3 ms) falls outside both clocks.
    """
    return sorted(profilers, key=lambda p: {"wall": 2, "cpu": 1}.get(p.name, 0))


@validated({"name": [str]})
def get_profiler(name: str) -> Profiler:
    """Return a new instance of the profiler registered as ``name``."""
    try:
        cls = PROFILERS[name]
    except KeyError:
        raise InvalidParameterError(invalid_choice("profiler", name, PROFILERS)) from None
    profiler = cls()
    if profiler.name is None:
        profiler.name = name  # a class registered without a name of its own
    return profiler


register_profiler(WallClockProfiler.name, WallClockProfiler)
register_profiler(CPUTimeProfiler.name, CPUTimeProfiler)
register_profiler(StepsProfiler.name, StepsProfiler)
register_profiler(TracemallocProfiler.name, TracemallocProfiler)
register_profiler(HotspotsProfiler.name, HotspotsProfiler)
register_profiler(ThreadsProfiler.name, ThreadsProfiler)
register_profiler(MemoryProfiler.name, MemoryProfiler)


def resolve_profilers(profilers):
    """Profiler instances for timed runs, and those for extra runs only.

    Parameters
    ----------
    profilers : list of str or Profiler, or None
        As ``sktune.profile(profilers=...)`` takes them; None is
        :data:`DEFAULT_PROFILERS`.

    Returns
    -------
    timed, extra : list of Profiler
        In start order (:func:`start_order`); ``extra`` holds the costly
        ones that run only in extra, untimed runs.
    """
    items = DEFAULT_PROFILERS if profilers is None else profilers
    if isinstance(items, (str, Profiler)):
        items = [items]
    resolved = []
    for item in items:
        if isinstance(item, Profiler):
            resolved.append(item)
        elif isinstance(item, str):
            resolved.append(get_profiler(item))
        else:
            raise InvalidParameterError(
                "The 'profilers' parameter of profile must be a list of profiler names "
                f"or Profiler instances. Got {item!r} in it.")
    if not any(p.name == "wall" for p in resolved):
        raise InvalidParameterError(
            "The 'profilers' parameter of profile must include the 'wall' profiler: "
            "recommendations are made on wall-clock time.")
    resolved = start_order(resolved)
    timed = [p for p in resolved if not p.extra_run]
    extra = [p for p in resolved if p.extra_run]
    return timed, extra
