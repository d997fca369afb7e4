"""The interface of a runner: where the trials of one profile run.

Two runners implement it: :class:`~sktune._trials.local.Runner` runs trials
in this process, :class:`~sktune._trials.isolated.IsolatedRunner` in a
worker process that a crash or a hang cannot take down. The search
(:mod:`sktune._measure`) talks to either through :class:`RunnerBase`, and
asks its capability flags instead of guessing from attributes that happen
to be empty (the model is joblib's ``ParallelBackendBase``, with
``supports_inner_max_num_threads`` and the like). :func:`timed_record` is
the one rule for what ``visit`` returns.
"""

import math
from abc import ABC, abstractmethod
from numbers import Real


def timed_record(record):
    """What a runner's ``visit`` returns for ``record``: the one rule.

    ``record`` itself if it is a successful timed repeat (phase "timed",
    no error, a finite wall time), else None: a run that raised, crashed
    its worker, overran its time limit, was cut off or restarted the pool
    during the timing is never a timing. Both runners return through this,
    so the search can append whatever they return.
    """
    if not isinstance(record, dict) or record.get("phase") != "timed" or record.get("error"):
        return None
    seconds = record.get("wall_s")
    if isinstance(seconds, bool) or not isinstance(seconds, Real) \
            or not math.isfinite(seconds) or seconds < 0:
        return None
    return record


class RunnerBase(ABC):
    """Runs the trials of one workload's candidates and keeps what they left.

    Parameters
    ----------
    candidates : sequence of Config
        Candidate 0 is the as-written baseline.

    Attributes
    ----------
    records : list of dict
        One per run, in order (see :class:`~sktune.ProfileResult`).
    failed : dict of int to str
        Candidates that raised, crashed or hung, with the error; never run again.
    exceptions : dict of int to BaseException
        The first exception of each failed candidate, to chain.
    outputs : dict of int to object
        The output of each candidate's first timed run, to compare.
    cut_off : set of int
        Candidates stopped for being far slower than the best.
    restarts : int
        Workers replaced after a crash, a hang or a cut-off.
    timeout : float or None
        Wall-clock limit of each run, where :attr:`supports_time_limit`.
    """

    #: Where trials run: what the result's ``search["isolation"]`` says.
    isolation = None
    #: Whether a run can be stopped at a time limit (``timeout``, cut-offs).
    supports_time_limit = False
    #: Whether a worker that crashed or hung is replaced and profiling goes on.
    supports_restart = False

    def __init__(self, candidates):
        self.candidates = list(candidates)
        self.records, self.failed, self.exceptions, self.outputs = [], {}, {}, {}
        self.cut_off = set()
        self.restarts = 0
        self.timeout = None

    @abstractmethod
    def warm_up(self, index, units=None):
        """Run an untimed warm-up of candidate ``index``; return its record.

        ``units`` runs the proxy of that many units (:mod:`sktune._proxies`)
        instead of the workload as written; every record says which.
        """

    @abstractmethod
    def visit(self, index, round_, limit=None, units=None, keep_output=True):
        """Warm up if needed, then one timed repeat of candidate ``index``.

        ``limit`` is the cut-off time, used where :attr:`supports_time_limit`;
        ``units`` as for :meth:`warm_up`; ``keep_output`` lets the output of
        the first such repeat be compared with the baseline's (outputs are
        compared at one size). Returns the record through
        :func:`timed_record`: a successful timed repeat, or None.
        """

    @abstractmethod
    def confirm(self, index, round_):
        """One timed run of ``index`` at full size, phase "confirm": a check of
        a predicted time, used by no statistic of the search."""

    @abstractmethod
    def extra(self, index, profilers):
        """One untimed run of ``index`` under costly ``profilers``; its record or None."""

    @abstractmethod
    def machine(self):
        """The :class:`~sktune.Machine` the trials ran on, thread pools they loaded included."""

    @abstractmethod
    def close(self):
        """Stop everything the trials started."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
