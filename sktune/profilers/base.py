"""The profiler plug-in interface: something that wraps one timed call.

A profiler is started right before the call being measured and stopped
right after it; ``stop`` returns a dict of record fields (floats in
seconds, bytes, counts, or lists of such dicts) merged into the trial's
record, so they must be JSON-serialisable. The runner starts profilers in
order and stops them in reverse, so the wall clock, started last, measures
nothing but the call. The model is joblib's ``ParallelBackendBase``: one
abstract method, no-op hooks.

Lifecycle, per :func:`sktune.profile` call::

    for each trial:   estimator = profiler.instrument(estimator)   # sktune's clone
                      profiler.start(); <the timed call>; record.update(profiler.stop())
    at the end:       profiler.close()                             # always, even on error

A profiler whose ``extra_run`` is True costs too much to sit inside the
timing that chooses the configuration (cProfile, tracemalloc): it never
wraps a timed trial, only one extra, untimed run of the as-written and of
the recommended configuration.
"""

from abc import ABC, abstractmethod


class Profiler(ABC):
    """Base class of profilers.

    Subclasses set ``name`` (the registry key) and implement :meth:`stop`;
    the other methods are no-op hooks. A profiler instance is used for one
    trial at a time and is reused for the next.
    """

    #: Registry key, lowercase.
    name = None
    #: Run only in extra, untimed runs (see the module docstring).
    extra_run = False

    def instrument(self, estimator):
        """Return the estimator to run (``estimator`` itself by default).

        Called on sktune's own unfitted clone, already configured, before
        the workload prepares it; never on the user's object. A profiler may
        modify the clone in place and return it.
        """
        return estimator

    def start(self):
        """Called immediately before the measured call."""

    @abstractmethod
    def stop(self):
        """Called immediately after the measured call (also when it raised).

        Returns
        -------
        record : dict
            JSON-serialisable fields added to the trial's record.
        """

    def close(self):
        """Release what the profiler holds (threads, files) at the end of a run."""
