"""Probes of the operating system and the hardware: what ``Machine.detect`` reads.

Usable cores (affinity, cgroup quota, ``LOKY_MAX_CPU_COUNT``, as joblib
counts them), the CPU and its caches, the thread pools loaded, package
versions, the start method and Numba's threading layer; and the volatile
facts that can spoil one run (load, frequency, steal time, cgroup
throttling, other processes keeping the CPUs busy), taken per run. Each
probe reads files or asks a library and returns plain JSON types; none
fails: what cannot be read is None. :mod:`sktune.machine` puts them
together as a :class:`~sktune.Machine` and re-exports the public ones.
"""

import math
import os
import platform
import sys
import sysconfig
from datetime import datetime, timezone

_CGROUP_ROOT = "/sys/fs/cgroup"
_CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"
_CPUINFO = "/proc/cpuinfo"
# Distribution names, looked up in package metadata so that nothing is imported.
_VERSIONED = ("numpy", "scipy", "scikit-learn", "joblib", "threadpoolctl", "numba",
              "pandas", "matplotlib", "psutil", "sktune")
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_NUM_THREADS",
               "LOKY_MAX_CPU_COUNT", "JOBLIB_START_METHOD")
POOL_KEYS = ("user_api", "internal_api", "prefix", "filepath", "version",
              "num_threads", "threading_layer", "architecture")
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
    own = combine_cpu_counts(os.cpu_count(), affinity_count(), cgroup_cpu_quota(),
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


def read_text(path):
    """Stripped text of a small file, or None when it cannot be read."""
    try:
        with open(path) as fh:
            return fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_cpu_quota(root=_CGROUP_ROOT):
    """CPU bandwidth quota in cores (``1.5`` for 150 ms per 100 ms), or None.

    Reads cgroup v2 ``cpu.max`` then cgroup v1 ``cpu/cpu.cfs_quota_us`` and
    ``cpu.cfs_period_us`` under ``root``, the same files in the same order as
    loky, so the result matches ``joblib.cpu_count()``.
    """
    parts = (read_text(os.path.join(root, "cpu.max")) or "").split()
    if len(parts) == 2:
        quota, period = parts
    else:  # no v2 file (or a malformed one): loky falls back to v1 too
        quota = read_text(os.path.join(root, "cpu", "cpu.cfs_quota_us"))
        period = read_text(os.path.join(root, "cpu", "cpu.cfs_period_us"))
    if quota is None or period is None or quota == "max":
        return None
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    if quota <= 0 or period <= 0:  # v1 writes -1 for "no limit"
        return None
    return quota / period


def affinity_count():
    """Number of CPUs in this process's affinity mask, or None if unknown."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return len(os.sched_getaffinity(0))
    except (OSError, NotImplementedError):
        return None


def combine_cpu_counts(logical, affinity=None, quota=None, loky_max=None):
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
        text = read_text(os.path.join(root, rel))
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


def gil_enabled():
    """Whether the GIL is on now: importing an extension not marked free-threading
    compatible turns it back on (CPython gh-116322), so read it at measurement time."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


def free_threaded_build():
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
        "gil_enabled": gil_enabled(),
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    }


def cpu_model(cpuinfo=_CPUINFO):
    text = read_text(cpuinfo) or ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() in ("model name", "cpu model", "hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def parse_size(text):
    """``"32K"`` -> 32768; None when unparsable."""
    text = text.strip().upper()
    factor = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    digits = text.rstrip("KMGB")
    return int(digits) * factor if digits.isdigit() else None


def read_caches(cache_dir=_CACHE_DIR):
    """``{"L1d": bytes, "L1i": ..., "L2": ..., "L3": ...}`` from sysfs."""
    suffix = {"Data": "d", "Instruction": "i", "Unified": ""}
    caches = {}
    try:
        entries = sorted(e for e in os.listdir(cache_dir) if e.startswith("index"))
    except OSError:
        return caches
    for entry in entries:
        level, kind, size = (read_text(os.path.join(cache_dir, entry, name))
                             for name in ("level", "type", "size"))
        if level is None or kind not in suffix or size is None:
            continue
        n_bytes = parse_size(size)
        if n_bytes is not None:
            caches[f"L{level}{suffix[kind]}"] = n_bytes
    return caches


def threadpools(refresh=True):
    import threadpoolctl

    if refresh or not hasattr(threadpoolctl, "get_cached_controller"):
        # Built now, not earlier: it only sees libraries already loaded.
        controller = threadpoolctl.ThreadpoolController()
    else:  # threadpoolctl >= 3.8, rebuilt when sys.modules grows
        controller = threadpoolctl.get_cached_controller()
    return tuple({key: info.get(key) for key in POOL_KEYS} for info in controller.info())


def package_versions():
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


def start_method():
    import multiprocessing

    # get_all_start_methods()[0] is the default; get_context().get_start_method()
    # would fix the start method for the whole process as a side effect.
    method = (multiprocessing.get_start_method(allow_none=True)
              or multiprocessing.get_all_start_methods()[0])
    joblib_method = os.environ.get("JOBLIB_START_METHOD")
    return f"{method}; JOBLIB_START_METHOD={joblib_method}" if joblib_method else method


def numba_threading_layer():
    numba = sys.modules.get("numba")  # never import numba just to look
    config = getattr(numba, "config", None)
    layer = getattr(config, "THREADING_LAYER", None)
    return None if layer is None else str(layer)


def compiled_info():
    import importlib

    try:  # import_module, unlike "from . import", honours sys.modules (tests)
        kernels = importlib.import_module(f"{__package__}._compiled.kernels")
        return {str(k): v for k, v in dict(kernels.engine_info()).items()}
    except Exception:  # any failure means "unknown", never a broken `sktune info`
        return {}


def busy_elsewhere(interval=0.1):
    """Share of all CPUs busy right now, while sktune itself is idle.

    The load average would also count sktune's own previous run (its 1-minute
    average decays slowly), flagging back-to-back profiles as noisy.
    """
    import psutil

    return psutil.cpu_percent(interval=interval) / 100
