"""Where a trial runs: the only code of sktune that changes the process's state.

* :mod:`~sktune._trials.apply` applies one configuration to the calling
  thread (joblib's context, thread limits, Numba's count, an engine) and
  undoes it; :mod:`~sktune._trials.state` is the safety net around a whole
  profile, restoring what differs on every exit path.
* :mod:`~sktune._trials.base` writes down what a runner is;
  :mod:`~sktune._trials.local` runs trials in this process,
  :mod:`~sktune._trials.isolated` in a worker process
  (:mod:`~sktune._trials.worker`) that a crash or a hang cannot take
  down, speaking the messages of :mod:`~sktune._trials.protocol`.

The engines a trial runs on (dask clusters, a local ray) are started and
closed through :class:`sktune._engines.EngineSession`.
"""

from .base import RunnerBase, timed_record
from .local import close_all

__all__ = ["RunnerBase", "close_all", "make_runner", "timed_record"]


def make_runner(workload, candidates, profilers, *, isolation, may_use_loky, timeout,
                client=None, client_address=None, units=None):
    """The runner of a profiling run: a worker process, or this process.

    ``client`` is the user's dask Client, used as it is in this process;
    a worker process connects to ``client_address``, its scheduler.
    """
    if isolation == "none":
        from .._engines import EngineSession
        from .local import Runner, pool_user

        return Runner(
            workload, candidates, profilers, uses_pool=pool_user(may_use_loky),
            engines=EngineSession(data=(workload.X, workload.y), client=client),
            units=units)
    from .isolated import IsolatedRunner

    return IsolatedRunner(workload, candidates, profilers, may_use_loky=may_use_loky,
                          timeout=None if timeout == "auto" else timeout,
                          client_address=client_address, units=units)
