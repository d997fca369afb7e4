"""The worker process of isolated profiling: ``python -m sktune._trials.worker ADDRESS``.

Started by :class:`~sktune._trials.isolated.IsolatedRunner` in a fresh interpreter
(never forked, so no OpenMP or BLAS thread state is inherited; PITFALLS.md
section 8.2), in a session of its own, so that a Ctrl-C in the terminal
reaches only the parent, which decides what to keep. The worker connects
back, receives the workload once (the estimator by cloudpickle, X and y as
files it memory-maps), and serves the parent's calls on an in-process
:class:`~sktune._trials.local.Runner` until told to close. Before each run it
tells the parent which candidate and phase start, so that the parent can
enforce time limits and say what a crash interrupted. The messages are the
types of :mod:`sktune._trials.protocol`.
"""

import contextlib
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time

from .protocol import AUTHKEY_ENV, Done, Ready, Started, connect


def _portable(exc):
    """``exc`` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _enter_parent_state(state):
    """Run under the parent's scikit-learn and joblib settings and thread limits."""
    import sklearn
    from threadpoolctl import threadpool_limits

    sklearn.set_config(**state["sklearn"])
    if state["joblib"]:
        from .._compat import enter_joblib_settings

        # This (main) thread runs every trial.
        enter_joblib_settings(state["joblib"])
    for user_api, n_threads in state["thread_limits"].items():
        # Process-wide for the libraries loaded now; kept for the worker's life.
        threadpool_limits(n_threads, user_api=user_api)


def _make_runner(setup, conn):
    import joblib

    from .._engines import EngineSession
    from ..workload import Workload
    from .local import Runner, pool_user

    class NotifyingRunner(Runner):
        def _trial(self, index, phase, round_=None, profilers=None, units=None,
                   keep_output=True):
            conn.send(Started(index, phase))
            return super()._trial(index, phase, round_, profilers, units, keep_output)

    # Copy-on-write: shared pages, and a step that writes into X in place
    # works as it does in the user's process.
    X, y = (_plain(a) for a in joblib.load(setup.data_path, mmap_mode="c"))
    # Dask's scratch space and ray's session go in the parent's data folder,
    # which the parent deletes even when this process is killed.
    engines = EngineSession(data=(X, y), client_address=setup.client_address,
                            temp_dir=os.path.dirname(setup.data_path),
                            ray_cpus=setup.usable_cores, stop_tracker=False)
    return NotifyingRunner(
        Workload(setup.estimator, X, y, setup.task), setup.candidates,
        setup.profilers, uses_pool=pool_user(setup.may_use_loky), engines=engines,
        units=setup.units)


def _plain(a):
    """An ndarray view of a memory-mapped array, the same pages.

    The user passed an ndarray; its memory-mapped twin is an ``np.memmap``
    subclass whose every row or slice is a memmap too, and building those
    made a row-wise Python loop 3.2x slower (0.43 s against 0.13 s on
    40000 x 20), so a worker timed such a pipeline much slower than the
    user's process runs it (issue 21: a claimed 1.19x re-measured 1.50x).
    Compiled code sees no difference. A user who passes an ``np.memmap``
    gets an ndarray here too: the subclass's cost is not the fit's.
    """
    import numpy as np

    return a.view(np.ndarray) if isinstance(a, np.memmap) else a


def _serve(conn, parent_pid):
    import cloudpickle

    from .local import close_all

    # The parent's import path first, so that the estimator's classes load
    # from where the parent found them (a script's folder, a test folder).
    sys.path[:] = list(dict.fromkeys([*conn.recv(), *sys.path]))
    setup = cloudpickle.loads(conn.recv_bytes())
    # Temporary files made here (the steps profiler's, the estimator's own)
    # go to the parent's data folder, which the parent deletes even after
    # killing this process.
    tempfile.tempdir = os.path.dirname(setup.data_path)
    threading.Thread(target=_watch_parent, args=(parent_pid, tempfile.tempdir),
                     name="sktune-watch-parent", daemon=True).start()
    _enter_parent_state(setup.state)
    runner = _make_runner(setup, conn)
    conn.send(Ready(os.getpid()))
    while True:
        call = cloudpickle.loads(conn.recv_bytes())
        method, args = call.method, call.args
        if method == "close":
            # The engines (clusters, ray) shut down cleanly; the profilers'
            # copies here delete what they made here (temporary folders).
            try:
                runner.close()
            finally:
                close_all(runner.profilers)
            return
        n_records, known = len(runner.records), set(runner.outputs)
        try:
            if method == "machine":
                from ..machine import Machine

                value, error = Machine.detect(), None
            elif method == "extra":
                # The costly profilers arrive with each call: copies made
                # here for one run, closed after it.
                try:
                    value, error = runner.extra(*args), None
                finally:
                    close_all(args[1])
            else:
                value, error = getattr(runner, method)(*args), None
        except Exception as exc:  # a ProfilerError: the parent re-raises it
            value, error = None, _portable(exc)
        conn.send_bytes(cloudpickle.dumps(Done(
            value=value, error=error, records=runner.records[n_records:],
            failed=dict(runner.failed),
            outputs={i: out for i, out in runner.outputs.items() if i not in known},
            exceptions={i: _portable(e) for i, e in runner.exceptions.items()})))


#: How often the worker checks that the process that started it is alive.
PARENT_POLL_S = 1.0


def _watch_parent(parent_pid, data_dir):
    """End this process and everything it started once the parent is gone.

    A parent killed without its ``finally`` blocks (SIGKILL, SIGTERM, the
    OOM killer) cannot stop its worker; a worker in the middle of a trial
    would otherwise run it to the end and stay, holding cores and memory,
    and the parent's data folder would stay too. Polling the parent's pid
    is portable; on POSIX the worker leads its own session, so its group
    holds every process it started (loky workers, clusters).
    """
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            shutil.rmtree(data_dir, ignore_errors=True)
            if hasattr(os, "killpg") and os.getpgrp() == os.getpid():
                os.killpg(os.getpgrp(), signal.SIGKILL)
            os._exit(1)


def main(address):
    # Ctrl-C is the parent's to handle: it keeps what was measured and
    # stops this process (a new session already keeps the terminal's
    # SIGINT away; this covers a parent that signals the group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent_pid = os.getppid()
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        # A configuration that crashes is recorded, not debugged: no core
        # file of a process holding the user's data (writing one can take
        # longer than the crash itself).
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    authkey = bytes.fromhex(os.environ.pop(AUTHKEY_ENV))
    conn = connect(address, authkey)
    try:
        _serve(conn, parent_pid)
    except (EOFError, ConnectionError, BrokenPipeError):
        pass  # the parent is gone: nothing left to serve
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
