"""scikit-learn-intelex: steps replaced by their oneDAL versions (``Config.intelex_steps``).

``profile(..., engines=["intelex"])`` measures these substitutions as extra
candidates; :meth:`sktune.Config.configure` applies them to a clone. A step
qualifies when its exact type (not a user's subclass, which may override
what oneDAL would replace) is one that scikit-learn-intelex's own patch map
(:func:`sklearnex.get_patch_map`) pairs with an estimator of
:mod:`sklearnex`, and that estimator accepts every parameter of the step.
The replacement is a new ``sklearnex`` estimator with the step's
parameters; :func:`sklearnex.patch_sklearn` is never called, so the user's
session is left unpatched.

:mod:`sklearnex` is imported only inside these functions: it loads oneDAL
(about 0.1 s once scikit-learn is imported), whose TBB worker threads start
with the first oneDAL call and stay for the life of the process.
"""

import functools
from dataclasses import replace

from .._estimators import iter_estimators
from .._optional import OptionalPackage
from ..exceptions import EngineNotAvailableError, InvalidConfigError
from .base import Engine

#: Longest quote of an import error kept in the one-line reason.
_MAX_QUOTE = 120


def _quote(exc):
    text = " ".join(str(exc).split()) or "no message"
    if len(text) > _MAX_QUOTE:
        text = text[:_MAX_QUOTE - 3] + "..."
    return f"{type(exc).__name__}: {text}"


@functools.lru_cache(maxsize=None)
def _equivalents():
    """``{scikit-learn class: sklearnex class}`` for every patched estimator class."""
    from sklearn.base import BaseEstimator
    from sklearnex import get_patch_map

    found = {}
    for entry in get_patch_map().values():
        # (module, name, sklearnex object, scikit-learn object); functions,
        # the config helpers and estimators without a stock twin are skipped.
        if not (isinstance(entry, tuple) and len(entry) == 4):
            continue
        new, stock = entry[2], entry[3]
        if (isinstance(new, type) and isinstance(stock, type)
                and issubclass(stock, BaseEstimator) and new is not stock):
            found[stock] = new
    return found


def _intelex_class(step):
    """The sklearnex class that can replace ``step`` with its parameters, or None."""
    new = _equivalents().get(type(step))
    if new is None:
        return None
    params = step.get_params(deep=False)
    try:
        accepted = new(**params).get_params(deep=False)
    except TypeError:
        return None
    return new if set(accepted) >= set(params) else None


def _known():
    return sorted({cls.__name__ for cls in _equivalents()})


def substitute_one(step):
    """The scikit-learn-intelex equivalent of one step: a new, unfitted estimator.

    Raises
    ------
    InvalidConfigError
        When scikit-learn-intelex has no equivalent accepting its parameters.
    """
    new = _intelex_class(step)
    if new is None:
        raise InvalidConfigError(
            f"scikit-learn-intelex has no equivalent of {type(step).__name__} (an "
            f"exact scikit-learn class with the same parameters); known: {_known()}.")
    return new(**step.get_params(deep=False))


def _outer_joblib(estimator, steps):
    """True if a joblib level outside the replaced steps parallelises around them."""
    from .._introspect import inspect_layers

    own = {"n_jobs" if path == "" else f"{path}__n_jobs" for path in steps}
    return any(key not in own for key in inspect_layers(estimator).n_jobs_params)


class IntelexEngine(Engine):
    """Steps replaced by their scikit-learn-intelex (oneDAL) versions."""

    name = "intelex"
    package = OptionalPackage(display="scikit-learn-intelex", module="sklearnex",
                              distribution="scikit-learn-intelex", extra="intel")
    field = "intelex_steps"

    @classmethod
    def why_unavailable(cls):
        """Why scikit-learn-intelex cannot be used here, or None when it can.

        One line, with the install command when the package is missing and
        a short quote of the error when it is installed but fails to import
        (e.g. a oneDAL or scikit-learn version it does not support).
        """
        try:
            import sklearnex  # noqa: F401
            from sklearnex import get_patch_map  # noqa: F401
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in ("sklearnex", "daal4py", "onedal"):
                return f"scikit-learn-intelex is not installed ({cls.package.install_hint})"
            return f"scikit-learn-intelex does not import: {_quote(exc)}"
        except Exception as exc:  # an ABI or version mismatch raises anything
            return f"scikit-learn-intelex does not import: {_quote(exc)}"
        return None

    @classmethod
    def find_steps(cls, estimator):
        """Paths of the steps of ``estimator`` that scikit-learn-intelex can replace.

        Parameters
        ----------
        estimator : estimator instance

        Returns
        -------
        paths : list of str
            ``set_params`` paths (``""`` for the estimator itself) to put in
            ``Config.intelex_steps``. Empty when it is not installed.
        """
        if cls.why_unavailable() is not None:
            return []
        return [path for path, step in iter_estimators(estimator)
                if _intelex_class(step) is not None]

    @classmethod
    def describe(cls, config):
        steps = ", ".join(p or "the estimator" for p in config.intelex_steps)
        return [f"scikit-learn-intelex for {steps}"]

    @classmethod
    def configure(cls, estimator, config):
        """``estimator`` (a clone) with the steps at ``config.intelex_steps`` replaced.

        Raises
        ------
        EngineNotAvailableError
            When scikit-learn-intelex cannot be imported.
        InvalidConfigError
            When a path is not a step, or its step has no equivalent.
        """
        from .._substitutes import substitute_steps

        reason = cls.why_unavailable()
        if reason is not None:
            raise EngineNotAvailableError(f"Config.intelex_steps is set, but {reason}.")
        return substitute_steps(estimator, config.intelex_steps, substitute=substitute_one,
                                field="intelex_steps")

    @classmethod
    def candidates(cls, estimator, candidates, layers, usable_cores, *, isolation,
                   client_address=None):
        """Twins of a few candidates with the replaceable steps replaced.

        Returns no exclusion: when no twin is possible the reason is a note.
        """
        reason = cls.why_unavailable()
        if reason is not None:
            return [], [], [f"scikit-learn-intelex: {reason}."]
        steps = tuple(cls.find_steps(estimator))
        if not steps:
            return [], [], [
                "scikit-learn-intelex: no step has an equivalent (an exact scikit-learn "
                f"class among {_known()} with parameters it accepts)."]
        # oneDAL runs the replaced steps in its own TBB pool, not through
        # joblib, so twinning every backend candidate would time the same
        # thing again. Its thread count is the step's n_jobs or, when that is
        # None, the OpenMP limit of the calling thread (daal4py's
        # _run_with_n_jobs), else all cores. Hence at most three twins:
        # * the as-written candidate: oneDAL on all cores, as patch_sklearn gives;
        # * openmp_threads=1: oneDAL (and scikit-learn's OpenMP) on one thread,
        #   which can win on small data, where waking TBB workers costs more
        #   than they save (a step whose n_jobs is set as written keeps it);
        # * the first loky candidate, only when a joblib level outside the
        #   replaced steps (a search, a ColumnTransformer) parallelises
        #   around them: loky caps each worker's OpenMP, and so oneDAL, at
        #   its share.
        # Never the threading backend (sklearnex warns off worker threads and
        # ignores n_jobs there) nor multiprocessing (TBB threads exist before
        # the fork).
        baseline = candidates[0]
        bases = [baseline]
        if usable_cores > 1:
            bases.append(replace(baseline, openmp_threads=1))
        if _outer_joblib(estimator, steps):
            bases += [c for c in candidates
                      if c.backend == "loky" and (c.n_jobs or 1) > 1][:1]
        twins = [replace(c, intelex_steps=steps) for c in bases]
        twins = [t for t in dict.fromkeys(twins) if t not in candidates]
        names = ", ".join(repr(path) if path else "the estimator" for path in steps)
        ways = [str(replace(t, intelex_steps=None)) for t in twins]
        notes = [f"scikit-learn-intelex: {names} also measured as its oneDAL version "
                 f"(same parameters): {'; '.join(ways)}."]
        return twins, [], notes
