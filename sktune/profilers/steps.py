"""Time every step of a pipeline, in this process and in joblib's workers.

The steps profiler answers "which step is slow?". It instruments sktune's
own clone of the estimator, never the user's object: every estimator in the
composition tree (``Pipeline`` steps, ``ColumnTransformer`` and
``FeatureUnion`` transformers, ``TransformedTargetRegressor``'s regressor,
the ``estimator`` of ``GridSearchCV`` and other meta-estimators) gets its
class swapped for a generated subclass whose public methods (``fit``,
``transform``, ``predict``, ...) time themselves.

Why a subclass and not a wrapper object: scikit-learn clones sub-estimators
(``clone`` rebuilds ``type(est)(**params)``), so the subclass survives the
clones that ``ColumnTransformer`` and ``GridSearchCV`` make, ``isinstance``
checks still hold, and methods hidden by ``available_if`` stay hidden. The
subclass pickles by reference to :func:`_rebuild`, so an instrumented
estimator sent to a loky or multiprocessing worker times itself there too:
worker processes append their events, once each outermost timed call ends,
to one file per process in a directory owned by the profiling process,
which reads them back at ``stop``.

Each event has the step's path (``columntransformer__num__standardscaler``,
its ``set_params`` prefix; the root is ``""``), the method, its inclusive time, and its *self* time:
inclusive time minus the time of timed steps it called in the same thread.
Self times of a sequential pipeline add up to the root's time, so their
shares of the trial add up to 1.
"""

import os
import pickle
import shutil
import tempfile
import threading
import time
import tracemalloc

from .._estimators import iter_estimators
from .base import Profiler

#: Methods that are timed when the estimator has them.
TIMED_METHODS = (
    "fit", "partial_fit", "fit_transform", "fit_predict", "transform",
    "inverse_transform", "predict", "predict_proba", "predict_log_proba",
    "decision_function", "score", "score_samples",
)

_clock = time.perf_counter
_local = threading.local()
_classes = {}  # (base class, path, sink spec) -> generated subclass
_sinks = {}  # sink spec -> _Sink, in every process that has seen one


# -- where events go -----------------------------------------------------------
class _Sink:
    """Collects step events: in memory in the owner process, in files elsewhere.

    A worker process appends its events to ``<directory>/<pid>.events``
    through a descriptor it keeps open: at the end of each outermost timed
    call, the events since the last write as one pickled list, in one
    ``os.write`` (a short write with O_APPEND is not interleaved with another
    process's). Events are tuples and the lists are pickled because opening
    the file for each event, then ``json.dumps`` (19 us for 5 events against
    1.5 us for ``pickle.dumps`` of 5 tuples), made the steps profiler 5-7%
    of a GridSearchCV whose 120 inner fits in two loky workers send 1300
    events. The owner never deletes a file a worker may hold open: it reads
    each one from where it stopped last time, and ``start`` skips what is
    already there.
    """

    def __init__(self, spec):
        self.spec = spec
        self.directory, self.owner_pid = spec
        self.events = []
        self.lock = threading.Lock()
        self.offsets = {}  # owner: file name -> bytes already read or skipped

    def add(self, event, outermost=True):
        if _pid == self.owner_pid:
            self.events.append(event)  # list.append is atomic across threads
            return
        with self.lock:  # another thread of the worker may flush meanwhile
            self.events.append(event)
            if not outermost:
                return
            events, self.events = self.events, []
            try:
                os.write(self._fd(), pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL))
            except OSError:
                pass  # the profiling process went away; never fail the user's fit

    def _fd(self):
        global _worker_file
        key = (self.spec, _pid)  # a forked child must not share its parent's
        if _worker_file is None or _worker_file[0] != key:
            if _worker_file is not None and _worker_file[0][1] == _pid:
                os.close(_worker_file[1])  # one file open at a time per process
            _worker_file = None
            path = os.path.join(self.directory, f"{_pid}.events")
            _worker_file = (key, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        return _worker_file[1]

    def _files(self):
        return sorted(name for name in os.listdir(self.directory) if name.endswith(".events"))

    def clear(self):
        self.events.clear()
        self.offsets = {name: os.path.getsize(os.path.join(self.directory, name))
                        for name in self._files()}

    def drain(self):
        """All events since ``clear``, as dicts, in completion order per process."""
        events, self.events = self.events, []
        for name in self._files():
            with open(os.path.join(self.directory, name), "rb") as f:
                f.seek(self.offsets.get(name, 0))
                while True:
                    try:
                        events += pickle.load(f)  # our own workers' lists, in our 0700 dir
                    except (EOFError, pickle.UnpicklingError, ValueError):
                        break  # the end, or a list being written: read next time
                    self.offsets[name] = f.tell()
        return [_as_dict(event) for event in events]


def _as_dict(event):
    step, method, seconds, self_seconds, alloc, error = event
    row = {"step": step, "method": method, "seconds": seconds, "self_seconds": self_seconds}
    if alloc is not None:
        row["alloc_peak_bytes"] = alloc
    if error is not None:
        row["error"] = error
    return row


_worker_file = None  # ((spec, pid), descriptor) of the events file this worker appends to
_pid = os.getpid()  # os.getpid() is a system call; a forked child updates this


def _after_fork():
    # A child forked inside a timed call (the multiprocessing backend forks
    # its pool from GridSearchCV.fit) inherits the parent's stack of frames:
    # its own calls would never be outermost, so never written.
    global _pid
    _pid = os.getpid()
    _local.stack = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _sink(spec):
    sink = _sinks.get(spec)
    if sink is None:
        sink = _sinks[spec] = _Sink(spec)
    return sink


# -- frames: time and Python allocations of nested calls ------------------------
class Frame:
    """One call on this thread's stack of timed calls.

    ``child_seconds`` accumulates the time of timed calls made from it in
    the same thread. With tracemalloc tracing, its peak counter is reset at
    each entry (so a step's own peak can be read at its exit); ``peak_seen``
    keeps what the counter held before a child reset it, so that a caller's
    peak still includes its children's.
    """

    __slots__ = ("child_seconds", "traced_at_entry", "peak_seen")

    def __init__(self):
        self.child_seconds = 0.0
        self.traced_at_entry = self.peak_seen = None


def _stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def enter_frame():
    """Push a :class:`Frame` for a call starting now on this thread."""
    stack, frame = _stack(), Frame()
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        if stack and stack[-1].peak_seen is not None:
            stack[-1].peak_seen = max(stack[-1].peak_seen, peak)
        tracemalloc.reset_peak()
        frame.traced_at_entry = frame.peak_seen = current
    stack.append(frame)
    return frame


def exit_frame(frame, seconds=0.0):
    """Pop ``frame``; return its Python allocation peak in bytes (or None)."""
    stack = _stack()
    if stack and stack[-1] is frame:
        stack.pop()
    elif frame in stack:  # not the last one: a caller misbehaved
        del stack[stack.index(frame):]
    if stack:
        stack[-1].child_seconds += seconds
    if frame.traced_at_entry is None or not tracemalloc.is_tracing():
        return None
    peak = max(tracemalloc.get_traced_memory()[1], frame.peak_seen)
    if stack and stack[-1].peak_seen is not None:
        stack[-1].peak_seen = max(stack[-1].peak_seen, peak)
    return peak - frame.traced_at_entry


# -- the timed subclass --------------------------------------------------------
def _timed_call(cls, method, bound, args, kwargs):
    # enter_frame/exit_frame inlined for the common case (no tracemalloc):
    # this runs for every step call, ~1500 times a second in a grid search.
    stack = _stack()
    if tracemalloc.is_tracing():
        frame = enter_frame()
    else:
        frame = Frame()
        stack.append(frame)
    error = None
    start = _clock()
    try:
        return bound(*args, **kwargs)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        seconds = _clock() - start
        if frame.traced_at_entry is None and stack and stack[-1] is frame:
            stack.pop()
            if stack:
                stack[-1].child_seconds += seconds
            alloc = None
        else:
            alloc = exit_frame(frame, seconds)
        event = (cls._sktune_path, method, seconds, seconds - frame.child_seconds, alloc, error)
        _sink(cls._sktune_spec).add(event, outermost=not stack)


class _Timed:
    """The timed version of one bound method; its other attributes are the method's.

    A small object rather than a ``functools.wraps`` closure: scikit-learn
    calls ``hasattr(est, "transform")`` and the like several times per call
    (tags, fitted checks), and each one builds this. With ``wraps`` that cost
    4 us per ``hasattr`` and 26 us per ``StandardScaler.transform``.
    """

    __slots__ = ("cls", "name", "bound")

    def __init__(self, cls, name, bound):
        self.cls, self.name, self.bound = cls, name, bound

    def __call__(self, *args, **kwargs):
        return _timed_call(self.cls, self.name, self.bound, args, kwargs)

    @property
    def __wrapped__(self):  # inspect.signature and help() follow it
        return self.bound

    @property
    def __doc__(self):
        return self.bound.__doc__

    def __getattr__(self, attr):  # __name__, __qualname__, __self__, __func__, ...
        return getattr(self.bound, attr)

    def __repr__(self):
        return f"<timed {self.bound!r}>"


class _TimedMethod:
    """Descriptor: the base class's method, timed; absent where the base's is."""

    def __init__(self, cls, name):
        self.cls, self.name = cls, name

    def __get__(self, obj, owner=None):
        base_attr = getattr(super(self.cls, owner if obj is None else obj), self.name)
        if obj is None:
            return base_attr
        return _Timed(self.cls, self.name, base_attr)


def _reduce(self, protocol):
    cls = type(self)
    return (_rebuild, (cls._sktune_base, cls._sktune_path, cls._sktune_spec),
            self.__getstate__())


def timed_class(base, path, spec):
    """The subclass of ``base`` that times its methods as step ``path``."""
    key = (base, path, spec)
    cls = _classes.get(key)
    if cls is None:
        # Same name and module as the base: reprs, error messages and
        # scikit-learn's version stamp (module "sklearn.*") are unchanged.
        cls = type(base.__name__, (base,), {
            "__module__": base.__module__, "__qualname__": base.__qualname__,
            "_sktune_base": base, "_sktune_path": path, "_sktune_spec": spec,
            "__reduce_ex__": _reduce})
        for name in TIMED_METHODS:
            if hasattr(base, name):
                setattr(cls, name, _TimedMethod(cls, name))
        _classes[key] = cls
    return cls


def _rebuild(base, path, spec):
    cls = timed_class(base, path, spec)
    return cls.__new__(cls)


def instrument(estimator, spec):
    """Swap the class of every step of ``estimator`` (in place) for its timed twin.

    Returns the paths that could not be instrumented (their class does not
    allow ``__class__`` assignment); they are simply not timed.
    """
    skipped = []
    for path, step in iter_estimators(estimator):
        base = getattr(type(step), "_sktune_base", type(step))
        try:
            step.__class__ = timed_class(base, path, spec)
        except TypeError:
            skipped.append(path)
    return skipped


def aggregate(events):
    """Sum events per (step, method): calls, seconds, self seconds, first error."""
    rows = {}
    for e in events:
        row = rows.setdefault((e["step"], e["method"]), {
            "step": e["step"], "method": e["method"], "calls": 0,
            "seconds": 0.0, "self_seconds": 0.0})
        row["calls"] += 1
        row["seconds"] += e["seconds"]
        row["self_seconds"] += e["self_seconds"]
        if "alloc_peak_bytes" in e:
            row["alloc_peak_bytes"] = max(row.get("alloc_peak_bytes", 0),
                                          e["alloc_peak_bytes"])
        if "error" in e and "error" not in row:
            row["error"] = e["error"]
    return list(rows.values())


class StepsProfiler(Profiler):
    """Time of every step's methods (``steps``) and the step that raised (``failed_step``).

    ``steps`` is a list of ``{"step", "method", "calls", "seconds",
    "self_seconds"}`` dicts (plus ``error`` and, when tracemalloc is
    tracing, ``alloc_peak_bytes``). Steps run by worker processes are
    included; their events are read back from files when the trial stops.
    """

    name = "steps"

    def __init__(self):
        self._spec = None
        self.skipped = []

    def instrument(self, estimator):
        if self._spec is None:
            directory = tempfile.mkdtemp(prefix="sktune_steps_")
            self._spec = (directory, os.getpid())
        self.skipped = instrument(estimator, self._spec)
        return estimator

    def start(self):
        if self._spec is not None:
            _sink(self._spec).clear()

    def stop(self):
        if self._spec is None:
            return {"steps": [], "failed_step": None}
        events = _sink(self._spec).drain()
        # Events arrive in completion order: the first error is the innermost step.
        failed = next((f"{e['step'] or '(root)'}.{e['method']}" for e in events
                       if "error" in e), None)
        return {"steps": aggregate(events), "failed_step": failed}

    def close(self):
        if self._spec is not None:
            _sinks.pop(self._spec, None)
            shutil.rmtree(self._spec[0], ignore_errors=True)
            self._spec = None
