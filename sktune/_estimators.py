"""Walk an estimator and every estimator nested in it: the one walker of sktune.

A step's path is its scikit-learn ``set_params`` prefix: ``""`` for the
estimator itself, then ``"columntransformer"``, ``"columntransformer__num"``
and so on, so that a path read in a report can be used as it is in
``set_params``, a ``param_grid`` or :class:`sktune.Config`'s step fields.
Sub-estimators are found through ``get_params(deep=False)``: a parameter
holding an estimator (``estimator``, ``regressor``, ``final_estimator``) is
a child named after the parameter; a list of ``(name, estimator, ...)``
tuples (``steps``, ``transformers``, ``transformer_list``, ``estimators``)
gives children named after the tuples. Strings such as ``"passthrough"``,
classes, and objects without ``fit`` (a Gaussian process kernel) are not
estimators. A leaf module: it imports nothing of sktune.
"""

#: Joins the parts of a path, as ``set_params`` does.
SEP = "__"


def is_estimator(value):
    """An estimator instance: it has ``get_params`` and ``fit`` and is not a class."""
    return (not isinstance(value, type) and hasattr(value, "get_params")
            and hasattr(value, "fit"))


def join(path, name):
    """``path`` extended by ``name`` (``join("", "num") == "num"``)."""
    return f"{path}{SEP}{name}" if path else name


def iter_estimators(estimator, path=""):
    """Yield ``(path, estimator)`` for ``estimator`` and every one nested in it.

    Parameters
    ----------
    estimator : estimator instance
    path : str, default=""
        The path of ``estimator`` itself.

    Yields
    ------
    path : str
        The ``set_params`` prefix of the step (``""`` for the root).
    step : estimator instance
        The step itself (not a copy).
    """
    yield path, estimator
    try:
        params = estimator.get_params(deep=False)
    except Exception:  # a broken get_params only hides the children
        return
    for key, value in params.items():
        if is_estimator(value):
            yield from iter_estimators(value, join(path, key))
        elif isinstance(value, (list, tuple)):
            for item in value:
                if (isinstance(item, tuple) and len(item) >= 2
                        and isinstance(item[0], str) and is_estimator(item[1])):
                    yield from iter_estimators(item[1], join(path, item[0]))
