"""Distributed engines behind joblib: dask.distributed and ray.

scikit-learn reaches a distributed engine through joblib's backends
(``parallel_config(backend="dask")``, ``ray.util.joblib``). This module
decides which engine candidates a workload gets (:func:`engine_candidates`),
checks a user's dask ``Client`` before any timing (:func:`check_client`),
and owns the engines a runner's trials use (:class:`Engines`): each is
started on first use, outside any timing, and everything is closed by
:meth:`Engines.close`, on every exit path.

Where each engine runs (PITFALLS.md section 2.1, checklist item 27):

* dask: a ``LocalCluster`` on loopback that sktune starts (one per
  ``Config.cluster`` shape: workers x threads per worker) or the user's
  ``Client``. The data is scattered to every dask worker once per cluster,
  not once per task or per trial. Dask's nanny starts its workers with one
  BLAS/OpenMP thread each, so thread limits set here do not reach them, and
  ``n_jobs`` is ignored (the cluster's cores decide).
* ray: a local ray started in sktune's worker process only; ray's joblib
  backend patches joblib's process pool class for the whole process, so its
  trials never run in the user's process (``isolation="none"`` excludes
  them).
"""

import contextlib
import logging
import os
import shutil
import tempfile
import time

from ._validation import invalid_choice
from .exceptions import EngineError, EngineNotAvailableError, InvalidParameterError

logger = logging.getLogger("sktune")

#: What ``profile(engines=...)`` accepts.
ENGINES = ("dask", "ray", "intelex")

#: Seconds allowed for a user's dask scheduler to answer before any timing.
CLIENT_TIMEOUT_S = 10.0

#: Engine name here -> its name in :func:`sktune.machine.engine_versions`.
_ENGINE_NAMES = {"dask": "dask.distributed", "ray": "ray"}


def why_unavailable(engine):
    """None if ``engine`` ("dask" or "ray") is installed, else a one-line reason.

    Looked up without importing it (``import ray`` takes seconds, and never
    happens in the user's process); an install that is found but broken
    fails its trials in the worker, with the import error as the cause.
    """
    from .machine import _engine_install_hint, engine_versions

    name = _ENGINE_NAMES[engine]
    if engine_versions()[name] is None:
        return f"{name} is not installed ({_engine_install_hint(name)})"
    return None


def cluster_shapes(usable_cores):
    """``(n_workers, threads_per_worker)`` shapes of local dask clusters to try.

    All processes, dask's own default for this many cores, and one process
    with all cores as threads: the extremes and what ``LocalCluster()``
    would give.
    """
    from distributed.deploy.utils import nprocesses_nthreads

    return list(dict.fromkeys([(usable_cores, 1), tuple(nprocesses_nthreads(usable_cores)),
                               (1, usable_cores)]))


def _scheduler_address(client):
    with contextlib.suppress(AttributeError):
        return client.scheduler.address
    return None


def check_client(client, *, isolation):
    """Check a user's dask ``Client`` before any timing; return its scheduler address.

    Raises
    ------
    InvalidParameterError
        If ``client`` is not a ``distributed.Client``, or is in-process
        (``processes=False``) while trials run in a worker process.
    EngineError
        If the client is closed, or its scheduler does not answer within
        :data:`CLIENT_TIMEOUT_S`, or it has no worker.
    """
    reason = why_unavailable("dask")
    if reason is not None:
        raise EngineNotAvailableError(
            f"The 'client' parameter of profile needs dask.distributed: {reason}.")
    from distributed import Client

    if not isinstance(client, Client):
        raise InvalidParameterError(
            "The 'client' parameter of profile must be a dask.distributed.Client or "
            f"None. Got {client!r} instead.")
    if client.status != "running":
        raise EngineError(
            f"The dask Client given as 'client' is {client.status!r}, not running: "
            "connect it again (or create a new Client) before profiling.")
    address = _scheduler_address(client)
    try:
        info = client.sync(client._update_scheduler_info, callback_timeout=CLIENT_TIMEOUT_S)
        del info
        n_threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
    except Exception as exc:
        raise EngineError(
            f"The dask scheduler of the Client given as 'client' ({address}) did not "
            f"answer within {CLIENT_TIMEOUT_S:g} s: {type(exc).__name__}: {exc}") from exc
    if n_threads < 1:
        raise EngineError(
            f"The dask cluster of the Client given as 'client' ({address}) has no "
            "worker: there is nothing to run the trials on.")
    if isolation == "process" and (address or "").startswith("inproc://"):
        raise InvalidParameterError(
            f"The 'client' parameter of profile must reach a scheduler that sktune's "
            f"worker process can connect to. Got one at {address} (a cluster with "
            "processes=False lives inside this process): start it with processes=True, "
            "or pass isolation='none'.")
    return address


def check_engines(engines):
    """``profile(engines=...)`` as a tuple of names; InvalidParameterError if bad."""
    if engines is None:
        return ()
    if isinstance(engines, str):
        if engines == "all":
            return ENGINES
        engines = [engines]
    try:
        items = list(engines)
    except TypeError:
        raise InvalidParameterError(
            "The 'engines' parameter of profile must be 'all', a list of str among "
            f"{list(ENGINES)} or None. Got {engines!r} instead.") from None
    for item in items:
        if not isinstance(item, str) or item not in ENGINES:
            raise InvalidParameterError(invalid_choice("engine", item, ENGINES))
    return tuple(dict.fromkeys(items))


def with_engines(candidates, engines, layers, usable_cores, *, isolation,
                 client_address=None):
    """``candidates`` without the engine ones that cannot run here, plus the
    engines' own; returns ``(candidates, excluded, notes)`` as
    :func:`engine_candidates` does."""
    kept, excluded = [], []
    for config in candidates:
        reason = why_not(config, isolation=isolation, client_address=client_address)
        if reason is None:
            kept.append(config)
        else:
            excluded.append((config, reason))
    extra, refused, notes = engine_candidates(engines, layers, usable_cores,
                                              isolation=isolation,
                                              client_address=client_address)
    kept += [config for config in extra if config not in kept]
    return tuple(kept), excluded + refused, notes


def engine_candidates(engines, layers, usable_cores, *, isolation, client_address=None):
    """Candidates of the distributed engines asked for, and those left out, with why.

    Parameters
    ----------
    engines : collection of str
        Among :data:`ENGINES`; "intelex" is handled by :mod:`sktune._intelex`.
    layers : Layers
        The workload's parallel layers; only joblib work can be distributed.
    usable_cores : int
    isolation : {"process", "none"}
    client_address : str, default=None
        The user's dask scheduler: one candidate on it instead of local clusters.

    Returns
    -------
    candidates : list of Config
    excluded : list of (Config, str)
    notes : list of str
    """
    from .space import Config

    candidates, excluded, notes = [], [], []
    wanted = [e for e in ("dask", "ray") if e in engines]
    if wanted and not (layers.joblib or layers.unknown):
        notes.append(f"{' and '.join(wanted)}: nothing in this workload runs through "
                     "joblib, so there is no work for a distributed engine.")
        return candidates, excluded, notes
    if "dask" in wanted:
        reason = why_unavailable("dask")
        if reason is not None:
            excluded.append((Config(backend="dask"), reason))
        elif client_address is not None:
            candidates.append(Config(backend="dask"))
        else:
            candidates += [Config(backend="dask", cluster=shape)
                           for shape in cluster_shapes(usable_cores)]
    if "ray" in wanted:
        config = Config(n_jobs=usable_cores, backend="ray")
        reason = why_not(config, isolation=isolation)
        if reason is not None:
            excluded.append((config, reason))
        else:
            candidates.append(config)
    return candidates, excluded, notes


def why_not(config, *, isolation, client_address=None):
    """Why an engine candidate cannot run here, or None (non-engine configs: None)."""
    if config.backend == "ray":
        if isolation != "process":
            return ("the ray backend patches joblib for the whole process, so its "
                    "trials run only in sktune's worker process (isolation='process')")
        return why_unavailable("ray")
    if config.backend == "dask":
        reason = why_unavailable("dask")
        if reason is None and config.cluster is None and client_address is None:
            reason = ("backend='dask' without a cluster shape needs a dask Client: "
                      "pass profile(client=...), or set Config.cluster")
        return reason
    return None


def _resource_tracker_running():
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_fd", None) is not None


def _stop_resource_tracker(wait_s=2.0):
    """Stop the multiprocessing resource tracker that a LocalCluster started.

    Spawning the nannies starts Python's resource tracker process, which
    would otherwise live as long as this process. Only called when it was
    not running before: then nothing but the closed cluster used it. The
    tracker ends when every holder of its pipe has closed it; CPython's own
    ``_stop`` waits for that without a limit, so this closes our end and
    waits at most ``wait_s`` (the attributes are private, hence the guard).
    """
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    with contextlib.suppress(Exception), tracker._lock:
        fd, pid = tracker._fd, tracker._pid
        if fd is None:
            return
        os.close(fd)
        tracker._fd = tracker._pid = None
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.02)


def _local_cluster(shape, scratch):
    """A ``LocalCluster`` on loopback whose every server writes under ``scratch``.

    Each dask server (scheduler, nanny, worker) makes a ``dask-scratch-space``
    folder for itself, in ``tempfile.gettempdir()`` unless told otherwise
    (``distributed.core.Server``): ``local_directory`` reaches only the
    nannies and workers, so the scheduler gets it too, and dask's
    ``temporary-directory`` points there while the cluster starts, for any
    other server that reads the default. Nothing lands in the user's
    temporary folder; ``scratch`` is deleted with sktune's folder.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"temporary-directory": scratch}):
        return LocalCluster(
            n_workers=shape[0], threads_per_worker=shape[1], processes=True,
            # Loopback only; the scheduler's HTTP routes on a free port
            # (None would still take 8787, clashing with a user's cluster).
            host="127.0.0.1", dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR, local_directory=scratch,
            scheduler_kwargs={"local_directory": scratch})


class Engines:
    """The distributed engines of one process's trials, started on first use.

    Parameters
    ----------
    data : sequence
        Objects scattered once to every dask worker (X and y): tasks that
        receive these very objects get the scattered copy.
    client : distributed.Client, default=None
        The user's client (in the user's process).
    client_address : str, default=None
        The user's scheduler, connected to from sktune's worker process.
    temp_dir : str, default=None
        Where dask workers spill and ray keeps its session; None makes a
        folder that :meth:`close` deletes.
    ray_cpus : int, default=None
        CPUs of the local ray; None lets ray count them.
    stop_tracker : bool, default=True
        Stop the multiprocessing resource tracker on close when a cluster
        started it. sktune's worker process passes False: the tracker ends
        with it.
    """

    def __init__(self, data=(), *, client=None, client_address=None, temp_dir=None,
                 ray_cpus=None, stop_tracker=True):
        self.stop_tracker = stop_tracker
        self.data = [d for d in data if d is not None]
        self.client, self.client_address = client, client_address
        self.ray_cpus = ray_cpus
        self._own_dir = temp_dir is None
        self.temp_dir = temp_dir
        self._clusters = {}  # shape or None -> (cluster or None, client, own client)
        self._backends = {}
        self._ray = None  # True: started here; False: the caller's
        self._tracker_was_running = None
        #: ``(what, seconds)`` of each engine started, for the result's notes.
        self.started = []

    def _folder(self, name):
        if self.temp_dir is None:
            self.temp_dir = tempfile.mkdtemp(prefix="sktune-engines-")
        path = os.path.join(self.temp_dir, name)
        os.makedirs(path, exist_ok=True)
        return path

    # -- dask -----------------------------------------------------------------
    def _dask_client(self, shape):
        if shape in self._clusters:
            return self._clusters[shape][1]
        from distributed import Client

        began = time.perf_counter()
        cluster = None
        if shape is not None:
            if self._tracker_was_running is None:
                self._tracker_was_running = _resource_tracker_running()
            cluster = _local_cluster(shape, self._folder("dask"))
            try:
                client = Client(cluster, set_as_default=False)
            except BaseException:
                cluster.close()
                raise
            what = (f"Starting a dask LocalCluster of {shape[0]} worker(s) x "
                    f"{shape[1]} thread(s)")
        elif self.client is not None:
            client, what = self.client, None  # the user's: used, never closed
        elif self.client_address is not None:
            client = Client(self.client_address, set_as_default=False,
                            timeout=CLIENT_TIMEOUT_S)
            what = f"Connecting to the dask scheduler at {self.client_address}"
        else:
            from distributed import get_client

            client, what = get_client(), None  # the default client, as joblib would
        self._clusters[shape] = (cluster, client, what is not None)
        if what:
            self.started.append((what, time.perf_counter() - began))
        return client

    def _dask_backend(self, config):
        from joblib._dask import DaskDistributedBackend

        key = ("dask", config.cluster)
        if key not in self._backends:
            client = self._dask_client(config.cluster)
            began = time.perf_counter()
            # One backend per cluster, reused by every trial: its scattered
            # copies of X and y stay on the workers between trials.
            self._backends[key] = DaskDistributedBackend(
                client=client, scatter=self.data or None)
            if self.data:
                self.started.append(("Scattering X and y to every dask worker",
                                     time.perf_counter() - began))
        return self._backends[key]

    # -- ray ------------------------------------------------------------------
    def _ray_backend(self):
        if self._ray is None:
            import ray
            from ray.util.joblib import register_ray

            began = time.perf_counter()
            self._ray = not ray.is_initialized()  # a ray the caller started stays up
            if self._ray:
                ray.init(num_cpus=self.ray_cpus, include_dashboard=False,
                         log_to_driver=False, _temp_dir=self._folder("ray"))
                self.started.append(("Starting a local ray", time.perf_counter() - began))
            register_ray()
        return "ray"

    def backend(self, config):
        """The joblib backend to run ``config`` under, or None for a local backend.

        Raises
        ------
        EngineNotAvailableError
            When the engine is not installed.
        """
        if config.backend in _ENGINE_NAMES:
            reason = why_unavailable(config.backend)
            if reason is not None:
                raise EngineNotAvailableError(
                    f"{config} cannot run here: {reason}.")
        if config.backend == "dask":
            return self._dask_backend(config)
        if config.backend == "ray":
            return self._ray_backend()
        return None

    def close(self):
        """Release scattered data, close sktune's clients and clusters, stop ray."""
        errors = []
        for backend in self._backends.values():
            for future in getattr(backend, "data_futures", {}).values():
                with contextlib.suppress(Exception):
                    future.release()
            with contextlib.suppress(AttributeError):
                backend.data_futures, backend._scatter = {}, []
        self._backends.clear()
        # LocalCluster restores the log level that silence_logs lowered
        # before its nannies say goodbye: keep them quiet while closing.
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            self._close_clusters(errors)
        finally:
            quiet.setLevel(level)
        if self._tracker_was_running is False and self.stop_tracker:
            _stop_resource_tracker()
        self._tracker_was_running = None
        if self._ray:
            import ray

            try:
                ray.shutdown()
            except Exception as exc:
                errors.append(f"ray: {exc}")
        self._ray = None
        if self._own_dir and self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None
        for error in errors:
            logger.warning("sktune: closing an engine failed: %s", error)

    def _close_clusters(self, errors):
        for cluster, client, own in self._clusters.values():
            for closable in ((client,) if own else ()) + ((cluster,) if cluster else ()):
                try:
                    closable.close(timeout=CLIENT_TIMEOUT_S)
                except Exception as exc:
                    errors.append(f"{type(closable).__name__}: {exc}")
        self._clusters.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
