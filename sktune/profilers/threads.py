"""Busy OS threads of a trial: oversubscription as a number.

``cpu_s / wall_s`` says how many cores a trial kept busy on average, but not
how many threads fought for them: 2.0 can be two threads on two cores or
eight threads each getting a quarter of a core. This profiler reads the CPU
time of every OS thread of the process tree (the calling process and its live
descendants, loky workers included) before and after the call, so a record
can say "4 busy threads on 2 cores", together with the native thread pools
(BLAS, OpenMP) in force in the calling thread. It is cheap enough to wrap
every timed trial: all its work happens in ``start`` and ``stop``, outside
the wall-clock timing, and it runs no background thread.
"""

import os
import time
from collections.abc import Callable

from .base import Profiler

# A thread is busy when it got at least this share of its fair share of the
# cores: all of the wall time while the busy threads fit on the cores,
# ``cores / k`` of it when k threads share them. Relative, because a fixed
# share of the wall time hides the worst cases: 16 threads on 4 cores get
# 0.25 each, under any fixed threshold above that. 0.6 separates two cases
# that look alike in total CPU. Threads computing at once get about all of
# their fair share; threads queueing on the GIL share one core, so each gets
# at most 1/k, half of the fair share or less from 2 cores on, and must not
# read as oversubscription. Set on the 2-core development machine with k = 2,
# 3, 4 and 8 threads of a ThreadPoolExecutor running ``A @ A`` (300 x 300,
# BLAS limited to 1: 0.96-1.0 of the fair share) or a pure-Python loop (GIL:
# 0.48-0.5); 0.6 sits nearer the GIL side, leaving room for a machine that
# other processes also load.
_BUSY_SHARE = 0.6

# When threads or child processes that ended before ``stop`` ran at least
# this many cores' worth of the call (joblib's threading and multiprocessing
# backends end their pools with each ``Parallel`` call), the busy threads
# that are still alive undercount: the count is reported as unknown (None)
# rather than as a misleading 0 next to 1.8 busy cores.
_UNSEEN_CORES = 0.5

#: Key of the CPU time of the calling process's reaped children in a snapshot.
REAPED = ("reaped", None)


def process_tree_thread_times() -> dict:
    """CPU seconds (user + system) of every live OS thread of the process tree.

    Returns
    -------
    times : dict
        ``{(pid, tid): cpu_seconds}`` for each thread of the calling process
        and of every live descendant, plus ``{(pid, None): cpu_seconds}``, the
        whole process's CPU time (which keeps that of its ended threads), and
        under :data:`REAPED` the CPU time of the calling process's children
        that ended and were waited for (``children_user`` and
        ``children_system`` of its ``cpu_times``). A process that exits,
        turns zombie or cannot be read between listing and reading is
        skipped. Times have the kernel's clock-tick resolution (10 ms on
        Linux) per thread.
    """
    import psutil

    me = psutil.Process(os.getpid())
    times = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            total = proc.cpu_times()
            threads = proc.threads()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        times[(proc.pid, None)] = total.user + total.system
        if proc is me:  # the children it reaped, as the "cpu" profiler counts them
            times[REAPED] = total.children_user + total.children_system
        for thread in threads:
            times[(proc.pid, thread.id)] = thread.user_time + thread.system_time
    return times


def _count_busy(deltas, wall, cores) -> int:
    """The largest k such that the k-th busiest thread got its share among k (_BUSY_SHARE)."""
    busy = 0
    for k, delta in enumerate(sorted(deltas, reverse=True), start=1):
        if delta >= _BUSY_SHARE * wall * min(1.0, cores / k):
            busy = k
    return busy


def _threadpools():
    """The native thread pools of the calling thread, one entry per kind and size."""
    import threadpoolctl

    if hasattr(threadpoolctl, "get_cached_controller"):  # 3.8+: ~0.05 ms, not ~6 ms
        info = threadpoolctl.get_cached_controller().info()
    else:
        info = threadpoolctl.threadpool_info()
    pools = {(lib["user_api"], lib["internal_api"], lib["num_threads"]) for lib in info}
    return [{"user_api": user_api, "internal_api": internal_api, "num_threads": num_threads}
            for user_api, internal_api, num_threads in sorted(pools)]


class ThreadsProfiler(Profiler):
    """Busy OS threads and native thread pools of the call (``busy_threads``, ...).

    Record fields:

    - ``busy_threads``: threads that kept a core busy for most of the call,
      counted relative to their fair share when more threads than cores ran
      (see ``_BUSY_SHARE``); None (unknown) when ended threads or processes
      ran half a core's worth of the call or more, unless the live ones
      alone exceed the usable cores;
    - ``thread_parallelism``: the threads' summed CPU time over the wall time,
      the number of cores busy on average;
    - ``ended_cpu_s``: CPU seconds of threads and child processes that
      ended before ``stop``, which ``busy_threads`` and
      ``thread_parallelism`` cannot see (see Notes);
    - ``n_threads``, ``n_processes``: OS threads and processes in the tree at
      ``stop``;
    - ``threadpools``: ``{"user_api", "internal_api", "num_threads"}`` of each
      BLAS/OpenMP pool loaded in the calling thread at ``stop`` (copies with
      the same values merged). Limits are per calling thread for OpenMP and
      MKL (PITFALLS.md section 3.2), so this is what the trial's thread saw;
      workers' pools may differ;
    - ``oversubscribed``: whether ``busy_threads`` exceeds the usable cores
      (None when ``busy_threads`` is).

    Parameters
    ----------
    usable_cores : int, default=None
        Cores the trial may use; None means ``joblib.cpu_count()``
        (affinity, cgroup quota, ``LOKY_MAX_CPU_COUNT``).
    snapshot : callable, default=process_tree_thread_times
        Returns ``{(pid, tid): cpu_seconds}``, optionally with whole-process
        totals under ``(pid, None)`` (see :func:`process_tree_thread_times`);
        tests pass fake snapshots.
    clock : callable, default=time.perf_counter
        Returns seconds as a float; tests pass a fake clock.

    Notes
    -----
    Threads born during the call count from 0 (as does a thread id reused
    with less CPU time than its predecessor). Threads that ended before
    ``stop`` are lost to ``busy_threads`` and ``thread_parallelism``; their
    CPU time shows, summed, in ``ended_cpu_s`` (the process's CPU time minus
    its live threads', so within about 10 ms per thread: the clock-tick
    resolution), together with that of the children the calling process
    reaped (a descendant's exited child counts only once its parent reaped
    it). This matters for joblib's "threading" backend, whose pool
    threads, and the OpenMP teams they started, end with each ``Parallel``
    call, and for the "multiprocessing" backend, whose pool does too; the
    number of threads behind that CPU time cannot be known, hence a None
    ``busy_threads``. ``cpu_s`` (the "cpu" profiler) is the figure for total
    CPU.

    Spin-waiting counts: OpenBLAS threads busy-wait after a call and libgomp
    spins after a parallel region (PITFALLS.md sections 3.4 and 7). Such
    threads really burn CPU that other threads could have used, so they are
    reported as busy; it is what the number means, not a measurement error.
    """

    name = "threads"

    def __init__(self, usable_cores: int | None = None,
                 snapshot: Callable[[], dict] = process_tree_thread_times,
                 clock: Callable[[], float] = time.perf_counter):
        self.usable_cores = usable_cores
        self.snapshot = snapshot
        self.clock = clock
        self._usable_cores = None
        self._before = None
        self._start = None

    def _cores(self):
        if self._usable_cores is None:  # resolved once: reads cgroup files
            import joblib

            self._usable_cores = (joblib.cpu_count() if self.usable_cores is None
                                  else self.usable_cores)
        return self._usable_cores

    def start(self) -> None:
        self._before = self.snapshot()
        self._start = self.clock()  # last: the snapshot's own cost is outside the wall time

    def stop(self) -> dict:
        wall = self.clock() - self._start
        after = self.snapshot()
        before = self._before
        deltas = []
        live = {}  # pid -> CPU of its live threads during the call
        for (pid, tid), cpu in after.items():
            if tid is None:
                continue
            previous = before.get((pid, tid), 0.0)
            delta = cpu - previous if cpu >= previous else cpu
            deltas.append(delta)
            live[pid] = live.get(pid, 0.0) + delta
        # A process's CPU time keeps that of its ended threads: what its live
        # threads do not explain ran in threads that ended during the call.
        # REAPED has no live threads: all of its growth ran in ended children.
        ended = 0.0
        for (pid, tid), cpu in after.items():
            if tid is None:
                ended += max(0.0, cpu - before.get((pid, None), 0.0) - live.get(pid, 0.0))
        cores = self._cores()
        busy = _count_busy(deltas, wall, cores) if wall > 0 else 0
        if wall > 0 and ended >= _UNSEEN_CORES * wall and busy <= cores:
            busy = None
        return {
            "busy_threads": busy,
            "thread_parallelism": sum(deltas) / wall if wall > 0 else 0.0,
            "ended_cpu_s": ended,
            "n_threads": len(deltas),
            "n_processes": len({pid for pid, _ in after} - {REAPED[0]}),
            "threadpools": _threadpools(),
            "oversubscribed": None if busy is None else busy > cores,
        }
