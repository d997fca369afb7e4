"""The optional engines sktune can measure, in one table, and the engines of one run.

:data:`ENGINES` maps each engine's name to its :class:`~sktune._engines.base.Engine`
class (dask, ray, scikit-learn-intelex); every place that names an engine
(``profile(engines=...)``, the backends ``Config`` accepts, the cores a
configuration uses, pruning a space, ``sktune info``, applying a
configuration) asks this table. :class:`EngineSession` owns the engines
that one process's trials use: each is started on first use, outside any
timing, and everything is closed by :meth:`EngineSession.close`, on every
exit path.
"""

import logging
import os
import shutil
import tempfile

from .._validation import invalid_choice
from ..exceptions import EngineNotAvailableError, InvalidParameterError
from .base import Engine
from .dask import CLIENT_TIMEOUT_S, DaskEngine
from .intelex import IntelexEngine
from .ray import RayEngine

__all__ = ["CLIENT_TIMEOUT_S", "ENGINES", "ENGINE_BACKENDS", "DaskEngine", "Engine",
           "EngineSession", "IntelexEngine", "RayEngine", "backend_engine", "check_engines",
           "engines_of"]

logger = logging.getLogger("sktune")

#: Engine name -> class, in the order their candidates are added.
ENGINES = {cls.name: cls for cls in (DaskEngine, RayEngine, IntelexEngine)}

#: The joblib backend names the engines add to joblib's local ones.
ENGINE_BACKENDS = tuple(cls.backend for cls in ENGINES.values() if cls.backend)


def engines_of(config):
    """The engine classes ``config`` uses (most configurations: none)."""
    return [cls for cls in ENGINES.values() if cls.uses(config)]


def backend_engine(backend):
    """The engine class that provides joblib backend ``backend``, or None."""
    if backend is None:
        return None
    return next((cls for cls in ENGINES.values() if cls.backend == backend), None)


def check_engines(engines):
    """``profile(engines=...)`` as a tuple of names; InvalidParameterError if bad."""
    if engines is None:
        return ()
    if isinstance(engines, str):
        if engines == "all":
            return tuple(ENGINES)
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


class EngineSession:
    """The engines of one process's trials, started on first use, closed together.

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
        Where dask servers keep their scratch space and ray its session;
        None makes a folder that :meth:`close` deletes.
    ray_cpus : int, default=None
        CPUs of the local ray; None lets ray count them.
    stop_tracker : bool, default=True
        Stop the multiprocessing resource tracker on close when a cluster
        started it. sktune's worker process passes False: the tracker ends
        with it.

    Attributes
    ----------
    started : list of (str, float)
        What each engine started, and the seconds it took, for the notes.
    """

    def __init__(self, data=(), *, client=None, client_address=None, temp_dir=None,
                 ray_cpus=None, stop_tracker=True):
        self.data = [d for d in data if d is not None]
        self.client, self.client_address = client, client_address
        self.ray_cpus = ray_cpus
        self.stop_tracker = stop_tracker
        self._own_dir = temp_dir is None
        self.temp_dir = temp_dir
        self._running = {}  # name -> Engine instance
        self.started = []

    def folder(self, name):
        """``<temp_dir>/<name>``, created (with ``temp_dir`` itself) if missing."""
        if self.temp_dir is None:
            self.temp_dir = tempfile.mkdtemp(prefix="sktune-engines-")
        path = os.path.join(self.temp_dir, name)
        os.makedirs(path, exist_ok=True)
        return path

    def backend(self, config):
        """The joblib backend to run ``config`` under, or None for a local backend.

        Raises
        ------
        EngineNotAvailableError
            When the engine is not installed.
        """
        cls = backend_engine(config.backend)
        if cls is None:
            return None
        reason = cls.why_unavailable()
        if reason is not None:
            raise EngineNotAvailableError(f"{config} cannot run here: {reason}.")
        if cls.name not in self._running:
            self._running[cls.name] = cls(self)
        return self._running[cls.name].joblib_backend(config)

    def close(self):
        """Close every engine started, then delete sktune's own folder."""
        errors = []
        try:
            for engine in self._running.values():
                errors += engine.close()
            self._running.clear()
        finally:
            if self._own_dir and self.temp_dir is not None:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                self.temp_dir = None
        for error in errors:
            logger.warning("sktune: closing an engine failed: %s", error)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
