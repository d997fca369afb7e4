"""Seconds and bytes for people: the one way sktune prints a duration or a size.

A leaf module: pure functions over numbers, importing nothing of sktune.
A missing value (None or NaN) prints as ``-`` everywhere.
"""

import math


def is_missing(value):
    """True for None and NaN: a value that was not measured."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def seconds(value):
    """``433.3 ms`` below a second, ``1.58 s`` above; ``-`` when missing."""
    if is_missing(value):
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def memory(value):
    """A memory size rounded for a table: ``431 MiB``, ``1.25 GiB``; ``-`` when missing."""
    if is_missing(value):
        return "-"
    return f"{value / 1024**3:.2f} GiB" if value >= 1024**3 else f"{value / 1024**2:.0f} MiB"


def exact_size(n_bytes):
    """A size that is a whole number of units as such (``32 KiB``, ``1 MiB``), else bytes."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n_bytes >= size and n_bytes % size == 0:
            return f"{n_bytes // size} {unit}"
    return f"{n_bytes} B"
