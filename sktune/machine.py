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
import os
import platform

from . import _system
from ._system import (
    engine_versions,
    environment_snapshot,
    physical_cores,
    throttle_snapshot,
    usable_cores,
)
from ._units import exact_size
from .exceptions import InvalidParameterError

__all__ = [
    "Machine",
    "engine_versions",
    "environment_snapshot",
    "physical_cores",
    "throttle_snapshot",
    "usable_cores",
]

# num_threads changes under every limit and filepath carries a build hash.
_POOL_FINGERPRINT_KEYS = ("user_api", "internal_api", "prefix", "version",
                          "threading_layer", "architecture")


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
        compiled = _system.compiled_info()  # may load sktune's extension: scan after it
        return cls(
            cpu_model=_system.cpu_model(),
            logical_cores=os.cpu_count() or 1,
            physical_cores=physical_cores(),
            usable_cores=usable_cores(),
            affinity_cores=_system.affinity_count(),
            cgroup_quota=_system.cgroup_cpu_quota(),
            caches=_system.read_caches(),
            threadpools=_system.threadpools(refresh_threadpools),
            versions=_system.package_versions(),
            platform=platform.platform(),
            python_implementation=platform.python_implementation(),
            gil_enabled=_system.gil_enabled(),
            start_method=_system.start_method(),
            numba_threading_layer=_system.numba_threading_layer(),
            compiled=compiled,
            omp_env={k: os.environ[k] for k in _system.THREAD_ENV if k in os.environ},
            free_threaded=_system.free_threaded_build(),
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
        return format_machine(self)


# -- its text: what `sktune info` prints and reports show ---------------------------
def _wrap_items(items, width=64):
    """Join ``items`` with commas into lines of about ``width``, never inside one."""
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) > width:
            lines[-1] += ","
            lines.append(item)
        else:
            lines[-1] += ", " + item
    return lines


def _short_path(path):
    if not path:
        return "-"
    parts = str(path).replace("\\", "/").split("/")
    return path if len(parts) <= 2 else ".../" + "/".join(parts[-2:])


def gil_state(machine):
    """How the interpreter runs threads, for reports; None for a GIL build.

    Only a free-threaded build (3.13t, 3.14t) has something to say: whether
    the GIL was really off when the trials ran, since an extension not
    marked compatible turns it back on (PITFALLS.md section 6).
    """
    if not machine.free_threaded and machine.gil_enabled:
        return None
    if not machine.gil_enabled:
        return "free-threaded build, GIL off"
    return ("free-threaded build, but the GIL was on "
            "(an extension turned it back on, or PYTHON_GIL=1)")


def python_line(machine):
    """``3.14.0 (CPython, free-threaded build, GIL off)``; a GIL build says "GIL build"."""
    return (f"{machine.versions.get('python')} ({machine.python_implementation}, "
            f"{gil_state(machine) or 'GIL build'})")


def format_machine(machine):
    """Return the multi-line text shown by ``sktune info``."""
    quota = "none" if machine.cgroup_quota is None else f"{machine.cgroup_quota:g}"
    affinity = "unknown" if machine.affinity_cores is None else machine.affinity_cores
    caches = ", ".join(f"{k} {exact_size(v)}" for k, v in machine.caches.items())
    versions = [f"{k} {v}" for k, v in machine.versions.items()
                if k != "python" and v is not None]
    missing = [k for k, v in machine.versions.items() if v is None]
    if missing:
        versions.append(f"not installed: {' '.join(missing)}")
    compiled = [f"{k}={v}" for k, v in machine.compiled.items()] or ["unknown"]
    env = [f"{k}={v}" for k, v in machine.omp_env.items()] or ["none set"]
    rows = [
        ("CPU", machine.cpu_model),
        ("cores", f"{machine.usable_cores} usable ({machine.logical_cores} logical, "
                  f"{machine.physical_cores} physical; affinity {affinity}; "
                  f"cgroup quota {quota})"),
        ("caches", caches or "unknown"),
        ("python", python_line(machine)),
        ("platform", machine.platform),
        ("versions", versions),
        ("start method", machine.start_method),
        ("numba layer", machine.numba_threading_layer or "- (numba not imported)"),
        ("compiled", compiled),
        ("thread env", env),
    ]
    lines = []
    for label, value in rows:
        wrapped = _wrap_items(value) if isinstance(value, list) else [str(value)]
        lines.append(f"{label:<15}{wrapped[0]}")
        lines.extend(" " * 15 + more for more in wrapped[1:])
    lines.append("thread pools" if machine.threadpools else "thread pools   none loaded")
    cells = [[p.get("user_api") or "-", p.get("internal_api") or "-",
              str(p.get("version") or "-"), p.get("threading_layer") or "-",
              f"{p.get('num_threads')} threads", _short_path(p.get("filepath"))]
             for p in machine.threadpools]
    widths = [max((len(row[i]) for row in cells), default=0) for i in range(5)]
    for row in cells:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths))
                     + "  " + row[5])
    lines.append(f"{'fingerprint':<15}{machine.fingerprint} (wisdom is kept under "
                 f"{machine.stable_fingerprint}, which leaves out the loaded thread pools)")
    return "\n".join(lines)
