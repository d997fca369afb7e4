"""Where the time goes in one run: cProfile's hot functions, grouped by library.

It answers "is the time in scikit-learn, NumPy, my code, or waiting for
workers?" without the user learning a profiler. cProfile slows Python code
several-fold, so it runs only in an extra, untimed run (``extra_run``). It
keeps the functions with the most own and cumulative time, each labelled by
:func:`library_of`, and every library's own time, which sums to the profiled
total; :func:`hotspots_frame` and :func:`library_frame` tabulate the records.

cProfile sees only the thread that calls ``start``: worker threads and
processes are not profiled, and the caller's lock acquires, ``select``/
``poll`` and sleeps while they work are grouped as :data:`WAITING`. (On
Python 3.12+, whose cProfile is built on ``sys.monitoring``, the Python code
of worker *threads* leaks in too, with approximate times.) Compiled code
(BLAS, OpenMP, Cython) is charged to the Python function that calls it.
"""

import cProfile
import os
import re
import site
import sys
import sysconfig
from functools import lru_cache

from .base import Profiler

#: Library of time spent blocked on locks, queues, select/poll or sleep.
WAITING = "waiting (workers)"
#: Import name -> library name for the libraries users know by name.
KNOWN_LIBRARIES = {"sklearn": "scikit-learn", "numpy": "numpy", "scipy": "scipy",
                   "joblib": "joblib", "pandas": "pandas", "threadpoolctl": "threadpoolctl",
                   "numba": "numba", "sktune": "sktune"}
# C functions that block until another thread or process makes progress.
_WAIT_BUILTINS = frozenset({
    "_thread.lock.acquire", "_thread.lock.acquire_lock", "_thread.RLock.acquire",
    "_thread.lock.__enter__", "_thread._ThreadHandle.join",
    "_thread.RLock.__enter__", "_multiprocessing.SemLock.acquire",
    "_multiprocessing.SemLock.__enter__", "_queue.SimpleQueue.get", "time.sleep",
    "select.select", "select.poll.poll", "select.epoll.poll", "select.devpoll.poll",
    "select.kqueue.control", "posix.waitpid", "_winapi.WaitForSingleObject",
    "_winapi.WaitForMultipleObjects"})
# Python-level (stdlib path, function) pairs that only wrap such waits.
_WAIT_FUNCTIONS = frozenset({
    ("threading.py", "wait"), ("threading.py", "join"), ("threading.py", "_wait_for_tstate_lock"),
    ("queue.py", "get"), ("selectors.py", "select"), ("multiprocessing/connection.py", "wait"),
    ("concurrent/futures/_base.py", "result"), ("concurrent/futures/_base.py", "wait")})
_C_FUNCTION = re.compile(r"<built-in (?:method|function) ([\w.]+)>")
_C_METHOD = re.compile(r"<method '(\w+)' of '([\w.]+)' objects>")
# Frame columns; the last one is own_s over the run's profiled total.
_HOTSPOT_COLUMNS = ["config", "function", "file", "line", "library", "calls", "own_s",
                    "cum_s", "own_share"]
_LIBRARY_COLUMNS = ["config", "library", "own_s", "share"]


@lru_cache(maxsize=None)
def _distributions():
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _library_of_module(top, default="user code"):
    """Library of a top-level import name: known name, "python", distribution or ``default``."""
    if top in KNOWN_LIBRARIES:
        return KNOWN_LIBRARIES[top]
    if top in sys.stdlib_module_names:
        return "python"
    dists = _distributions().get(top)
    return dists[0] if dists else default


def _roots():
    """(directory, kind) pairs, most specific first: known packages, site-packages, stdlib."""
    # Known packages first: editable installs (sktune's own) live outside site-packages.
    files = [getattr(sys.modules.get(name), "__file__", None) for name in KNOWN_LIBRARIES]
    paths = sysconfig.get_paths()
    roots = [(os.path.dirname(os.path.dirname(f)), "package") for f in files if f]
    roots += [(d, "site") for d in [*site.getsitepackages(), site.getusersitepackages(),
                                    paths["purelib"], paths["platlib"]]]
    roots += [(paths["stdlib"], "stdlib"), (paths["platstdlib"], "stdlib")]
    return [(os.path.join(os.path.abspath(d), ""), kind) for d, kind in roots]


def _locate(filename, roots=None):
    """``(library, short path)`` of a Python source file."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <stdin>, <string>
        return ("python" if filename.startswith("<frozen") else "user code"), filename
    path = os.path.abspath(filename)
    for root, kind in _roots() if roots is None else roots:
        if not path.startswith(root):
            continue
        short = path[len(root):].replace(os.sep, "/")
        top = short.split("/", 1)[0].split(".", 1)[0]
        if kind == "package" and top in KNOWN_LIBRARIES:
            return KNOWN_LIBRARIES[top], short
        if kind == "site":
            return _library_of_module(top, default=top), short
        if kind == "stdlib":
            return "python", short
    cwd = os.path.join(os.getcwd(), "")
    short = path[len(cwd):] if path.startswith(cwd) else "/".join(path.split(os.sep)[-2:])
    return "user code", short.replace(os.sep, "/")


def _parse_builtin(funcname):
    """``(module, name)`` of a cProfile C entry: ``("numpy", "numpy.ufunc.reduce")``, or None."""
    match = _C_FUNCTION.fullmatch(funcname)
    if match:
        name = module = match.group(1)
    else:
        match = _C_METHOD.fullmatch(funcname)
        if match is None:
            return None
        module, name = match.group(2), f"{match.group(2)}.{match.group(1)}"
    return (module.rpartition(".")[0] or "builtins").split(".", 1)[0], name


def _classify(filename, funcname, roots=None):
    """``(library, short file, function name)`` of one cProfile entry."""
    if filename == "~":
        module, name = _parse_builtin(funcname) or ("builtins", funcname)
        library = WAITING if name in _WAIT_BUILTINS else _library_of_module(module)
        return library, "<built-in>", name
    library, short = _locate(filename, roots)
    if library == "python" and (short, funcname) in _WAIT_FUNCTIONS:
        library = WAITING
    return library, short, funcname


def library_of(filename: str, funcname: str) -> str:
    """Library that a profiled function belongs to.

    Parameters
    ----------
    filename : str
        The function's source file as cProfile reports it; ``"~"`` for C
        functions (builtins, methods of C types).
    funcname : str
        The function's name; for C functions, cProfile's description such as
        ``"<method 'reduce' of 'numpy.ufunc' objects>"``.

    Returns
    -------
    library : str
        :data:`WAITING` for blocking waits (lock acquire, queue get,
        ``select``/``poll``, ``time.sleep``); one of the values of
        :data:`KNOWN_LIBRARIES`; ``"python"`` for the standard library and
        the interpreter's builtins (and C entries that cannot be parsed);
        another installed package by its distribution name (``"psutil"``,
        ``"PyYAML"``), or its top-level import name when that is unknown;
        ``"user code"`` for anything else (scripts, notebooks, tests).
    """
    return _classify(filename, funcname)[0]


class HotspotsProfiler(Profiler):
    """The functions taking the most time, grouped by library, via cProfile.

    Adds ``hotspots``: a list of dicts ``{"function", "file", "line",
    "library", "calls", "own_s", "cum_s"}`` (the ``top`` functions by own
    time and the ``top`` by cumulative time, each once, by decreasing own
    time), and ``hotspot_libraries``: ``{library: own seconds}`` over every
    profiled function. If another profiler is already active, both are
    empty and ``hotspots_error`` says why. Call :meth:`start` and
    :meth:`stop` from the same thread: only that thread is profiled.

    Parameters
    ----------
    top : int, default=20
        How many functions to keep by each criterion.
    """

    name = "hotspots"
    extra_run = True

    def __init__(self, top: int = 20):
        self.top = top
        self._profile = None
        self._error = None

    def start(self):
        self._profile, self._error = None, None
        profile = cProfile.Profile()
        try:
            if sys.getprofile() is not None:  # before 3.12 cProfile would replace it
                raise ValueError("Another profiling tool is already active")
            profile.enable()  # 3.12+ raises that ValueError itself
        except ValueError as exc:
            self._error = str(exc)
        else:
            self._profile = profile

    def stop(self):
        profile, self._profile = self._profile, None
        if profile is None:
            return {"hotspots": [], "hotspot_libraries": {},
                    "hotspots_error": self._error or "the profiler was not started"}
        profile.disable()
        profile.create_stats()
        roots, rows, libraries = _roots(), [], {}
        for (filename, line, funcname), (_, calls, own, cum, _) in profile.stats.items():
            if (filename, line, funcname) in _OWN_ENTRIES:
                continue
            library, short, function = _classify(filename, funcname, roots)
            libraries[library] = libraries.get(library, 0.0) + own
            rows.append({"function": function, "file": short, "line": line,
                         "library": library, "calls": calls, "own_s": own, "cum_s": cum})
        by_own = sorted(rows, key=lambda r: r["own_s"], reverse=True)[:self.top]
        by_cum = sorted(rows, key=lambda r: r["cum_s"], reverse=True)[:self.top]
        chosen = {id(r): r for r in by_own + by_cum}.values()
        hotspots = sorted(chosen, key=lambda r: (r["own_s"], r["cum_s"]), reverse=True)
        return {"hotspots": hotspots, "hotspot_libraries": libraries}


def _frame(records, candidates, columns, rows_of):
    """Rows ``rows_of(record)`` of the extra runs plus the share of the run's total."""
    import pandas as pd

    rows = []
    for r in records:
        if r.get("phase") == "extra" and "hotspots" in r:
            total = sum(r.get("hotspot_libraries", {}).values())
            rows += [{"_index": r["config"], "config": str(candidates[r["config"]]), **row,
                      columns[-1]: row["own_s"] / total if total else float("nan")}
                     for row in rows_of(r)]
    frame = pd.DataFrame(rows, columns=["_index", *columns])
    frame = frame.sort_values(["_index", "own_s"], ascending=[True, False], kind="stable")
    return frame.drop(columns="_index").reset_index(drop=True)


def hotspots_frame(records, candidates):
    """One row per (configuration, hot function) of the extra runs.

    Parameters
    ----------
    records : list of dict
        Trial records; those with ``phase == "extra"`` and a ``hotspots``
        field are used, ``config`` being an index into ``candidates``.
    candidates : list of Config
        The configurations the indices refer to.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``config``, ``function``, ``file``, ``line``, ``library``,
        ``calls``, ``own_s``, ``cum_s``, ``own_share`` (of the run's profiled
        total); by configuration (candidate order), then decreasing
        ``own_s``. Empty, with these columns, when nothing was profiled.
    """
    return _frame(records, candidates, _HOTSPOT_COLUMNS, lambda r: r["hotspots"])


def library_frame(records, candidates):
    """Own time per (configuration, library) of the extra runs.

    Takes the same arguments as :func:`hotspots_frame` and returns a
    DataFrame with columns ``config``, ``library``, ``own_s`` and ``share``
    (of the run's profiled total), sorted and empty the same way.
    """
    return _frame(records, candidates, _LIBRARY_COLUMNS, lambda r: [
        {"library": lib, "own_s": own} for lib, own in r.get("hotspot_libraries", {}).items()])


# The profiler's own frames, left out of the results.
_OWN_ENTRIES = {("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>"),
                (HotspotsProfiler.stop.__code__.co_filename,
                 HotspotsProfiler.stop.__code__.co_firstlineno, "stop")}
