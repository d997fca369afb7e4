"""Run trials in a worker process, with time limits, surviving crashes and hangs.

:class:`IsolatedRunner` is a :class:`~sktune._trials.base.RunnerBase`
like the in-process runner, but every run happens in a worker process
(:mod:`sktune._trials.worker`, speaking :mod:`sktune._trials.protocol`): a fresh
interpreter started with ``subprocess``, never forked from this process, so
OpenMP and BLAS thread state here cannot deadlock it (PITFALLS.md 8.2), and
started in a session of its own. The data is written once to a temporary
folder and memory-mapped by the worker, never re-pickled per trial.

Every run has a wall-clock limit (checklist item 11). When a run raises,
the worker records it like the in-process runner does. When the worker
dies (a segfault, an out-of-memory kill, ``os._exit``) or a run passes its
limit, this side records the failure against the configuration that was
running, with its cause, kills the worker and everything it started, and
starts a fresh worker for the next call: profiling goes on (checklist item
12). A timed repeat that passes the search strategy's limit is recorded as
"cut off" (far slower than the best), not as a failure.

Timings are taken inside the worker by the same code as in process, so the
two agree within noise (``benchmarks/bench_isolation.py``).
"""

import contextlib
import glob
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from .._compat import explicit_joblib_settings
from ..exceptions import WorkerStartError
from .base import RunnerBase, timed_record
from .protocol import AUTHKEY_ENV, Call, Ready, Setup, Started, listen

logger = logging.getLogger("sktune")

#: Seconds a new worker may take to start and load the data.
START_TIMEOUT_S = 120.0
#: How often a waiting parent checks that the worker is still alive.
_POLL_S = 0.2
#: Seconds a worker told to close may take (closing dask clusters and ray
#: takes 1-2 s) before it is killed with everything it started.
_CLOSE_WAIT_S = 20.0
#: Lines of the worker's stderr quoted when it dies.
_STDERR_LINES = 6
#: joblib only memmaps into /dev/shm when it has this much room (PITFALLS.md 2.5).
_SHM_MIN_FREE = 2 * 1024 ** 3


def _temp_parent():
    """Where the data folder goes: /dev/shm when roomy, as joblib decides."""
    with contextlib.suppress(OSError):
        stats = os.statvfs("/dev/shm")
        if stats.f_bavail * stats.f_frsize > _SHM_MIN_FREE:
            return "/dev/shm"
    return None


def _parent_state():
    """This process's settings the worker must run under too."""
    import sklearn
    from threadpoolctl import threadpool_info

    limits = {}
    for info in threadpool_info():
        limits.setdefault(info["user_api"], set()).add(info["num_threads"])
    # The caller's joblib context (``with parallel_config(...)`` around
    # profile) is part of the pipeline "as written", as in process.
    return {"sklearn": sklearn.get_config(), "joblib": explicit_joblib_settings(),
            "thread_limits": {api: min(n) for api, n in limits.items()}}


def _signal_name(returncode):
    with contextlib.suppress(ValueError):
        return signal.Signals(-returncode).name
    return f"signal {-returncode}"


def kill_tree(process):
    """Kill ``process`` (a Popen) and every process it started; reap it."""
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    if os.name == "posix":
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: pgid == pid
    for proc in children:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    with contextlib.suppress(OSError):
        process.kill()
    process.wait()
    psutil.wait_procs(children, timeout=5)
    # loky's resource tracker died with them: unlink the named semaphores
    # it would have unlinked (/dev/shm/sem.loky-<creator pid>-<random>).
    for pid in [process.pid, *(proc.pid for proc in children)]:
        for path in glob.glob(f"/dev/shm/sem.loky-{pid}-*"):
            with contextlib.suppress(OSError):
                os.unlink(path)


class _Worker:
    """One worker process and its connection."""

    def __init__(self, setup_bytes, stderr_path):
        authkey = secrets.token_bytes(32)
        self.listener, address = listen(authkey)
        env = {**os.environ, AUTHKEY_ENV: authkey.hex()}
        self.stderr = open(stderr_path, "ab")
        kwargs = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sktune._trials.worker", address],
            env=env, stdin=subprocess.DEVNULL, stderr=self.stderr, **kwargs)
        self.conn = None
        try:
            self.conn = self._accept()
            self.conn.send(list(sys.path))
            self.conn.send_bytes(setup_bytes)
            message = self.receive(time.monotonic() + START_TIMEOUT_S)
            if not isinstance(message, Ready):
                raise WorkerStartError(
                    f"The sktune worker process did not start: {self.death()}")
        except BaseException:
            self.close(kill=True)
            raise

    def _accept(self):
        import threading

        box = []

        def accept():
            # Closing the listener (the worker never came) ends this quietly.
            with contextlib.suppress(OSError, EOFError):
                box.append(self.listener.accept())

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(_POLL_S)
            if self.process.poll() is not None and thread.is_alive():
                break
        if not box:
            raise WorkerStartError(
                f"The sktune worker process did not connect: {self.death()}")
        return box[0]

    def receive(self, deadline):
        """The next message, or None if the deadline passed or the worker died."""
        import cloudpickle

        while True:
            wait = min(_POLL_S, max(0.0, deadline - time.monotonic()))
            try:
                if self.conn.poll(wait):
                    return cloudpickle.loads(self.conn.recv_bytes())
            except (EOFError, ConnectionError, OSError):
                # The connection closed: the worker is exiting; reap it so
                # that death() can say how it ended.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(10)
                return None
            if self.process.poll() is not None or time.monotonic() >= deadline:
                # A last message may have arrived just before the exit.
                with contextlib.suppress(EOFError, ConnectionError, OSError):
                    if self.conn.poll(0):
                        return cloudpickle.loads(self.conn.recv_bytes())
                return None

    def send(self, method, *args):
        import cloudpickle

        self.conn.send_bytes(cloudpickle.dumps(Call(method, args)))

    def death(self):
        """Why the worker is gone: exit status and the end of its stderr."""
        code = self.process.poll()
        if code is None:
            return "the worker process is still running"
        why = (f"killed by {_signal_name(code)}" if code < 0
               else f"exited with status {code}")
        if code == -signal.SIGKILL:
            why += " (out of memory?)"
        self.stderr.flush()
        with contextlib.suppress(OSError):
            with open(self.stderr.name, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
            if lines:
                why += "; its last output: " + " | ".join(lines[-_STDERR_LINES:])
        return why

    def close(self, kill=False):
        """Ask the worker to exit (or kill it), and reap everything it started."""
        if self.conn is not None and not kill and self.process.poll() is None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                self.send("close")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(_CLOSE_WAIT_S)
        kill_tree(self.process)
        for closable in (self.conn, self.listener, self.stderr):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()


class IsolatedRunner(RunnerBase):
    """Runs trials of one workload in a worker process, with time limits.

    Parameters
    ----------
    workload : Workload
        With the estimator already seeded (see :func:`sktune.profile`).
    candidates : sequence of Config
        Candidate 0 is the as-written baseline.
    profilers : list of Profiler
        Sent to the worker; they run there.
    may_use_loky : bool
        Whether a configuration without a backend may use the loky pool.
    timeout : float or None
        Wall-clock limit of each run in seconds; None waits forever. May be
        changed between calls (:func:`sktune.profile` sets it from the
        as-written run).
    client_address : str, default=None
        The user's dask scheduler, which the worker connects a client of
        its own to for ``Config(backend="dask")`` without a cluster shape.
    units : UnitSite, default=None
        Where the workload's units are: calls with ``units=k`` run its proxy.
    """

    isolation = "process"
    supports_time_limit = True
    supports_restart = True

    def __init__(self, workload, candidates, profilers, *, may_use_loky, timeout=None,
                 client_address=None, units=None):
        import cloudpickle
        import joblib

        from ..machine import usable_cores

        super().__init__(candidates)
        self.timeout = timeout
        self._worker, self._busy = None, False
        self._dir = tempfile.mkdtemp(prefix=f"sktune-{os.getpid()}-", dir=_temp_parent())
        try:
            data_path = os.path.join(self._dir, "data.joblib")
            joblib.dump((workload.X, workload.y), data_path)
            self._setup = cloudpickle.dumps(Setup(
                data_path=data_path, estimator=workload.estimator, task=workload.task,
                candidates=self.candidates, profilers=list(profilers),
                may_use_loky=may_use_loky, client_address=client_address,
                usable_cores=usable_cores(), state=_parent_state(), units=units))
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._env = {}
        if "JOBLIB_TEMP_FOLDER" not in os.environ:
            # The worker's own joblib memmaps go here too, so that nothing
            # is left in /dev/shm when a killed worker cannot clean up.
            self._env["JOBLIB_TEMP_FOLDER"] = self._dir

    # -- the worker ---------------------------------------------------------
    def _ensure_worker(self):
        if self._worker is None:
            saved = {k: os.environ.get(k) for k in self._env}
            os.environ.update(self._env)
            try:
                self._worker = _Worker(self._setup,
                                       os.path.join(self._dir, "worker-stderr.log"))
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        return self._worker

    def _replace_worker(self):
        if self._worker is not None:
            self._worker.close(kill=True)
            self._worker = None
            self.restarts += 1

    def close(self):
        """Stop the worker and everything it started; delete the data folder."""
        try:
            if self._worker is not None:
                # A run still in flight (Ctrl-C arrived while waiting) is
                # not waited for: the worker is killed at once.
                self._worker.close(kill=self._busy)
                self._worker = None
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- calls --------------------------------------------------------------
    def _call(self, method, *args, index=None, round_=None, limit=None, units=None):
        """Run ``method`` in the worker; record a death or an overrun against ``index``."""
        worker = self._ensure_worker()
        worker.send(method, *args)
        self._busy = True
        phase, started = None, time.monotonic()
        deadlines = {}
        while True:
            deadline = min([started + self.timeout if self.timeout else float("inf"),
                            *deadlines.values()])
            message = worker.receive(deadline)
            if message is None:
                return self._lost(worker, index, phase, round_, started, deadlines, units)
            if isinstance(message, Started):
                index, phase = message.index, message.phase
                started, deadlines = time.monotonic(), {}
                if limit is not None and phase == "timed":
                    deadlines["cut"] = started + limit
                continue
            self._busy = False
            self.records.extend(message.records)
            self.failed.update(message.failed)
            self.outputs.update(message.outputs)
            for i, exc in message.exceptions.items():
                self.exceptions.setdefault(i, exc)
            if message.error is not None:
                raise message.error
            return message.value

    def _lost(self, worker, index, phase, round_, started, deadlines, units=None):
        """The worker died or overran: record it, replace the worker."""
        self._busy = False
        now = time.monotonic()
        alive = worker.process.poll() is None
        cut = alive and "cut" in deadlines and now >= deadlines["cut"]
        if not alive:
            error = f"WorkerCrashed: the worker process died ({worker.death()})"
        elif cut:
            error = None
        else:
            error = (f"Timeout: no result after {self.timeout:g} s (the time limit of "
                     "one run); the worker process was stopped")
        self._replace_worker()
        if index is None:  # not a run of a candidate (the machine's description)
            return None
        record = {"config": index, "phase": "cutoff" if cut else (phase or "warmup"),
                  "round": round_, "wall_s": now - started if cut else None,
                  "cpu_s": None, "error": error, "cold": False, "warnings": [],
                  "units": units}
        if cut:
            record["limit_s"] = deadlines["cut"] - started
        self.records.append(record)
        config = self.candidates[index] if index is not None else None
        if cut:
            self.cut_off.add(index)
            logger.info("candidate %s cut off after %.2f s", config, now - started)
        else:
            self.failed[index] = error
            logger.info("candidate %s failed: %s", config, error)
        return record

    def warm_up(self, index, units=None):
        """Run an untimed warm-up of candidate ``index``; return its record."""
        return self._call("warm_up", index, units, index=index, units=units)

    def visit(self, index, round_, limit=None, units=None, keep_output=True):
        """Warm up if needed, then one timed repeat of ``index``, in the worker.

        Parameters
        ----------
        limit : float, default=None
            Seconds after which the timed repeat is cut off: recorded with
            phase "cutoff", and the candidate is not run again.

        Returns
        -------
        record : dict or None
            The timed record, or None if the candidate failed or was cut off.
        """
        if index in self.failed or index in self.cut_off:
            return None
        # A run lost in the timed phase (the worker died, or overran the
        # time limit) comes back as a failed "timed" record: never a timing.
        return timed_record(
            self._call("visit", index, round_, None, units, keep_output, index=index,
                       round_=round_, limit=limit, units=units))

    def confirm(self, index, round_):
        """One timed run of ``index`` at full size in the worker (phase "confirm")."""
        if index in self.failed or index in self.cut_off:
            return None
        return self._call("confirm", index, round_, index=index, round_=round_)

    def extra(self, index, profilers):
        """One untimed run of ``index`` under costly ``profilers``, in the worker."""
        if index in self.failed or index in self.cut_off:
            return None
        failed_before = dict(self.failed)
        record = self._call("extra", index, list(profilers), index=index)
        if index in self.failed and index not in failed_before:
            # As in process: a failure seen only under a costly profiler says
            # nothing about the timed runs; it stays on the record.
            del self.failed[index]
        return record

    def machine(self):
        """The worker's :class:`~sktune.Machine`, thread pools loaded by the runs included.

        Falls back to this process's description if the worker dies.
        """
        machine = self._call("machine")
        if machine is None:
            from ..machine import Machine

            machine = Machine.detect()
        return machine
