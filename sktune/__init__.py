"""sktune: measure how to run a scikit-learn pipeline fastest on this machine.

>>> import sktune
>>> result = sktune.profile(pipeline, X, y)          # doctest: +SKIP
>>> print(result)                                     # doctest: +SKIP
>>> with result.best.apply():                         # doctest: +SKIP
...     result.best.configure(pipeline).fit(X, y)
"""

# Profiling: measure (profile), or answer without timing (estimate), and the result.
from ._profile import estimate, profile, recommend  # noqa: F401  (recommend: deprecated)
from ._version import __version__

# Errors and warnings.
from .exceptions import (
    CompileError,
    EngineError,
    EngineNotAvailableError,
    InvalidConfigError,
    InvalidParameterError,
    ProfilerError,
    SktuneError,
    SktuneWarning,
    WorkerStartError,
    WorkloadError,
)

# The machine the answer is valid for.
from .machine import Machine
from .results import ProfileResult, load

# Configurations and the space of candidates.
from .space import Config, ConfigSpace

__all__ = [
    # profiling
    "profile",
    "estimate",
    "ProfileResult",
    "load",
    # configurations
    "Config",
    "ConfigSpace",
    # machine
    "Machine",
    # reading results: two runs compared, plots, reports
    "compare",
    "plots",
    "reporters",
    # extension points and what they plug into: profilers, search strategies,
    # the wisdom cache
    "profilers",
    "search",
    "wisdom",
    # do claimed speedups survive a re-run on this machine?
    "calibration",
    # compiled transformers
    "transformers",
    "jit_transformer",
    "JitTransformer",
    "cython_transformer",
    "CythonTransformer",
    # errors and warnings
    "SktuneError",
    "InvalidParameterError",
    "InvalidConfigError",
    "WorkloadError",
    "EngineError",
    "EngineNotAvailableError",
    "WorkerStartError",
    "ProfilerError",
    "CompileError",
    "SktuneWarning",
    "__version__",
]
# ``recommend`` is a deprecated alias of ``estimate`` (until 0.2), left out
# of ``__all__``.

# Compiled transformers, plots, reporters, profilers and run comparison load
# on first use (PEP 562), so ``import sktune`` does not pay for scikit-learn's
# preprocessing module or matplotlib, and works even when the kernels cannot
# be imported. Values are (module, attribute); attribute None is the module.
_LAZY = {
    "transformers": (".transformers", None),
    "plots": (".plots", None),
    "reporters": (".reporters", None),
    "profilers": (".profilers", None),
    "compare": (".comparison", "compare"),
    "wisdom": (".wisdom", None),
    "search": (".search", None),
    "calibration": (".calibration", None),
    "jit_transformer": ("._compiled.jit_transformer", "jit_transformer"),
    "JitTransformer": ("._compiled.jit_transformer", "JitTransformer"),
    "cython_transformer": ("._compiled.cython_transformer", "cython_transformer"),
    "CythonTransformer": ("._compiled.cython_transformer", "CythonTransformer"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'sktune' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
