"""Exceptions and warnings raised by sktune.

Every exception subclasses :class:`SktuneError` *and* the builtin a caller
would naturally catch, so ``except ValueError`` keeps working (the model is
scikit-learn's ``InvalidParameterError(ValueError, TypeError)``).
"""

__all__ = [
    "SktuneError",
    "InvalidParameterError",
    "InvalidConfigError",
    "WorkloadError",
    "EngineNotAvailableError",
    "EngineError",
    "WorkerStartError",
    "ProfilerError",
    "CompileError",
    "SearchStateError",
    "SktuneWarning",
]


class SktuneError(Exception):
    """Base class of every error raised by sktune."""


class InvalidParameterError(SktuneError, ValueError, TypeError):
    """An argument of a public function or class has a wrong type or value.

    The message follows scikit-learn's wording: ``The 'n_jobs' parameter of
    ConfigSpace must be an int in the range [1, inf) or None. Got 0 instead.``
    """


class InvalidConfigError(SktuneError, ValueError):
    """A :class:`~sktune.Config` or :class:`~sktune.ConfigSpace` is inconsistent."""


class WorkloadError(SktuneError, ValueError):
    """The estimator cannot run the requested task on the given data.

    Raised before any timing; the estimator's own exception is chained as
    ``__cause__``.
    """


class EngineNotAvailableError(SktuneError, ImportError):
    """An explicitly requested engine (Cython, Numba, dask, ray, scikit-learn-intelex)
    is not available."""


class EngineError(SktuneError, ConnectionError):
    """A distributed engine cannot be used: a dask Client that is closed or does
    not answer. Raised before any timing."""


class WorkerStartError(SktuneError, RuntimeError):
    """sktune's worker process for isolated trials could not be started."""


class ProfilerError(SktuneError, RuntimeError):
    """A profiler plug-in raised in ``instrument``, ``start`` or ``stop``.

    A broken profiler says nothing about the configuration it wrapped, so
    :func:`sktune.profile` stops (after stopping the other profilers and
    restoring every setting) instead of recording a failed candidate. The
    profiler's own exception is chained as ``__cause__``.
    """


class CompileError(SktuneError, RuntimeError):
    """User code could not be compiled at run time (Cython or Numba).

    The message carries the compiler's own diagnostics, with the source
    lines they point at.
    """


class SearchStateError(SktuneError, ValueError):
    """A search strategy was handed a state that no profiling run can produce.

    A bug in sktune or in a plug-in (a runner that returned a failed run as
    a timing, say), named as such instead of surfacing as a NumPy error
    deep inside a median.
    """


class SktuneWarning(UserWarning):
    """Something the user should know about a measurement or a recommendation."""
