"""Turn a user's Python function into numba dispatchers, and run their drivers.

Numba's ``cache=True`` keys its disk cache by the function's source file and
qualified name (PITFALLS.md section 4.3), so one generic driver closing over
different user functions would share, and corrupt, one cache entry. Instead
each (function, kind, parallel) gets a small module of its own: the user's
source, the globals it needs rebuilt as ``import`` lines and constants, and
the driver loops. :func:`module_source` writes that text, or says in one line
why the function cannot be copied (a lambda, a closure, a global that is
neither a module nor a number); :func:`driver_source` is the same driver text
for functions compiled in memory, so both paths run the same loops.
:func:`build` writes and imports that module (or compiles in memory), and
:func:`run_compiled` / :func:`run_python` run the drivers and their Python
twin, the reference every compiled output is checked against.
"""

import ast
import builtins
import dis
import hashlib
import importlib.util
import inspect
import sys
import textwrap
import threading
import types

import numpy as np

from .._files import cache_dir, write_atomic

_MODULES_LOCK = threading.Lock()
_MODULES = {}  # sha -> namespace of an imported generated module

# Names the generated code binds; the user's function is called through
# ``_sktune_func`` so that the drivers do not depend on its name.
FUNC = "_sktune_func"
NUMBA = "_sktune_numba"

# ``{cache}`` and ``{parallel}`` are filled in; ``prange`` is ``range`` when
# parallel is False. Output arrays are allocated by the caller, X is only read
# (loky hands out read-only memmaps, PITFALLS.md section 4.4).
_DRIVERS = {
    "elementwise": """
@_sktune_numba.njit(cache={cache}, parallel={parallel})
def _sktune_elements(X, out):
    for i in _sktune_numba.prange(X.shape[0]):
        for j in range(X.shape[1]):
            out[i, j] = _sktune_func(X[i, j])
""",
    "rowwise": """
@_sktune_numba.njit(cache={cache}, parallel={parallel})
def _sktune_rows_scalar(X, out):
    for i in _sktune_numba.prange(X.shape[0]):
        out[i, 0] = _sktune_func(X[i])


@_sktune_numba.njit(cache={cache}, parallel={parallel})
def _sktune_rows_vector(X, out):
    for i in _sktune_numba.prange(X.shape[0]):
        out[i, :] = _sktune_func(X[i])
""",
    # The user's function is the driver: its own array expressions are what
    # ``parallel=True`` parallelises.
    "array": "",
}


def driver_source(kind, *, parallel, cache):
    """The driver functions for ``kind``, as module text."""
    return _DRIVERS[kind].format(cache=cache, parallel=parallel)


def func_parallel(kind, parallel):
    """Whether the user's function itself is compiled with ``parallel=True``.

    Only for ``kind="array"``; for the other kinds the driver's ``prange``
    over rows is the parallel loop and the function runs inside it.
    """
    return parallel and kind == "array"


def _global_names(code):
    """Global names ``code`` and its nested code objects read or write.

    Instructions, not ``co_names``, which also lists attribute names: the
    ``mean`` of ``row.mean()`` is no global even where the module has one.
    """
    names = {instruction.argval for instruction in dis.get_instructions(code)
             if instruction.opname in ("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _constant_source(value):
    """Source that rebuilds a number exactly (nan and inf included), or None."""
    if isinstance(value, bool):
        return repr(bool(value))
    if isinstance(value, int):
        return repr(int(value))
    # repr round-trips; float('nan') and complex('(1+nanj)') parse where the
    # bare repr would not. numpy scalars subclass float and complex.
    if isinstance(value, float):
        return f"float({repr(float(value))!r})"
    if isinstance(value, complex):
        return f"complex({repr(complex(value))!r})"
    return None


def _global_lines(func):
    """Lines that rebuild the globals ``func`` reads, or raise ValueError(reason)."""
    lines = []
    for name in sorted(_global_names(func.__code__)):
        if name == func.__name__ or name not in func.__globals__:
            continue  # recursion, or a builtin
        value = func.__globals__[name]
        if isinstance(value, types.ModuleType):
            if sys.modules.get(value.__name__) is not value:
                raise ValueError(f"the module {name!r} it uses cannot be imported by name")
            lines.append(f"import {value.__name__} as {name}")
        elif (constant := _constant_source(value)) is not None:
            lines.append(f"{name} = {constant}")
        elif name in vars(builtins) and value is vars(builtins)[name]:
            continue
        else:
            raise ValueError(
                f"it uses the global {name!r} ({type(value).__name__}); only modules "
                "and int, float, bool or complex constants are copied")
    return lines


def _function_text(func):
    """The dedented ``def`` of ``func`` without its decorators, or raise ValueError."""
    try:
        text = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as exc:
        raise ValueError(f"its source is not available ({exc})") from None
    try:
        node = ast.parse(text).body[0]
    except (SyntaxError, IndexError):
        raise ValueError("its source could not be parsed on its own") from None
    if not isinstance(node, ast.FunctionDef) or node.name != func.__name__:
        raise ValueError("its source is not a plain 'def' statement")
    # node.lineno is the ``def`` line: decorators, one line or many, come before.
    return "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno]) + "\n"


def module_source(func, kind, *, parallel):
    """Source of a module holding ``func`` and its drivers, cached by numba.

    Parameters
    ----------
    func : function
        The user's function.
    kind : {"elementwise", "rowwise", "array"}
        Which drivers to add.
    parallel : bool
        Compile the parallel driver (``prange`` over rows) or the serial one.

    Returns
    -------
    source : str or None
        The module text, or None when ``func`` cannot be copied into a module.
    reason : str or None
        Why not, in one line, when ``source`` is None.
    """
    if func.__name__ == "<lambda>":
        return None, "it is a lambda, whose source is not a function of its own"
    if func.__closure__:
        names = ", ".join(func.__code__.co_freevars)
        return None, f"it is a closure over {names}"
    try:
        head = _global_lines(func)
        body = _function_text(func)
    except ValueError as exc:
        return None, str(exc)
    where = f"{func.__module__}.{func.__qualname__}"
    decorator = (f"@{NUMBA}.njit(cache=True, "
                 f"parallel={func_parallel(kind, parallel)})")
    parts = [
        f"# Generated by sktune from {where} (kind={kind!r}); do not edit.",
        # Annotations may name things the function never uses at run time.
        "from __future__ import annotations",
        f"import numba as {NUMBA}",
        *head,
        "",
        "",
        decorator,
        body,
        f"{FUNC} = {func.__name__}",
        driver_source(kind, parallel=parallel, cache=True),
    ]
    return "\n".join(parts), None


# -- building: one namespace of dispatchers per (func, kind, parallel) --------
def _import_generated(source, kind, parallel, numba_version):
    """Namespace of the generated module for ``source``, written and imported once."""
    key = "\0".join([source, kind, str(parallel), numba_version])
    sha = hashlib.sha256(key.encode()).hexdigest()
    with _MODULES_LOCK:
        if sha not in _MODULES:
            name = f"sktune_jit_{sha}"
            path = cache_dir("jit") / f"{name}.py"
            # Rewrite only when needed: a new mtime invalidates numba's index.
            if not path.exists() or path.read_text(encoding="utf-8") != source:
                write_atomic(path, source)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            # Numba finds a function's module by name when it loads the cache.
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            _MODULES[sha] = vars(module)
        return _MODULES[sha]


def build(func, kind, parallel):
    """Dispatchers for ``func`` and its drivers: ``(namespace, cache_reason)``.

    Lazy: nothing compiles until the first call. Raises ImportError without numba.
    """
    import numba

    source, reason = module_source(func, kind, parallel=parallel)
    if source is not None:
        try:
            namespace = _import_generated(source, kind, parallel, numba.__version__)
            copy = namespace[FUNC].py_func
            if (copy.__defaults__, copy.__kwdefaults__) == (func.__defaults__,
                                                            func.__kwdefaults__):
                return namespace, None
            reason = "its default values do not survive being copied"
        except Exception as exc:  # unwritable cache, a default naming a global...
            reason = f"its generated module failed ({type(exc).__name__}: {exc})"
    # In memory: the same driver text, calling an uncached dispatcher of func.
    namespace = {NUMBA: numba, FUNC: numba.njit(func, parallel=func_parallel(kind, parallel))}
    where = f"<sktune jit driver of {func.__module__}.{func.__qualname__}>"
    exec(compile(driver_source(kind, parallel=parallel, cache=False), where, "exec"),
         namespace)
    return namespace, reason


def cache_hits(namespace):
    """Signatures the dispatchers in ``namespace`` loaded from numba's disk cache."""
    return sum(sum(value.stats.cache_hits.values()) for key, value in namespace.items()
               if key.startswith("_sktune_") and hasattr(value, "stats"))


# -- running: the compiled drivers and their Python twin ----------------------
def run_compiled(namespace, kind, X, kw):
    """Run the compiled drivers of ``kind`` on the C-contiguous array ``X``."""
    if kind == "array":
        return namespace[FUNC](X, **kw)
    if kind == "elementwise":
        out = np.empty(X.shape, dtype=X.dtype)
        namespace["_sktune_elements"](X, out)
        return out
    if X.shape[0] == 0:
        return np.empty((0, 0), dtype=X.dtype)
    first = namespace[FUNC](X[0])  # its width sizes the output
    if np.ndim(first) == 0:
        out = np.empty((X.shape[0], 1), dtype=X.dtype)
        namespace["_sktune_rows_scalar"](X, out)
    else:
        out = np.empty((X.shape[0], np.size(first)), dtype=X.dtype)
        namespace["_sktune_rows_vector"](X, out)
    return out


def run_python(func, kind, X, kw):
    """The reference: what the compiled drivers compute, in Python."""
    if kind == "array":
        return func(X, **kw)
    if kind == "elementwise":
        out = np.empty(X.shape, dtype=X.dtype)
        out.reshape(-1)[:] = [func(value) for value in X.reshape(-1).tolist()]
        return out
    rows = [np.asarray(func(row)).reshape(-1) for row in X]
    return np.asarray(rows, dtype=X.dtype) if rows else np.empty((0, 0), dtype=X.dtype)
