"""The profiler plug-in interface: something that wraps one timed call.

A profiler is started right before the call being measured and stopped
right after it; ``stop`` returns a dict of record fields (floats in
seconds, bytes, counts) merged into the trial's record. The runner starts
profilers in order and stops them in reverse, so the wall clock, started
last, measures nothing but the call. The model is joblib's
``ParallelBackendBase``: one abstract method, no-op hooks.
"""

from abc import ABC, abstractmethod


class Profiler(ABC):
    """Base class of profilers.

    Subclasses set ``name`` (the registry key) and implement :meth:`stop`;
    :meth:`start` is a no-op hook by default. A profiler instance is used
    for one trial at a time and may be reused for the next.
    """

    #: Registry key, lowercase.
    name = None

    def start(self):
        """Called immediately before the measured call."""

    @abstractmethod
    def stop(self):
        """Called immediately after the measured call (also when it raised).

        Returns
        -------
        record : dict
            Fields added to the trial's record.
        """
