"""Every public function refuses a bad argument the same way, before doing anything.

The model is scikit-learn's ``sklearn/tests/test_public_functions.py``: each
public function keeps its constraints table (``_sktune_parameter_constraints``,
see ``sktune._validation``), and for every parameter in it a value of the
wrong type and a value out of range must raise
:class:`~sktune.InvalidParameterError` (also a ``ValueError`` and a
``TypeError``) with scikit-learn's wording, naming the parameter and the
function, and the function's body must not run.
"""

import inspect

import numpy as np
import pytest
from sklearn.utils._param_validation import generate_invalid_param_val, make_constraint

import sktune
from sktune import Config, ConfigSpace
from sktune._validation import CONSTRAINTS_ATTRIBUTE, Rule
from sktune.profilers import Profiler
from sktune.reporters import Reporter

from _helpers import synthetic_result


def _public_functions():
    import sktune.plots
    import sktune.profilers
    import sktune.reporters

    return [sktune.profile, sktune.estimate, sktune.load, sktune.compare,
            sktune.plots.plot, sktune.reporters.write_report,
            sktune.reporters.get_reporter, sktune.reporters.register_reporter,
            sktune.profilers.register_profiler, sktune.profilers.get_profiler,
            sktune.jit_transformer, sktune.cython_transformer,
            sktune.calibration.calibrate]


PUBLIC_FUNCTIONS = _public_functions()


class _Reporter(Reporter):
    name = "stand-in"

    def render(self, result):
        return ""


class _Profiler(Profiler):
    name = "stand-in"


def _valid_args(func):
    """Arguments that pass ``func``'s table: the required ones, cheap stand-ins.

    The body never runs (the bad argument is refused first), so the
    estimator and its data need not be real.
    """
    result = synthetic_result()
    stand_ins = {"estimator": object(), "X": np.zeros((4, 2)), "a": result, "b": result,
                 "result": result, "path": "r.json", "name": "x", "cls": _Reporter,
                 "profiler_cls": _Profiler, "source": "def f(X):\n    return X\n",
                 "func": None}
    params = inspect.signature(func).parameters
    return {name: stand_ins[name] for name, p in params.items()
            if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}


class _Nothing:
    """An object no constraint of sktune accepts."""

    def __repr__(self):
        return "<nothing>"


def _invalid_values(constraints):
    """A value of a wrong type, and where the table allows, one out of range."""
    values = [_Nothing()]
    for constraint in constraints:
        if isinstance(constraint, Rule) and constraint.invalid is not None:
            values.append(constraint.invalid)
            continue
        try:
            values.append(generate_invalid_param_val(make_constraint(constraint)))
        except (NotImplementedError, ValueError, TypeError):
            pass
    satisfied = [make_constraint(c) if not isinstance(c, Rule) else c for c in constraints]
    return [v for v in values if not any(c.is_satisfied_by(v) for c in satisfied)]


def test_every_public_function_has_a_constraints_table():
    # Check that each public function keeps its table, naming real parameters.
    for func in PUBLIC_FUNCTIONS:
        table = getattr(func, CONSTRAINTS_ATTRIBUTE)
        assert table, func.__name__
        assert set(table) <= set(inspect.signature(func).parameters), func.__name__


@pytest.mark.parametrize("func", PUBLIC_FUNCTIONS, ids=lambda f: f.__name__)
def test_public_function_refuses_each_bad_argument(func):
    # Check that a bad value of any constrained parameter raises
    # InvalidParameterError in scikit-learn's wording, naming it: the body,
    # which would first fail on the stand-in estimator or data, never runs.
    table = getattr(func, CONSTRAINTS_ATTRIBUTE)
    for name, constraints in table.items():
        for bad in _invalid_values(constraints):
            args = {**_valid_args(func), name: bad}
            with pytest.raises(sktune.InvalidParameterError) as info:
                func(**args)
            message = str(info.value)
            assert message.startswith(f"The {name!r} parameter of {func.__name__} must be "), \
                message
            assert message.endswith(f"Got {bad!r} instead."), message
            assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


@pytest.mark.parametrize("cls, field, bad", [
    (Config, "n_jobs", 0), (Config, "n_jobs", True), (Config, "backend", 3),
    (Config, "blas_threads", 1.5), (Config, "cluster", (2,)),
    (Config, "compiled_steps", ()), (ConfigSpace, "n_jobs", [0]),
    (ConfigSpace, "openmp_threads", "many"),
])
def test_public_classes_refuse_bad_fields_the_same_way(cls, field, bad):
    # Check that the value classes use the same wording as the functions.
    with pytest.raises(sktune.InvalidParameterError,
                       match=rf"^The '{field}' parameter of {cls.__name__} must be "):
        cls(**{field: bad})


def test_renamed_public_names_keep_a_deprecated_alias():
    # Check the names that changed: sktune.compare is the function (it was a
    # module, "not callable"), sktune.recommend warns and answers as
    # sktune.estimate, and the old module path still imports, warning.
    import importlib
    import sys

    from sklearn.datasets import make_classification
    from sklearn.tree import DecisionTreeClassifier

    from sktune.comparison import compare

    assert sktune.compare is compare and callable(sktune.compare)
    X, y = make_classification(n_samples=60, random_state=0)
    with pytest.warns(FutureWarning, match="sktune.estimate"):
        old = sktune.recommend(DecisionTreeClassifier(), X, y)
    assert old.best == sktune.estimate(DecisionTreeClassifier(), X, y).best
    sys.modules.pop("sktune.compare", None)
    with pytest.warns(FutureWarning, match="sktune.compare is deprecated"):
        module = importlib.import_module("sktune.compare")
    assert module.compare is compare and callable(sktune.compare)
    result = synthetic_result()
    assert sktune.compare(result, result).slower == []
