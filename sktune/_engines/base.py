"""The contract of an optional engine: one class says everything sktune knows of it.

An engine is something beyond joblib's local backends that a pipeline can
run on: a joblib backend that needs a running service (dask, ray), or
replacements of steps by another library's estimators
(scikit-learn-intelex). An :class:`Engine` subclass holds, in one place:

* where it comes from: the optional package, found without importing it,
  and the command that installs it;
* what a configuration using it looks like: the joblib backend name or the
  :class:`~sktune.Config` field it owns, the cross-field rules of that
  field, how many cores it keeps busy and how to say it in words;
* which candidates it adds to a profile, and why one cannot run here;
* how a trial runs on it: an instance, made on first use by
  :class:`~sktune._engines.EngineSession`, starts what the trials need
  (outside every timing) and closes it.

Candidates are derived from the candidates a profile already has (with
:func:`dataclasses.replace`), so this package never imports
:mod:`sktune.space`: ``Config`` can ask the engines about itself without an
import cycle. Adding an engine is one new subclass, listed in
:data:`sktune._engines.ENGINES` (the model is joblib's
``EXTERNAL_BACKENDS``).
"""


class Engine:
    """Base class of the optional engines; every hook has a neutral default.

    Attributes
    ----------
    name : str
        Registry key, as ``profile(engines=[...])`` takes it.
    package : OptionalPackage
        Where the engine comes from.
    backend : str or None
        The joblib backend name its configurations set, or None.
    field : str or None
        The :class:`~sktune.Config` field only its configurations set, or None.
    process_workers : bool
        Whether its workers are other processes, which thread limits set in
        the calling process do not reach (PITFALLS.md section 3.4).
    sizes_itself : bool
        Whether the engine's own cluster decides the parallelism, so that
        ``n_jobs`` and the thread counts of the calling process mean
        nothing to it: a space gets one candidate per value of its field.
    """

    name = None
    package = None
    backend = None
    field = None
    process_workers = False
    sizes_itself = False

    # -- availability ---------------------------------------------------------
    @classmethod
    def why_unavailable(cls):
        """None when the engine can be used here, else a one-line reason."""
        return cls.package.why_unavailable()

    # -- configurations -------------------------------------------------------
    @classmethod
    def uses(cls, config):
        """Whether ``config`` runs on this engine."""
        return ((cls.backend is not None and config.backend == cls.backend)
                or (cls.field is not None and getattr(config, cls.field) is not None))

    @classmethod
    def check(cls, config):
        """Raise :class:`~sktune.exceptions.InvalidConfigError` if ``config``'s
        fields contradict each other for this engine; the default accepts all."""

    @classmethod
    def cores(cls, config, usable_cores):
        """Cores ``config`` keeps busy, or None to count it as a local backend."""
        return None

    @classmethod
    def threads(cls, config):
        """Threads ``config`` asks for, or None to count it as a local backend."""
        return None

    @classmethod
    def describe(cls, config):
        """Phrases that say what ``config`` sets for this engine (a list of str)."""
        return []

    @classmethod
    def auto_values(cls, usable_cores):
        """The values of :attr:`field` that ``ConfigSpace(field="auto")`` tries."""
        return [None]

    @classmethod
    def configure(cls, estimator, config):
        """``estimator`` (an unfitted clone) changed as ``config`` asks; unchanged by default."""
        return estimator

    # -- candidates -----------------------------------------------------------
    @classmethod
    def candidates(cls, estimator, candidates, layers, usable_cores, *, isolation,
                   client_address=None):
        """The candidates this engine adds to a profile.

        Parameters
        ----------
        estimator : estimator instance
            sktune's seeded copy of the user's estimator.
        candidates : tuple of Config
            The profile's candidates so far, the as-written baseline first.
        layers : Layers
        usable_cores : int
        isolation : {"process", "none"}
        client_address : str, default=None
            The user's dask scheduler.

        Returns
        -------
        added : list of Config
        excluded : list of (Config, str)
        notes : list of str
        """
        return [], [], []

    @classmethod
    def why_not(cls, config, *, isolation, client_address=None):
        """Why ``config`` (which uses this engine) cannot run here, or None."""
        return cls.why_unavailable()

    # -- running ----------------------------------------------------------------
    def __init__(self, session):
        self.session = session

    def joblib_backend(self, config):
        """The backend to give ``parallel_config`` for ``config``, started if needed."""
        return None

    def close(self):
        """Stop what this engine started; return the errors, one str each."""
        return []
