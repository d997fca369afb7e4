"""sktune: measure how to run a scikit-learn pipeline fastest on this machine.

>>> import sktune
>>> result = sktune.profile(pipeline, X, y)          # doctest: +SKIP
>>> print(result)                                     # doctest: +SKIP
>>> with result.best.apply():                         # doctest: +SKIP
...     result.best.configure(pipeline).fit(X, y)
"""

__version__ = "0.1.0.dev0"

# The main entry point and its result.
from ._profile import profile
from .results import ProfileResult, load

# Configurations and the space of candidates.
from .space import Config, ConfigSpace

# The machine the answer is valid for.
from .machine import Machine

# Drop-in transformers computed by sktune's compiled kernels, and user
# kernels compiled at run time.
from . import transformers
from ._cython_runtime import CythonTransformer, cython_transformer

# Errors and warnings.
from .exceptions import (
    EngineNotAvailableError,
    InvalidConfigError,
    InvalidParameterError,
    ProfilerError,
    CompileError,
    SktuneError,
    SktuneWarning,
    WorkloadError,
)

__all__ = [
    # profiling
    "profile",
    "ProfileResult",
    "load",
    # configurations
    "Config",
    "ConfigSpace",
    # machine
    "Machine",
    # compiled transformers
    "transformers",
    "cython_transformer",
    "CythonTransformer",
    # errors and warnings
    "SktuneError",
    "InvalidParameterError",
    "InvalidConfigError",
    "WorkloadError",
    "EngineNotAvailableError",
    "ProfilerError",
    "CompileError",
    "SktuneWarning",
    "__version__",
]
