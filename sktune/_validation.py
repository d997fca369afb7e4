"""Argument validation with scikit-learn's wording, raising sktune's errors.

Public functions and classes declare a ``parameter_constraints`` dict in the
format of ``sklearn.utils._param_validation`` and call :func:`validate_params`;
errors read ``The 'n_jobs' parameter of ConfigSpace must be an int in the
range [1, inf) or None. Got 0 instead.`` and are :class:`InvalidParameterError`.
"""

from ._compat import SklearnInvalidParameterError, validate_parameter_constraints
from .exceptions import InvalidParameterError


def validate_params(constraints, params, caller_name):
    """Check ``params`` against ``constraints``; raise InvalidParameterError.

    Parameters
    ----------
    constraints : dict
        Maps a parameter name to a list of constraints (types, ``Interval``,
        ``StrOptions``, ``None``, ``callable``...), as in scikit-learn.
    params : dict
        The values to check.
    caller_name : str
        Named in the message (``"ConfigSpace"``, ``"profile"``).
    """
    try:
        validate_parameter_constraints(constraints, params, caller_name)
    except SklearnInvalidParameterError as exc:
        raise InvalidParameterError(str(exc)) from None


def invalid_choice(kind, value, choices):
    """Lookup error message in joblib's style.

    ``Invalid backend: 'lokyy', expected one of ['loky', 'threading'].``
    """
    return f"Invalid {kind}: {value!r}, expected one of {sorted(choices)}."
