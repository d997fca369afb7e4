"""Small mode shared by the examples: ``SKTUNE_EXAMPLES_SMALL=1`` shrinks them.

CI (``tests/test_examples.py``) runs every example with it set, so each one
finishes in seconds on 2 cores; unset, the examples use sizes where the
effects they show are clear. Not part of sktune: examples import it with
``from _small import BUDGET, scaled``, which works because Python puts the
script's folder first on ``sys.path``.
"""

import os

#: True when ``SKTUNE_EXAMPLES_SMALL`` is set to anything but "" or "0".
SMALL = os.environ.get("SKTUNE_EXAMPLES_SMALL", "") not in ("", "0")

#: The profiling budget: "quick" in small mode, sktune's default otherwise.
BUDGET = "quick" if SMALL else "measure"


def scaled(n, small_n):
    """Return ``small_n`` in small mode, else ``n`` (rows, trees, grid points)."""
    return small_n if SMALL else n
