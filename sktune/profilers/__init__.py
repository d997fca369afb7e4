"""Profilers: plug-ins that wrap each timed call and add fields to its record.

``PROFILERS`` maps a name to a profiler class; :func:`register_profiler`
adds one (third parties included) and :func:`get_profiler` looks one up.
``DEFAULT_PROFILERS`` run on every trial: they must be cheap, since they sit
inside the timing that chooses the configuration.
"""

from .._validation import invalid_choice
from ..exceptions import InvalidParameterError
from .base import Profiler
from .wall import CPUTimeProfiler, WallClockProfiler, process_tree_cpu_time

__all__ = [
    "Profiler",
    "WallClockProfiler",
    "CPUTimeProfiler",
    "PROFILERS",
    "DEFAULT_PROFILERS",
    "register_profiler",
    "get_profiler",
    "process_tree_cpu_time",
]

PROFILERS = {}
DEFAULT_PROFILERS = ("cpu", "wall")


def register_profiler(name, profiler_cls):
    """Register a profiler class under ``name``.

    Parameters
    ----------
    name : str
        Lowercase registry key, used in ``profile(..., profilers=[name])``.
    profiler_cls : type
        A subclass of :class:`Profiler`, instantiated without arguments.
    """
    if not isinstance(name, str) or not name:
        raise InvalidParameterError(
            f"The 'name' parameter of register_profiler must be a non-empty str. "
            f"Got {name!r} instead.")
    if not (isinstance(profiler_cls, type) and issubclass(profiler_cls, Profiler)):
        raise InvalidParameterError(
            "The 'profiler_cls' parameter of register_profiler must be a subclass "
            f"of sktune.profilers.Profiler. Got {profiler_cls!r} instead.")
    PROFILERS[name] = profiler_cls


def get_profiler(name):
    """Return a new instance of the profiler registered as ``name``."""
    try:
        return PROFILERS[name]()
    except KeyError:
        raise InvalidParameterError(invalid_choice("profiler", name, PROFILERS)) from None


register_profiler(WallClockProfiler.name, WallClockProfiler)
register_profiler(CPUTimeProfiler.name, CPUTimeProfiler)
