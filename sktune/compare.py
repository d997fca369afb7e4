"""Deprecated module path: use :func:`sktune.compare` or :mod:`sktune.comparison`.

``sktune.compare`` is the function that compares two results. Until
sktune 0.1 it was this module, whose function had the same name, so that
``sktune.compare(a, b)`` raised "module is not callable". The module is now
:mod:`sktune.comparison`; this one remains for one release so that
``from sktune.compare import compare`` keeps working, with a warning, and
it is callable so that ``sktune.compare(a, b)`` works even after it was
imported (importing a submodule binds its name in the package).

.. deprecated:: 0.1
    Removed in 0.2.
"""

import sys
import types
import warnings

from . import comparison
from .comparison import CHANGES, Comparison, compare, format_comparison  # noqa: F401

warnings.warn("The module sktune.compare is deprecated and will be removed in sktune 0.2: "
              "call sktune.compare(a, b), or import from sktune.comparison.",
              FutureWarning, stacklevel=2)


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`sktune.comparison.compare`."""

    def __call__(self, *args, **kwargs):
        return comparison.compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
