"""Argument validation with scikit-learn's wording, raising sktune's errors.

Every public function declares its arguments' constraints in one table, in
the format of ``sklearn.utils._param_validation`` (types, ``Interval``,
``StrOptions``, ``None``, ``"boolean"``, ...), and :func:`validated` checks
them before the function runs: errors read ``The 'budget' parameter of
profile must be a str among {...} or a float in the range (0, inf). Got -1
instead.`` and are :class:`~sktune.exceptions.InvalidParameterError`. The
table stays on the function (``func._sktune_parameter_constraints``), the
way scikit-learn keeps ``_skl_parameter_constraints``, so that
``tests/test_public_functions.py`` checks every public function at once.
What scikit-learn's constraints cannot say (a list of names among a
registry, a number that is not a bool) is a :class:`Rule`: a test and the
words that describe it.
"""

import functools
import inspect
from numbers import Integral, Real

from ._compat import ConstraintBase, Interval, make_constraint
from .exceptions import InvalidParameterError

#: Where a function's constraints table is kept.
CONSTRAINTS_ATTRIBUTE = "_sktune_parameter_constraints"


class Rule(ConstraintBase):
    """A constraint given as a test and the words that describe it.

    Parameters
    ----------
    test : callable
        ``test(value) -> bool``.
    description : str
        How the message says it: ``"a list of str among ['dask', 'ray']"``.
    invalid : object, default=None
        A value that breaks the rule, for the meta-test of public functions.
    """

    def __init__(self, test, description, invalid=None):
        super().__init__()
        self.test, self.description, self.invalid = test, description, invalid

    def is_satisfied_by(self, val):
        return bool(self.test(val))

    def __str__(self):
        return self.description


def number(kind, left, right, closed):
    """``Interval(kind, left, right, closed=closed)`` that refuses bools.

    scikit-learn's ``Interval`` accepts ``True`` as the number 1; a
    ``budget=True`` or ``n_jobs=True`` is a mistake worth naming. The words
    are scikit-learn's: ``a float in the range (0, inf)``.
    """
    interval = Interval(kind, left, right, closed=closed)
    low = "[" if closed in ("left", "both") else "("
    high = "]" if closed in ("right", "both") else ")"
    what = "an int" if kind is Integral else "a float"
    words = (f"{what} in the range {low}{'-inf' if left is None else left}, "
             f"{'inf' if right is None else right}{high}")
    invalid = (left - 1) if left is not None else (right + 1)
    return Rule(lambda value: not isinstance(value, bool) and interval.is_satisfied_by(value),
                words, invalid=invalid)


def one_of(choices):
    """A str among ``choices``, listed sorted (scikit-learn's ``StrOptions``
    lists a set, in an order that changes from one process to the next)."""
    choices = sorted(choices)
    return Rule(lambda value: isinstance(value, str) and value in choices,
                f"a str among {choices}", invalid="?")


#: An int in [1, inf), not a bool: counts of workers and threads.
POSITIVE_INT = number(Integral, 1, None, "left")
#: A non-negative int, not a bool: seeds, verbosity.
NON_NEGATIVE_INT = number(Integral, 0, None, "left")
#: A positive float, not a bool: seconds.
POSITIVE_SECONDS = number(Real, 0, None, "neither")


def names_among(choices):
    """A list (or tuple) of str, each one of ``choices``: ``profile(engines=[...])``."""
    choices = sorted(choices)
    return Rule(lambda value: isinstance(value, (list, tuple))
                and all(isinstance(v, str) and v in choices for v in value),
                f"a list of str among {choices}", invalid=["?"])


def subclass_of(base, where):
    """A class that subclasses ``base`` (named ``where`` in the message)."""
    return Rule(lambda value: isinstance(value, type) and issubclass(value, base),
                f"a subclass of {where}", invalid=int)


#: A registry key: a non-empty lowercase str.
REGISTRY_NAME = Rule(lambda value: isinstance(value, str) and value != ""
                     and value == value.lower(), "a non-empty lowercase str", invalid="Bad")


def validate_params(constraints, params, caller_name):
    """Check ``params`` against ``constraints``; raise InvalidParameterError.

    Parameters
    ----------
    constraints : dict
        Maps a parameter name to a list of constraints (types, ``Interval``,
        ``StrOptions``, ``None``, ``callable``, :class:`Rule`...), as in
        scikit-learn.
    params : dict
        The values to check.
    caller_name : str
        Named in the message (``"ConfigSpace"``, ``"profile"``).
    """
    # scikit-learn's own loop (utils/_param_validation.py), which knows only
    # its own constraint types: a Rule is used as it is.
    for name, value in params.items():
        given = constraints.get(name)
        if given is None or given == "no_validation":
            continue
        checks = [c if isinstance(c, Rule) else make_constraint(c) for c in given]
        if any(check.is_satisfied_by(value) for check in checks):
            continue
        shown = [str(c) for c in checks if not c.hidden]
        expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
        raise InvalidParameterError(
            f"The {name!r} parameter of {caller_name} must be {expected}. "
            f"Got {value!r} instead.")


def validated(constraints, caller_name=None):
    """Decorator: check a function's arguments against ``constraints`` first.

    Parameters named in ``constraints`` are checked, with their defaults,
    before the function runs; the others are the function's to check (data,
    whose checks depend on each other). The table is kept on the function
    as ``func._sktune_parameter_constraints``.

    Parameters
    ----------
    constraints : dict
        As for :func:`validate_params`.
    caller_name : str, default=None
        Named in messages; None uses the function's ``__name__``.
    """

    def decorator(func):
        signature = inspect.signature(func)
        name = caller_name or func.__name__
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{name} has no parameters {sorted(unknown)} to constrain")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            validate_params(constraints, {k: v for k, v in bound.arguments.items()
                                          if k in constraints}, name)
            return func(*args, **kwargs)

        setattr(wrapper, CONSTRAINTS_ATTRIBUTE, constraints)
        return wrapper

    return decorator


def invalid_choice(kind, value, choices):
    """Lookup error message in joblib's style.

    ``Invalid backend: 'lokyy', expected one of ['loky', 'threading'].``
    """
    return f"Invalid {kind}: {value!r}, expected one of {sorted(choices)}."


def format_docstring(**registries):
    """Decorator: fill ``{name}`` fields of a docstring from registries.

    A docstring that lists registry contents (budgets, engines, tasks,
    profilers) says what the registry holds at import time, never a copy
    that drifts (the model is threadpoolctl's ``_format_docstring``).
    """

    def decorator(obj):
        doc = obj.__doc__
        if doc is not None:
            for name, text in registries.items():  # not str.format: docstrings hold braces
                doc = doc.replace("{" + name + "}", str(text))
            obj.__doc__ = doc
        return obj

    return decorator
