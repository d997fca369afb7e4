"""dask.distributed behind joblib: local clusters on loopback, or the user's Client.

``Config(backend="dask", cluster=(n_workers, threads_per_worker))`` runs the
joblib work on a ``LocalCluster`` of that shape that sktune starts (outside
every timing) and closes; ``Config(backend="dask")`` runs it on the user's
``Client`` (``profile(client=...)``) or on the default one. The data is
scattered to every dask worker once per cluster, not once per task or per
trial. Dask's nanny starts its workers with one BLAS/OpenMP thread each, so
thread limits set in the calling process do not reach them, and ``n_jobs``
is ignored (the cluster's cores decide; PITFALLS.md section 2.1).

Every dask server (scheduler, nanny, worker) makes a ``dask-scratch-space``
folder for itself, in the temporary folder unless told otherwise; the
clusters sktune starts keep theirs in sktune's own folder, which is deleted
with the session, also when a worker process is killed.
"""

import contextlib
import logging
import time
from dataclasses import replace

from .._compat import (
    dask_backend_class,
    refresh_scheduler_info,
    release_scattered,
    resource_tracker_running,
    stop_resource_tracker,
)
from .._optional import OptionalPackage
from ..exceptions import (
    EngineError,
    EngineNotAvailableError,
    InvalidConfigError,
    InvalidParameterError,
)
from .base import Engine

#: Seconds allowed for a user's dask scheduler to answer before any timing.
CLIENT_TIMEOUT_S = 10.0


def _scheduler_address(client):
    with contextlib.suppress(AttributeError):
        return client.scheduler.address
    return None


def _local_cluster(shape, scratch):
    """A ``LocalCluster`` on loopback whose every server writes under ``scratch``.

    ``local_directory`` reaches only the nannies and workers, so the
    scheduler gets it too, and dask's ``temporary-directory`` points there
    while the cluster starts, for any other server that reads the default
    (``distributed.core.Server``).
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


class DaskEngine(Engine):
    """joblib's dask backend, on local clusters sktune starts or on the user's."""

    name = "dask"
    package = OptionalPackage(display="dask.distributed", module="distributed",
                              distribution="distributed", extra="dask")
    backend = "dask"
    field = "cluster"
    process_workers = True
    # Dask ignores n_jobs (the cluster's cores decide), and its nannies start
    # workers with one BLAS/OpenMP thread each (PITFALLS.md 2.1).
    sizes_itself = True

    # -- configurations -------------------------------------------------------
    @classmethod
    def check(cls, config):
        if config.cluster is not None and config.backend != cls.backend:
            raise InvalidConfigError(
                "The 'cluster' parameter of Config must be None unless backend='dask'. "
                f"Got {config.cluster!r} with backend={config.backend!r} instead.")

    @classmethod
    def cores(cls, config, usable_cores):
        # The cluster's threads, whatever n_jobs says; a user's cluster (no
        # shape) counts as every core here.
        shape = config.cluster or (usable_cores, 1)
        return min(usable_cores, shape[0] * shape[1])

    @classmethod
    def threads(cls, config):
        return None if config.cluster is None else config.cluster[0] * config.cluster[1]

    @classmethod
    def describe(cls, config):
        if config.cluster is None:
            return []
        return [f"a local cluster of {config.cluster[0]} worker(s) x "
                f"{config.cluster[1]} thread(s)"]

    @classmethod
    def auto_values(cls, usable_cores):
        """``(n_workers, threads_per_worker)`` shapes of local clusters to try.

        All processes, dask's own default for this many cores, and one
        process with all cores as threads: the extremes and what
        ``LocalCluster()`` would give.
        """
        from distributed.deploy.utils import nprocesses_nthreads

        return list(dict.fromkeys([(usable_cores, 1), tuple(nprocesses_nthreads(usable_cores)),
                                   (1, usable_cores)]))

    # -- candidates -----------------------------------------------------------
    @classmethod
    def candidates(cls, estimator, candidates, layers, usable_cores, *, isolation,
                   client_address=None):
        baseline = candidates[0]
        reason = cls.why_unavailable()
        if reason is not None:
            return [], [(replace(baseline, backend=cls.backend), reason)], []
        if client_address is not None:
            return [replace(baseline, backend=cls.backend)], [], []
        return [replace(baseline, backend=cls.backend, cluster=shape)
                for shape in cls.auto_values(usable_cores)], [], []

    @classmethod
    def why_not(cls, config, *, isolation, client_address=None):
        reason = cls.why_unavailable()
        if reason is None and config.cluster is None and client_address is None:
            reason = ("backend='dask' without a cluster shape needs a dask Client: "
                      "pass profile(client=...), or set Config.cluster")
        return reason

    @classmethod
    def check_client(cls, client, *, isolation):
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
        reason = cls.why_unavailable()
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
            refresh_scheduler_info(client, CLIENT_TIMEOUT_S)
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

    # -- running ----------------------------------------------------------------
    def __init__(self, session):
        super().__init__(session)
        self._clusters = {}  # shape or None -> (cluster or None, client, own client)
        self._backends = {}  # shape or None -> DaskDistributedBackend
        self._tracker_was_running = None

    def _client(self, shape):
        if shape in self._clusters:
            return self._clusters[shape][1]
        from distributed import Client

        session = self.session
        began = time.perf_counter()
        cluster = None
        if shape is not None:
            if self._tracker_was_running is None:
                self._tracker_was_running = resource_tracker_running()
            cluster = _local_cluster(shape, session.folder("dask"))
            try:
                client = Client(cluster, set_as_default=False)
            except BaseException:
                cluster.close()
                raise
            what = (f"Starting a dask LocalCluster of {shape[0]} worker(s) x "
                    f"{shape[1]} thread(s)")
        elif session.client is not None:
            client, what = session.client, None  # the user's: used, never closed
        elif session.client_address is not None:
            client = Client(session.client_address, set_as_default=False,
                            timeout=CLIENT_TIMEOUT_S)
            what = f"Connecting to the dask scheduler at {session.client_address}"
        else:
            from distributed import get_client

            client, what = get_client(), None  # the default client, as joblib would
        self._clusters[shape] = (cluster, client, what is not None)
        if what:
            session.started.append((what, time.perf_counter() - began))
        return client

    def joblib_backend(self, config):
        shape = config.cluster
        if shape not in self._backends:
            client = self._client(shape)
            began = time.perf_counter()
            # One backend per cluster, reused by every trial: its scattered
            # copies of X and y stay on the workers between trials.
            data = self.session.data
            self._backends[shape] = dask_backend_class()(client=client,
                                                         scatter=data or None)
            if data:
                self.session.started.append(("Scattering X and y to every dask worker",
                                             time.perf_counter() - began))
        return self._backends[shape]

    def close(self):
        errors = []
        for backend in self._backends.values():
            release_scattered(backend)
        self._backends.clear()
        # LocalCluster restores the log level that silence_logs lowered
        # before its nannies say goodbye: keep them quiet while closing.
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            for cluster, client, own in self._clusters.values():
                for closable in ((client,) if own else ()) + ((cluster,) if cluster else ()):
                    try:
                        closable.close(timeout=CLIENT_TIMEOUT_S)
                    except Exception as exc:
                        errors.append(f"{type(closable).__name__}: {exc}")
            self._clusters.clear()
        finally:
            quiet.setLevel(level)
        if self._tracker_was_running is False and self.session.stop_tracker:
            # Spawning the nannies started Python's resource tracker, which
            # would otherwise live as long as this process; only this
            # cluster used it.
            stop_resource_tracker()
        self._tracker_was_running = None
        return errors
