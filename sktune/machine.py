"""Describe the machine a profile ran on, and fingerprint what decides its speed.

A recommendation such as "n_jobs=2, one BLAS thread" only holds on the machine
where it was measured: the cores this process may really use (affinity, cgroup
quota, ``LOKY_MAX_CPU_COUNT``), the CPU and its caches, every BLAS/OpenMP copy
loaded, the package versions and the threading environment variables.
:class:`Machine` records these as plain JSON types, prints them for
``sktune info`` (the model is scikit-learn's ``show_versions()``) and hashes the
stable ones into a :attr:`Machine.fingerprint` that keys saved results. The
volatile facts that can spoil a single run (load, frequency, throttling) are
taken per run by :func:`environment_snapshot` instead.
"""

import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import sysconfig
from datetime import datetime, timezone

from .exceptions import InvalidParameterError

__all__ = [
    "Machine",
    "engine_versions",
    "environment_snapshot",
    "physical_cores",
    "throttle_snapshot",
    "usable_cores",
]

_CGROUP_ROOT = "/sys/fs/cgroup"
_CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"
_CPUINFO = "/proc/cpuinfo"
# Distribution names, looked up in package metadata so that nothing is imported.
_VERSIONED = ("numpy", "scipy", "scikit-learn", "joblib", "threadpoolctl", "numba",
              "pandas", "matplotlib", "psutil", "sktune")
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_NUM_THREADS",
               "LOKY_MAX_CPU_COUNT", "JOBLIB_START_METHOD")
_POOL_KEYS = ("user_api", "internal_api", "prefix", "filepath", "version",
              "num_threads", "threading_layer", "architecture")
# num_threads changes under every limit and filepath carries a build hash.
_POOL_FINGERPRINT_KEYS = ("user_api", "internal_api", "prefix", "version",
                          "threading_layer", "architecture")


def usable_cores() -> int:
    """Number of cores this process can really use.

    Returns
    -------
    n_cores : int
        The minimum of the logical CPUs, the affinity mask, the cgroup CPU
        quota (rounded up) and ``LOKY_MAX_CPU_COUNT``, as read here, and of
        ``joblib.cpu_count()``, which joblib itself uses for ``n_jobs=-1``.
        ``os.cpu_count()`` ignores all three.
    """
    import joblib

    loky_max = os.environ.get("LOKY_MAX_CPU_COUNT", "")
    own = _combine_cpu_counts(os.cpu_count(), _affinity_count(), _cgroup_cpu_quota(),
                              int(loky_max) if loky_max.isdigit() else None)
    return min(own, joblib.cpu_count())


def physical_cores() -> int:
    """Number of physical cores, as scikit-learn's OpenMP code counts them.

    Returns
    -------
    n_cores : int
        ``joblib.cpu_count(only_physical_cores=True)``. Like loky, it gives the
        usable count instead when affinity, quota or ``LOKY_MAX_CPU_COUNT`` is
        lower than the number of logical CPUs.
    """
    import joblib

    return joblib.cpu_count(only_physical_cores=True)


def _read(path):
    """Stripped text of a small file, or None when it cannot be read."""
    try:
        with open(path) as fh:
            return fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cgroup_cpu_quota(root=_CGROUP_ROOT):
    """CPU bandwidth quota in cores (``1.5`` for 150 ms per 100 ms), or None.

    Reads cgroup v2 ``cpu.max`` then cgroup v1 ``cpu/cpu.cfs_quota_us`` and
    ``cpu.cfs_period_us`` under ``root``, the same files in the same order as
    loky, so the result matches ``joblib.cpu_count()``.
    """
    parts = (_read(os.path.join(root, "cpu.max")) or "").split()
    if len(parts) == 2:
        quota, period = parts
    else:  # no v2 file (or a malformed one): loky falls back to v1 too
        quota = _read(os.path.join(root, "cpu", "cpu.cfs_quota_us"))
        period = _read(os.path.join(root, "cpu", "cpu.cfs_period_us"))
    if quota is None or period is None or quota == "max":
        return None
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    if quota <= 0 or period <= 0:  # v1 writes -1 for "no limit"
        return None
    return quota / period


def _affinity_count():
    """Number of CPUs in this process's affinity mask, or None if unknown."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return len(os.sched_getaffinity(0))
    except (OSError, NotImplementedError):
        return None


def _combine_cpu_counts(logical, affinity=None, quota=None, loky_max=None):
    """Usable cores from their parts, with loky's rule (quota rounded up)."""
    counts = [logical or 1]
    if affinity is not None:
        counts.append(affinity)
    if quota is not None:
        counts.append(math.ceil(quota))
    if loky_max is not None:
        counts.append(loky_max)
    return max(min(counts), 1)


def throttle_snapshot(root: str = _CGROUP_ROOT) -> dict | None:
    """Cumulative cgroup CPU throttling counters, to diff around a run.

    Parameters
    ----------
    root : str, default="/sys/fs/cgroup"
        Mount point of the cgroup file system.

    Returns
    -------
    counters : dict or None
        ``{"nr_throttled": int, "throttled_usec": int}`` from cgroup v2
        ``cpu.stat``, or from cgroup v1 ``cpu/cpu.stat`` (whose
        ``throttled_time`` in nanoseconds is converted). None when neither
        file has the counters.

    Notes
    -----
    A run during which ``nr_throttled`` grew was slowed by the quota, not by
    the configuration (PITFALLS.md section 7).
    """
    for rel, key, divisor in (("cpu.stat", "throttled_usec", 1),
                              (os.path.join("cpu", "cpu.stat"), "throttled_time", 1000)):
        text = _read(os.path.join(root, rel))
        if text is None:
            continue
        stat = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            try:
                stat[name] = int(value)
            except ValueError:
                continue
        # A v2 cpu.stat without the cpu controller lacks these: try v1.
        if "nr_throttled" in stat and key in stat:
            return {"nr_throttled": stat["nr_throttled"],
                    "throttled_usec": stat[key] // divisor}
    return None


def _gil_enabled():
    """Whether the GIL is on now: importing an extension not marked free-threading
    compatible turns it back on (CPython gh-116322), so read it at measurement time."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


def _free_threaded_build():
    """Whether this interpreter is a free-threaded build (3.13t, 3.14t)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def engine_versions() -> dict:
    """Versions of the optional engines sktune can use, without importing them.

    Returns
    -------
    versions : dict
        One key per engine of ``sktune._engines.ENGINES``, as people call
        it (``"dask.distributed"``, ``"ray"``, ``"scikit-learn-intelex"``);
        each value is the installed version, or None when the module cannot
        be found. Nothing is imported (``import ray`` alone takes seconds):
        the module is looked up with :func:`importlib.util.find_spec` and
        the version read from the distribution's metadata.
    """
    from ._engines import ENGINES

    return {cls.package.display: cls.package.version() for cls in ENGINES.values()}


def environment_snapshot() -> dict:
    """Volatile facts that can spoil one profiling run; take one per run.

    Returns
    -------
    snapshot : dict
        ``load_avg`` (list of 3 floats or None), ``cpu_freq_mhz`` (float or
        None), ``cpu_steal_s`` (cumulative steal time in seconds, or None),
        ``throttle`` (:func:`throttle_snapshot`), ``gil_enabled`` (a
        free-threaded build can re-enable the GIL when an extension is
        imported, so it is checked now) and ``time`` (ISO 8601, UTC).
    """
    import psutil

    try:
        load_avg = [float(x) for x in os.getloadavg()]
    except (OSError, AttributeError):
        load_avg = None
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError):
        freq = None
    steal = getattr(psutil.cpu_times(), "steal", None)
    return {
        "load_avg": load_avg,
        "cpu_freq_mhz": float(freq.current) if freq and freq.current else None,
        "cpu_steal_s": None if steal is None else float(steal),
        "throttle": throttle_snapshot(),
        "gil_enabled": _gil_enabled(),
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    }


def _cpu_model(cpuinfo=_CPUINFO):
    text = _read(cpuinfo) or ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() in ("model name", "cpu model", "hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def _parse_size(text):
    """``"32K"`` -> 32768; None when unparsable."""
    text = text.strip().upper()
    factor = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    digits = text.rstrip("KMGB")
    return int(digits) * factor if digits.isdigit() else None


def _read_caches(cache_dir=_CACHE_DIR):
    """``{"L1d": bytes, "L1i": ..., "L2": ..., "L3": ...}`` from sysfs."""
    suffix = {"Data": "d", "Instruction": "i", "Unified": ""}
    caches = {}
    try:
        entries = sorted(e for e in os.listdir(cache_dir) if e.startswith("index"))
    except OSError:
        return caches
    for entry in entries:
        level, kind, size = (_read(os.path.join(cache_dir, entry, name))
                             for name in ("level", "type", "size"))
        if level is None or kind not in suffix or size is None:
            continue
        n_bytes = _parse_size(size)
        if n_bytes is not None:
            caches[f"L{level}{suffix[kind]}"] = n_bytes
    return caches


def _threadpools(refresh=True):
    import threadpoolctl

    if refresh or not hasattr(threadpoolctl, "get_cached_controller"):
        # Built now, not earlier: it only sees libraries already loaded.
        controller = threadpoolctl.ThreadpoolController()
    else:  # threadpoolctl >= 3.8, rebuilt when sys.modules grows
        controller = threadpoolctl.get_cached_controller()
    return tuple({key: info.get(key) for key in _POOL_KEYS} for info in controller.info())


def _package_versions():
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    if versions["sktune"] is None:  # running from a source tree
        from ._version import __version__

        versions["sktune"] = __version__
    return versions


def _start_method():
    import multiprocessing

    # get_all_start_methods()[0] is the default; get_context().get_start_method()
    # would fix the start method for the whole process as a side effect.
    method = (multiprocessing.get_start_method(allow_none=True)
              or multiprocessing.get_all_start_methods()[0])
    joblib_method = os.environ.get("JOBLIB_START_METHOD")
    return f"{method}; JOBLIB_START_METHOD={joblib_method}" if joblib_method else method


def _numba_threading_layer():
    numba = sys.modules.get("numba")  # never import numba just to look
    config = getattr(numba, "config", None)
    layer = getattr(config, "THREADING_LAYER", None)
    return None if layer is None else str(layer)


def _compiled_info():
    import importlib

    try:  # import_module, unlike "from . import", honours sys.modules (tests)
        kernels = importlib.import_module(f"{__package__}._compiled.kernels")
        return {str(k): v for k, v in dict(kernels.engine_info()).items()}
    except Exception:  # any failure means "unknown", never a broken `sktune info`
        return {}


@dataclasses.dataclass(frozen=True)
class Machine:
    """Snapshot of the hardware and software that decide how fast a pipeline runs.

    Build one with :meth:`detect`; every field is a plain JSON type.

    Attributes
    ----------
    cpu_model, platform, python_implementation : str
    logical_cores, physical_cores, usable_cores : int
        ``os.cpu_count()``, :func:`physical_cores` and :func:`usable_cores`
        (the count that joblib and sktune plan with).
    affinity_cores : int or None
        Size of the affinity mask; None where the OS has none.
    cgroup_quota : float or None
        CPU quota in cores; None without a limit.
    caches : dict
        Sizes in bytes keyed ``L1d``, ``L1i``, ``L2``, ``L3``.
    threadpools : tuple of dict
        One threadpoolctl entry per loaded BLAS/OpenMP copy (by ``filepath``).
    versions : dict
        Python and relevant packages; None when not installed.
    gil_enabled : bool
        Whether the GIL was on when the machine was detected (after the first
        run, in the process that runs the trials): a free-threaded build turns
        it back on when it imports an extension not marked compatible.
    start_method : str
        multiprocessing's start method, plus ``JOBLIB_START_METHOD`` if set.
    numba_threading_layer : str or None
        Configured layer; None when numba is not imported.
    compiled : dict
        ``sktune._compiled.kernels.engine_info()``; empty if unknown.
    omp_env : dict
        The thread-related environment variables that are set.
    free_threaded : bool, default=False
        Whether the interpreter is a free-threaded build (3.13t, 3.14t;
        ``Py_GIL_DISABLED``), whatever the GIL's state now. Results saved
        before this field existed load with ``not gil_enabled``.
    """

    cpu_model: str
    logical_cores: int
    physical_cores: int
    usable_cores: int
    affinity_cores: int | None
    cgroup_quota: float | None
    caches: dict
    threadpools: tuple
    versions: dict
    platform: str
    python_implementation: str
    gil_enabled: bool
    start_method: str
    numba_threading_layer: str | None
    compiled: dict
    omp_env: dict
    free_threaded: bool = False  # last, with a default: older JSON lacks it

    @classmethod
    def detect(cls, refresh_threadpools: bool = True) -> "Machine":
        """Describe the current process and machine.

        Parameters
        ----------
        refresh_threadpools : bool, default=True
            Scan the loaded libraries with a new ``ThreadpoolController``.
            If False, reuse threadpoolctl's cached controller, which is only
            rebuilt when ``sys.modules`` grows. Call this after warm-up so that
            lazily loaded libraries (numba's OpenMP, sktune's extension) are
            included.

        Returns
        -------
        machine : Machine
        """
        compiled = _compiled_info()  # may load sktune's extension: scan after it
        return cls(
            cpu_model=_cpu_model(),
            logical_cores=os.cpu_count() or 1,
            physical_cores=physical_cores(),
            usable_cores=usable_cores(),
            affinity_cores=_affinity_count(),
            cgroup_quota=_cgroup_cpu_quota(),
            caches=_read_caches(),
            threadpools=_threadpools(refresh_threadpools),
            versions=_package_versions(),
            platform=platform.platform(),
            python_implementation=platform.python_implementation(),
            gil_enabled=_gil_enabled(),
            start_method=_start_method(),
            numba_threading_layer=_numba_threading_layer(),
            compiled=compiled,
            omp_env={k: os.environ[k] for k in _THREAD_ENV if k in os.environ},
            free_threaded=_free_threaded_build(),
        )

    @property
    def fingerprint(self) -> str:
        """Short hex hash of the facts that decide performance.

        Thread counts of the pools, file paths, the platform string and the
        start method are left out, so two :meth:`detect` calls in one process
        agree; a different core count, CPU, library or version changes it.
        """
        return self._digest(pools=True)

    @property
    def stable_fingerprint(self) -> str:
        """:attr:`fingerprint` without the thread pools loaded so far.

        Which BLAS and OpenMP libraries are loaded depends on what this
        process has imported and run, so :attr:`fingerprint` can differ
        before and after a profiling run in one process. This one cannot:
        the wisdom cache is keyed by it. The libraries themselves are still
        covered through the package versions that ship them.
        """
        return self._digest(pools=False)

    def _digest(self, pools):
        payload = {
            "cpu_model": self.cpu_model,
            "cores": [self.logical_cores, self.physical_cores, self.usable_cores],
            "cgroup_quota": self.cgroup_quota,
            "caches": self.caches,
            "versions": self.versions,
            "python_implementation": self.python_implementation,
            "gil_enabled": self.gil_enabled,
            "omp_env": self.omp_env,
        }
        # A free-threaded build makes other configurations fastest (threads
        # beat processes once the GIL is off), so it must key wisdom apart,
        # but adding a key to this dict changes every fingerprint and drops
        # all stored wisdom. gil_enabled=False already implies the build, so
        # the key is added only for a free-threaded build whose GIL an
        # extension turned back on: until now that one shared its key with
        # the GIL build of the same versions. Every other fingerprint,
        # free-threaded ones with the GIL off included, stays as it was.
        if self.free_threaded and self.gil_enabled:
            payload["free_threaded"] = True
        if pools:
            payload["threadpools"] = sorted(
                json.dumps({k: p.get(k) for k in _POOL_FINGERPRINT_KEYS}, sort_keys=True)
                for p in self.threadpools)
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def __hash__(self):  # the dict fields are unhashable; equal => same fingerprint
        return hash(self.fingerprint)

    def to_dict(self) -> dict:
        """Plain-JSON dict of all fields, plus ``fingerprint`` for readers."""
        d = dataclasses.asdict(self)
        d["threadpools"] = [dict(p) for p in self.threadpools]
        d["fingerprint"] = self.fingerprint
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Machine":
        """Rebuild a Machine from :meth:`to_dict` output; unknown keys are ignored.

        Fields added later with a default (``free_threaded``) may be missing.

        Raises
        ------
        InvalidParameterError
            If a field without a default is missing.
        """
        fields = dataclasses.fields(cls)
        missing = [f.name for f in fields
                   if f.name not in d and f.default is dataclasses.MISSING]
        if missing:
            raise InvalidParameterError(
                f"Machine.from_dict got a dict without the keys {missing}; "
                "was it written by Machine.to_dict()?")
        kwargs = {f.name: d[f.name] for f in fields if f.name in d}
        if "free_threaded" not in d:  # saved before the field: only that build runs GIL-free
            kwargs["free_threaded"] = not d["gil_enabled"]
        kwargs["threadpools"] = tuple(dict(p) for p in d["threadpools"])
        for name in ("caches", "versions", "compiled", "omp_env"):
            kwargs[name] = dict(d[name])
        return cls(**kwargs)

    def __repr__(self):
        return (f"Machine(cpu_model={self.cpu_model!r}, usable_cores={self.usable_cores}, "
                f"fingerprint={self.fingerprint!r})")

    def __str__(self):
        from ._format import format_machine

        return format_machine(self)
