"""Peak of Python allocations during a trial, whole and per step (tracemalloc).

``tracemalloc`` hooks every Python allocation and slows a pipeline down
several-fold, so this profiler runs only in extra, untimed runs
(``extra_run = True``). While it traces, the steps profiler adds each step's
own allocation peak (``alloc_peak_bytes``) to its rows. It sees the calling
process only: NumPy buffers are included (NumPy reports them to
tracemalloc), allocations in worker processes are not (the "memory"
profiler measures the whole process tree).
"""

import tracemalloc

from .base import Profiler
from .steps import enter_frame, exit_frame


class TracemallocProfiler(Profiler):
    """Peak Python allocation over the call, in bytes (``py_alloc_peak_bytes``).

    If tracing was already on (the user's own tracemalloc session), it is
    left on; its peak counter is reset, as ``tracemalloc.reset_peak`` must.
    """

    name = "tracemalloc"
    extra_run = True

    def __init__(self):
        self._started_here = False
        self._frame = None

    def start(self):
        self._started_here = not tracemalloc.is_tracing()
        if self._started_here:
            tracemalloc.start()
        # The same frames as the steps: their peak resets do not hide ours.
        self._frame = enter_frame()

    def stop(self):
        peak = None if self._frame is None else exit_frame(self._frame)
        self._frame = None
        self.close()
        return {"py_alloc_peak_bytes": None if peak is None else int(peak)}

    def close(self):
        if self._started_here and tracemalloc.is_tracing():
            tracemalloc.stop()
        self._started_here = False
