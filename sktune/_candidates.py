"""The candidate list of one profile: every configuration to time, and those left out.

Before any timing, :func:`plan` seeds sktune's copy of the estimator (so
outputs are comparable), asks it which parallel layers it uses
(:mod:`sktune._introspect`), resolves the space for this estimator and
machine (:meth:`sktune.ConfigSpace.resolve`), then adds the candidates the
caller asked for beyond joblib and thread counts: compiled twins of
substitutable steps (``accelerate=True``, :mod:`sktune._substitutes`) and
the optional engines' own (``engines=[...]``, :mod:`sktune._engines`),
dropping those that cannot run here, each with the reason. This is the one
module that builds candidates; it sits above :mod:`sktune.space`, so
nothing that ``Config`` uses has to know it.
"""

import dataclasses

from sklearn.base import clone

from ._compat import openmp_effective_n_threads
from ._engines import ENGINES, engines_of
from ._introspect import inspect_layers, unseeded_params
from .machine import physical_cores, usable_cores
from .space import Config


@dataclasses.dataclass
class Plan:
    """What is known about a workload before any timing.

    Attributes
    ----------
    seeded : estimator instance
        sktune's copy of the estimator, every ``random_state=None`` seeded.
    layers : Layers
    candidates : tuple of Config
        The as-written baseline first.
    excluded : list of (Config, str)
    notes : list of str
    why_alone : str or None
        Why the baseline is the only candidate, when it is.
    """

    seeded: object
    layers: object
    candidates: tuple
    excluded: list
    notes: list
    why_alone: str = None

    @property
    def may_use_loky(self):
        """Whether a configuration without a backend may use the loky pool."""
        return "processes" in self.layers.joblib_hints or bool(self.layers.unknown)


def _blas_libraries():
    from threadpoolctl import threadpool_info

    return [info for info in threadpool_info() if info["user_api"] == "blas"]


def _default_threads(blas_libraries):
    """Thread counts that apply when nothing is set (the as-written ones)."""
    blas = {info["num_threads"] for info in blas_libraries}
    return {"blas_threads": blas.pop() if len(blas) == 1 else None,
            "openmp_threads": openmp_effective_n_threads()}


def explicit_counts_candidate(space, layers, defaults, libraries):
    """The candidate "same BLAS thread count, set explicitly", or None.

    Where more than one BLAS library is loaded (numpy's and scipy's own
    OpenBLAS, each with its own pool), setting every one of them to the
    count already in force was measured to make a Ridge pipeline 1.27x
    faster and steadier (issue 21), while the pruning rules drop a count
    equal to the one in force as the baseline again. This one candidate,
    the as-written configuration with that count set, lets a profile find
    the effect; it is recommended like any other when it wins. Only for a
    space whose ``blas_threads`` is "auto" and a workload that uses BLAS.
    """
    count = defaults.get("blas_threads")
    if (space.dimensions.get("blas_threads") != "auto" or not layers.blas
            or len(libraries) < 2 or count is None):
        return None
    return Config(blas_threads=count)


def _why_alone(layers, resolved):
    """A note on why the as-written configuration is the only candidate."""
    if resolved.excluded:
        return "Every other candidate was left out; see 'Not run'."
    if not (layers.joblib or layers.openmp or layers.blas):
        return ("Nothing in this workload uses joblib, OpenMP or BLAS: there is no "
                "setting for sktune to tune.")
    return "The space held no candidate other than the as-written configuration."


def accelerated_candidates(estimator, X, candidates):
    """Add compiled variants of the candidates (``accelerate=True``).

    Every candidate gets a twin with all substitutable steps compiled; with
    several such steps, each one alone is also tried on the as-written
    configuration, so that one slower substitute cannot hide behind a faster
    one. Returns the candidates, the refused substitutions and notes.
    """
    from ._substitutes import find_substitutions

    paths, refused, notes = find_substitutions(estimator, X)
    excluded = [(Config(compiled_steps=(path,)), reason) for path, reason in refused]
    if not paths:
        if not refused:
            notes.append("accelerate=True: no step has a compiled equivalent in sktune "
                         "(scikit-learn's StandardScaler, MinMaxScaler, Normalizer, "
                         "PolynomialFeatures, or a FunctionTransformer of a Python "
                         "function).")
        return tuple(candidates), excluded, notes
    # sktune's kernels and Numba start OpenMP threads in this process; a
    # multiprocessing trial after them forks after OpenMP (checklist 10).
    forking = [c for c in candidates if c.backend == "multiprocessing"]
    candidates = [c for c in candidates if c.backend != "multiprocessing"]
    excluded += [(c, "the compiled substitutes of accelerate=True run OpenMP threads in "
                     "this process, and the multiprocessing backend would fork after "
                     "them (the GNU OpenMP runtime can deadlock the child)")
                 for c in forking]
    steps = tuple(paths)
    extra = [dataclasses.replace(c, compiled_steps=steps) for c in candidates]
    if len(steps) > 1:
        extra += [Config(compiled_steps=(path,)) for path in steps]
    return tuple(candidates) + tuple(extra), excluded, notes


def engine_candidates(estimator, candidates, engines, layers, usable, *, isolation,
                      client_address=None):
    """``candidates`` without the engine ones that cannot run here, plus the
    candidates of the ``engines`` asked for; returns ``(candidates, excluded, notes)``."""
    kept, excluded, notes = [], [], []
    for config in candidates:
        reasons = [cls.why_not(config, isolation=isolation, client_address=client_address)
                   for cls in engines_of(config)]
        reason = next((r for r in reasons if r), None)
        if reason is None:
            kept.append(config)
        else:
            excluded.append((config, reason))
    wanted = [ENGINES[name] for name in ENGINES if name in engines]
    backends = [cls for cls in wanted if cls.backend]
    if backends and not (layers.joblib or layers.unknown):
        # Only joblib work can be distributed: said once for all of them.
        notes.append(f"{' and '.join(cls.name for cls in backends)}: nothing in this "
                     "workload runs through joblib, so there is no work for a "
                     "distributed engine.")
        wanted = [cls for cls in wanted if not cls.backend]
    for cls in wanted:
        added, refused, said = cls.candidates(estimator, tuple(kept), layers, usable,
                                              isolation=isolation,
                                              client_address=client_address)
        kept += [config for config in added if config not in kept]
        excluded += refused
        notes += said
    return tuple(kept), excluded, notes


def plan(estimator, X, y, task, space, *, random_state, accelerate=False, engines=(),
         isolation="process", client_address=None):
    """Seed sktune's copy, find the parallel layers, resolve the candidates.

    Returns
    -------
    plan : Plan
    """
    notes = []
    seeded = clone(estimator)
    unseeded = unseeded_params(seeded)
    if unseeded:
        seeded.set_params(**dict.fromkeys(unseeded, random_state))
        notes.append(f"random_state=None ({', '.join(unseeded)}) was set to "
                     f"{random_state} on sktune's copy so that outputs can be "
                     "compared; your estimator is unchanged.")
    layers = inspect_layers(seeded, X, y, task)
    notes += layers.notes
    params = seeded.get_params(deep=True)
    usable = usable_cores()
    # One look at the loaded BLAS libraries serves the defaults, the explicit
    # candidate and its note.
    libraries = _blas_libraries()
    defaults = _default_threads(libraries)
    resolved = space.resolve(
        layers, usable_cores=usable, physical_cores=physical_cores(),
        defaults=defaults,
        as_written_n_jobs=[params[k] for k in layers.n_jobs_params])
    candidates, excluded = resolved.candidates, list(resolved.excluded)
    explicit = explicit_counts_candidate(space, layers, defaults, libraries)
    if explicit is not None and explicit not in candidates:
        candidates = (*candidates, explicit)
        notes.append(f"{len(libraries)} BLAS libraries are loaded, each with its own "
                     f"thread pool: {explicit.describe()} (the count in force, set "
                     "explicitly on every one of them) is measured as a candidate of "
                     "its own.")
    if accelerate:
        candidates, refused, compile_notes = accelerated_candidates(seeded, X, candidates)
        excluded += refused
        notes += compile_notes
    candidates, refused, engine_notes = engine_candidates(
        seeded, candidates, engines, layers, usable, isolation=isolation,
        client_address=client_address)
    excluded += refused
    notes += engine_notes
    result = Plan(seeded, layers, tuple(candidates), excluded, notes)
    if len(candidates) == 1:
        result.why_alone = _why_alone(layers, resolved)
        notes.append(result.why_alone)
    return result
