"""Wall-clock and CPU time of a trial, CPU time including worker processes.

Wall time comes from ``time.perf_counter``. CPU time sums the calling
process, the children it has reaped, and every *live* descendant (loky
workers outlive a trial, so ``os.times()`` and ``RUSAGE_CHILDREN`` alone miss
them; PITFALLS.md section 7, checklist item 17). Both clocks are injectable
so that timing logic is tested without real time.
"""

import os
import time

from .base import Profiler


def process_tree_cpu_time():
    """CPU seconds (user + system) of this process, its reaped children and live descendants."""
    import psutil

    me = psutil.Process(os.getpid())
    own = me.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        total += times.user + times.system
    return total


class WallClockProfiler(Profiler):
    """Elapsed time of the call, in seconds (``wall_s``).

    Parameters
    ----------
    clock : callable, default=time.perf_counter
        Returns seconds as a float; tests pass a fake clock.
    """

    name = "wall"

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self._start = None

    def start(self):
        self._start = self.clock()

    def stop(self):
        return {"wall_s": self.clock() - self._start}


class CPUTimeProfiler(Profiler):
    """CPU time of the call across the process tree, in seconds (``cpu_s``).

    ``cpu_s / wall_s`` is the number of cores kept busy on average: 1 for a
    single-threaded call, about 2 for two busy workers; above the usable
    cores it shows oversubscription.

    Parameters
    ----------
    cpu_clock : callable, default=process_tree_cpu_time
        Returns cumulated CPU seconds; tests pass a fake one.
    """

    name = "cpu"

    def __init__(self, cpu_clock=process_tree_cpu_time):
        self.cpu_clock = cpu_clock
        self._start = None

    def start(self):
        self._start = self.cpu_clock()

    def stop(self):
        return {"cpu_s": max(0.0, self.cpu_clock() - self._start)}
