"""``sktune profile TARGET``: the user's workload, from a module or a file.

TARGET is ``path/to/file.py:function`` or ``package.module:function``; the
function takes no argument and returns ``(estimator, X, y)``. Importing and
calling it are the user's code: any failure becomes one line naming what
and where, never a traceback.
"""

import sys

from ..exceptions import InvalidParameterError, SktuneError


def import_target(module_or_path):
    """Import a module by name, or a ``.py`` file by path, without a traceback."""
    import importlib
    import importlib.util
    import os

    is_file = module_or_path.endswith(".py") or os.sep in module_or_path or (
        os.altsep and os.altsep in module_or_path)
    # Like `python -m` and `python file.py`: the file's folder (or the current
    # folder for a module) is importable while the target loads, then not.
    folder = os.path.dirname(os.path.abspath(module_or_path)) if is_file else os.getcwd()
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        if is_file:
            if not os.path.isfile(module_or_path):
                raise InvalidParameterError(f"No such file: {module_or_path!r}.")
            name = "_sktune_target_" + os.path.splitext(os.path.basename(module_or_path))[0]
            spec = importlib.util.spec_from_file_location(name, module_or_path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(module_or_path)
    except SktuneError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and module_or_path.split(".")[0] == exc.name.split(".")[0]:
            raise InvalidParameterError(
                f"No module named {module_or_path!r}; give module:function with the "
                "module importable from here, or path/to/file.py:function.") from None
        raise InvalidParameterError(
            f"Importing {module_or_path!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # the user's code: say what and where in one line
        raise InvalidParameterError(
            f"Importing {module_or_path!r} failed: {type(exc).__name__}: {exc} "
            "(import it in Python to see the traceback).") from None
    finally:
        if added:
            sys.path.remove(folder)


def load_target(target):
    """Call the function named by ``target`` and return its ``(estimator, X, y)``.

    Parameters
    ----------
    target : str
        ``path/to/file.py:function`` or ``package.module:function``; the
        function takes no argument and returns ``(estimator, X, y)``
        (``y`` may be None).

    Returns
    -------
    estimator, X, y

    Raises
    ------
    InvalidParameterError
        If the target is malformed, cannot be imported, is not a function,
        raises, or returns something else than ``(estimator, X, y)``.
    """
    usage = "expected path/to/file.py:function or module:function"
    module_or_path, sep, func_name = target.rpartition(":")
    if not sep or not module_or_path or not func_name.isidentifier():
        raise InvalidParameterError(f"Invalid TARGET: {target!r}, {usage}.")
    module = import_target(module_or_path)
    func = getattr(module, func_name, None)
    if func is None:
        raise InvalidParameterError(
            f"{module_or_path!r} has no function named {func_name!r} ({usage}).")
    if not callable(func):
        raise InvalidParameterError(
            f"{func_name!r} in {module_or_path!r} is a {type(func).__name__}, not a "
            f"function ({usage}).")
    try:
        returned = func()
    except Exception as exc:  # the user's code
        raise InvalidParameterError(
            f"{func_name}() raised {type(exc).__name__}: {exc} (call it in Python to "
            "see the traceback).") from None
    if not (isinstance(returned, (tuple, list)) and len(returned) == 3
            and hasattr(returned[0], "get_params") and hasattr(returned[0], "fit")):
        got = (f"a {type(returned).__name__} of length {len(returned)}"
               if isinstance(returned, (tuple, list)) else f"a {type(returned).__name__}")
        if isinstance(returned, (tuple, list)) and len(returned) == 3:
            got = f"a first item of type {type(returned[0]).__name__}, not an estimator"
        raise InvalidParameterError(
            f"{func_name}() in {module_or_path!r} must return (estimator, X, y) with a "
            f"scikit-learn estimator first; got {got}.")
    return tuple(returned)
