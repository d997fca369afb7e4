"""JSON encoding of sktune's data: the one encoder of results, wisdom and reports.

A leaf module. NumPy scalars become Python numbers; NaN, which JSON does
not have, becomes ``null`` where a strict document is wanted.
"""

import json
import math


def default(value):
    """``json.dumps(default=...)``: NumPy scalars as Python numbers."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def without_nan(value):
    """``value`` with every float NaN, at any depth, replaced by None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_nan(v) for v in value]
    return value


def dumps(value, **kwargs):
    """``json.dumps`` with :func:`default` as the fallback encoder."""
    return json.dumps(value, default=default, **kwargs)
