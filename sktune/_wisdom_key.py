"""The workload key of the wisdom cache: what must match for a saved answer to hold.

A saved profile answers a new request only when the same work would be done:
the same estimator structure and parameters, data of the same class (type,
exact width, dtypes, memory order, sparsity, and a row count within half an
octave), the same task and the same profiling settings. This module turns
all of that into a canonical JSON description and hashes it. It is
conservative: any parameter it cannot reason about is included as is, so
two workloads share a key only when they are the same workload.
"""

import hashlib
import inspect
import json
import math
import re

import numpy as np

#: Nesting deeper than this is described by its repr (a guard against cycles).
_MAX_DEPTH = 32
#: Hex characters of the sha256 kept for keys and for array digests.
_KEY_LENGTH = 20
_DIGEST_LENGTH = 16
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def workload_key(estimator, X, y=None, task: str = "fit",
                 settings: dict = None) -> tuple:
    """Key a workload for the wisdom cache.

    Parameters
    ----------
    estimator : estimator instance
        Described by class path and ``get_params(deep=False)``, recursively.
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
    task : str, default="fit"
    settings : dict, default=None
        Profiling settings that change the answer (space, profilers, ...);
        any JSON-able values.

    Returns
    -------
    key : str
        The first 20 hex characters of the sha256 of ``description`` as
        canonical JSON (sorted keys, compact separators).
    description : dict
        ``{"estimator": ..., "data": ..., "task": ..., "settings": ...}``,
        plain JSON types.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = np.zeros((10000, 3)), np.arange(10000) % 2
    >>> key, description = workload_key(DecisionTreeClassifier(), X, y)
    >>> description["data"]["n_samples_class"]  # log2(10000) = 13.29
    13.5
    >>> bigger = np.zeros((10500, 3)), np.arange(10500) % 2
    >>> workload_key(DecisionTreeClassifier(), *bigger)[0] == key
    True
    """
    description = {
        "estimator": canonical(estimator),
        "data": _safe_data_class(X, y),
        "task": task,
        "settings": canonical(settings or {}),
    }
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:_KEY_LENGTH], description


def structure_key(estimator, X, y, task, settings, site):
    """The key of a workload *at any size*: :func:`workload_key` without its units.

    ``site`` is the workload's :class:`~sktune._proxies.UnitSite`. The count
    of units (``n_estimators`` of the step at ``site.path``; the rows of X
    for rows and query rows) is left out, so a forest of 800 trees and one
    of 500 share the key, and an extrapolated result of one predicts the
    other. None where the units are not one parameter (the candidates of a
    search are its grid: another grid is another workload).
    """
    if site is None or (site.param is None and site.kind not in ("rows", "query_rows")):
        return None
    if site.param is not None:
        from sklearn.base import clone

        name = f"{site.path}__{site.param}" if site.path else site.param
        estimator = clone(estimator).set_params(**{name: None})
    key, description = workload_key(estimator, X, y, task, settings={
        **(settings or {}), "structure": [site.kind, site.path, site.param]})
    if site.param is None:  # the rows are the units: the size class is not the key's
        description["data"]["n_samples_class"] = None
        text = json.dumps(description, sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(text.encode()).hexdigest()[:_KEY_LENGTH]
    return key, description


def _class_path(obj_or_type):
    cls = obj_or_type if isinstance(obj_or_type, type) else type(obj_or_type)
    return f"{cls.__module__}.{cls.__qualname__}"


def _digest(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
    return h.hexdigest()[:_DIGEST_LENGTH]


def _safe_repr(value):
    """repr without memory addresses, which would change the key every run."""
    try:
        return _ADDRESS.sub("", repr(value))
    except Exception:  # a broken __repr__ must not break profiling
        return f"<{_class_path(value)}>"


def canonical(value, _depth=0):
    """A JSON-able stand-in for ``value``, equal for equal values; never raises."""
    try:
        return _canonical(value, _depth)
    except Exception:  # anything unexpected: the repr still tells values apart
        return {"class": _class_path(value), "repr": _safe_repr(value)}


def _canonical(value, depth):
    if depth > _MAX_DEPTH:
        return {"class": _class_path(value), "repr": _safe_repr(value)}
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        return _canonical(value.item(), depth + 1)
    if isinstance(value, np.ndarray):
        data = value.tobytes() if value.dtype != object else _safe_repr(value.tolist())
        return {"array": _digest(data), "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): canonical(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((canonical(v, depth + 1) for v in value), key=json.dumps)
    if isinstance(value, type):
        return _class_path(value)
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        params = value.get_params(deep=False)
        return {"class": _class_path(value),
                "params": {k: canonical(v, depth + 1) for k, v in sorted(params.items())}}
    if isinstance(value, np.random.RandomState):
        return {"class": _class_path(value), "state": _digest(_safe_repr(value.get_state()))}
    if inspect.isfunction(value) or inspect.isbuiltin(value) or inspect.ismethod(value):
        return _function_name(value)
    if hasattr(value, "func") and hasattr(value, "keywords"):  # functools.partial
        return {"partial": canonical(value.func, depth + 1),
                "args": canonical(list(value.args), depth + 1),
                "keywords": canonical(dict(value.keywords), depth + 1)}
    import scipy.sparse as sp

    if sp.issparse(value):
        csr = value.tocsr()
        return {"sparse": _digest(csr.data.tobytes(), csr.indices.tobytes(),
                                  csr.indptr.tobytes()),
                "shape": list(value.shape), "dtype": str(value.dtype)}
    return {"class": _class_path(value), "repr": _safe_repr(value)}


def _function_name(func):
    """``module.qualname``; lambdas and local functions also hash their code."""
    name = f"{getattr(func, '__module__', None)}.{getattr(func, '__qualname__', func)}"
    code = getattr(func, "__code__", None)
    if code is not None and "<" in name:  # two lambdas of one module share a name
        name += "#" + _digest(code.co_code, repr(code.co_names))
    return name


def _size_class(n):
    """Half-octave bucket: 10000 and 10500 rows share one, 10000 and 20000 do not."""
    return round(math.log2(n) * 2) / 2 if n and n > 0 else 0


def _type_name(X):
    import scipy.sparse as sp

    if sp.issparse(X):
        return f"scipy.sparse.{type(X).__name__}"
    return f"{type(X).__module__.split('.')[0]}.{type(X).__name__}"


def _safe_data_class(X, y):
    try:
        return data_class(X, y)
    except Exception:  # unusual data: a key of its own rather than a crash
        return {"type": _type_name(X), "repr": _digest(_safe_repr(X), _safe_repr(y))}


def data_class(X, y=None):
    """The class of data a measurement holds for (see :func:`workload_key`)."""
    import scipy.sparse as sp

    from ._compat import num_samples

    try:
        n_samples = num_samples(X)
    except TypeError:
        n_samples = None
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(X) if isinstance(X, (list, tuple)) else None
    desc = {
        "type": _type_name(X),
        "n_samples_class": _size_class(n_samples),
        "n_features": int(shape[1]) if shape is not None and len(shape) > 1 else None,
        "dtype": None, "order": None, "sparse": bool(sp.issparse(X)), "density": None,
        "y": _target_class(y),
    }
    if sp.issparse(X):
        size = int(np.prod(X.shape))
        density = X.nnz / size if size else 0.0
        desc.update(dtype=str(X.dtype),
                    density=2.0 ** round(math.log2(density)) if density > 0 else 0.0)
    elif hasattr(X, "dtypes") and hasattr(X, "columns"):  # a DataFrame
        counts = {}
        for dtype in X.dtypes:
            counts[str(dtype)] = counts.get(str(dtype), 0) + 1
        desc["dtype"] = counts
    elif isinstance(X, np.ndarray):
        order = "C" if X.flags.c_contiguous else "F" if X.flags.f_contiguous else None
        desc.update(dtype=str(X.dtype), order=order)
    return desc


def _target_class(y):
    """None, or the target's dimensionality and kind (labels or floats)."""
    if y is None:
        return None
    y = np.asarray(y)
    kinds = {"i": "integer", "u": "integer", "b": "bool", "f": "float", "c": "complex"}
    return {"ndim": "1-d" if y.ndim <= 1 else "n-d",
            "kind": kinds.get(y.dtype.kind, "object")}
