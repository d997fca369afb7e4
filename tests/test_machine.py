import dataclasses
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

from sktune import _system as system
from sktune import machine as machine_mod
from sktune.machine import (
    Machine,
    environment_snapshot,
    physical_cores,
    throttle_snapshot,
    usable_cores,
)

from _helpers import fake_machine

REPO_ROOT = str(Path(__file__).resolve().parents[1])


def _write(root, rel, text):
    path = Path(root, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _run_python(code, pin_to_cpu0=False, **env):
    """Run ``code`` in a fresh interpreter that imports sktune from this tree."""
    argv = [sys.executable, "-c", code]
    if pin_to_cpu0:
        # A small launcher pins itself, then execs the real interpreter: the
        # affinity is in place before any library reads it, and there is no
        # preexec_fn (unsafe with the BLAS threads alive in this process).
        launcher = ("import os, sys; os.sched_setaffinity(0, {0}); "
                    "os.execv(sys.executable, [sys.executable, '-c', sys.argv[1]])")
        argv = [sys.executable, "-c", launcher, code]
    proc = subprocess.run(argv, env={**os.environ, "PYTHONPATH": REPO_ROOT, **env},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def machine():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    scipy_linalg.inv(np.eye(3))  # load scipy's OpenBLAS copy next to numpy's
    return Machine.detect()


def test_cgroup_cpu_quota_v2_fractional(tmp_path):
    # Check that a v2 quota of 1.5 CPUs is read as 1.5 and counts as 2 cores (ceil, like loky).
    _write(tmp_path, "cpu.max", "150000 100000\n")
    quota = system.cgroup_cpu_quota(root=str(tmp_path))
    assert quota == 1.5
    assert system.combine_cpu_counts(logical=8, quota=quota) == 2


def test_cgroup_cpu_quota_v2_max_is_none(tmp_path):
    # Check that "max" in cpu.max means no quota.
    _write(tmp_path, "cpu.max", "max 100000\n")
    assert system.cgroup_cpu_quota(root=str(tmp_path)) is None


def test_cgroup_cpu_quota_v1_files(tmp_path):
    # Check that the cgroup v1 CFS files are used when cpu.max is absent.
    _write(tmp_path, "cpu/cpu.cfs_quota_us", "250000\n")
    _write(tmp_path, "cpu/cpu.cfs_period_us", "100000\n")
    assert system.cgroup_cpu_quota(root=str(tmp_path)) == 2.5
    _write(tmp_path, "cpu/cpu.cfs_quota_us", "-1\n")
    assert system.cgroup_cpu_quota(root=str(tmp_path)) is None


def test_cgroup_cpu_quota_missing_files_is_none(tmp_path):
    # Check that a root without cgroup files (or with garbage) gives None.
    assert system.cgroup_cpu_quota(root=str(tmp_path / "nowhere")) is None
    _write(tmp_path, "cpu.max", "garbage\n")
    assert system.cgroup_cpu_quota(root=str(tmp_path)) is None


def test_combine_cpu_counts_takes_minimum():
    # Check that usable cores are the minimum of logical, affinity, quota and LOKY_MAX_CPU_COUNT.
    assert system.combine_cpu_counts(8) == 8
    assert system.combine_cpu_counts(8, affinity=3, quota=5.0, loky_max=4) == 3
    assert system.combine_cpu_counts(8, affinity=6, loky_max=4) == 4
    assert system.combine_cpu_counts(8, quota=0.2) == 1


def test_affinity_count_uses_sched_getaffinity(monkeypatch):
    # Check that the affinity count is the size of os.sched_getaffinity(0).
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert system.affinity_count() == 1
    monkeypatch.delattr(os, "sched_getaffinity")
    assert system.affinity_count() is None


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs sched_setaffinity and at least 2 CPUs")
def test_usable_cores_subprocess_with_affinity_one_cpu():
    # Check that a fresh subprocess pinned to CPU 0 counts 1 core (checklist 26).
    code = ("import joblib; print(joblib.cpu_count())\n"
            "from sktune.machine import usable_cores, physical_cores, Machine\n"
            "print(usable_cores()); print(physical_cores())\n"
            "m = Machine.detect(); print(m.usable_cores, m.affinity_cores)\n"
            "from sklearn.utils._openmp_helpers import _openmp_effective_n_threads\n"
            "print(_openmp_effective_n_threads())\n")
    lines = _run_python(code, pin_to_cpu0=True)
    assert lines == ["1", "1", "1", "1 1", "1"]


@pytest.mark.slow
def test_usable_cores_subprocess_respects_loky_max_cpu_count():
    # Check that LOKY_MAX_CPU_COUNT lowers usable cores and is recorded in omp_env.
    code = ("from sktune.machine import Machine\n"
            "m = Machine.detect(); print(m.usable_cores, m.omp_env['LOKY_MAX_CPU_COUNT'])\n")
    assert _run_python(code, LOKY_MAX_CPU_COUNT="1") == ["1 1"]


def test_usable_cores_matches_joblib():
    # Check that the public core counts are joblib's and are positive.
    import joblib

    assert usable_cores() == joblib.cpu_count() >= 1
    assert physical_cores() == joblib.cpu_count(only_physical_cores=True) >= 1


def test_throttle_snapshot_v2_and_v1(tmp_path):
    # Check that throttling counters come from v2 cpu.stat, or v1 with ns converted to usec.
    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    _write(v2, "cpu.stat", "usage_usec 10\nnr_periods 5\nnr_throttled 3\nthrottled_usec 42\n")
    assert throttle_snapshot(root=str(v2)) == {"nr_throttled": 3, "throttled_usec": 42}
    _write(v1, "cpu.stat", "usage_usec 10\n")  # v2 file without the cpu controller
    _write(v1, "cpu/cpu.stat", "nr_periods 9\nnr_throttled 2\nthrottled_time 5000000\n")
    assert throttle_snapshot(root=str(v1)) == {"nr_throttled": 2, "throttled_usec": 5000}
    assert throttle_snapshot(root=str(tmp_path / "nowhere")) is None


def test_environment_snapshot_has_volatile_fields():
    # Check that the per-run snapshot has the fields of checklist 30 and is JSON.
    snap = environment_snapshot()
    for key in ("load_avg", "cpu_freq_mhz", "throttle", "gil_enabled", "time"):
        assert key in snap
    assert isinstance(snap["gil_enabled"], bool)
    assert snap["time"].endswith("+00:00")
    if snap["load_avg"] is not None:
        assert len(snap["load_avg"]) == 3
    json.dumps(snap)


def test_read_caches_parses_sysfs_layout(tmp_path):
    # Check that sysfs cache entries become L1d/L1i/L2/L3 sizes in bytes.
    for i, (level, kind, size) in enumerate([("1", "Data", "32K"), ("1", "Instruction", "64K"),
                                             ("2", "Unified", "512K"), ("3", "Unified", "8M")]):
        for name, value in (("level", level), ("type", kind), ("size", size)):
            _write(tmp_path, f"index{i}/{name}", value + "\n")
    assert system.read_caches(str(tmp_path)) == {
        "L1d": 32 * 1024, "L1i": 64 * 1024, "L2": 512 * 1024, "L3": 8 * 1024**2}
    assert system.read_caches(str(tmp_path / "nowhere")) == {}


def test_machine_detect_fields_are_sane(machine):
    # Check that detect() fills every field with plausible, JSON-serialisable values.
    assert machine.cpu_model
    assert 1 <= machine.usable_cores <= machine.logical_cores == os.cpu_count()
    assert 1 <= machine.physical_cores <= machine.logical_cores
    assert machine.affinity_cores is None or machine.affinity_cores >= machine.usable_cores
    assert machine.cgroup_quota is None or machine.cgroup_quota > 0
    assert all(isinstance(v, int) and v > 0 for v in machine.caches.values())
    assert machine.versions["numpy"] == np.__version__
    assert machine.versions["python"] == platform.python_version()
    assert machine.gil_enabled is getattr(sys, "_is_gil_enabled", lambda: True)()
    assert machine.start_method.split(";")[0] in multiprocessing.get_all_start_methods()
    assert any(p["user_api"] == "blas" for p in machine.threadpools)
    assert all(set(p) == set(system.POOL_KEYS) for p in machine.threadpools)
    json.dumps(machine.to_dict())


def test_machine_fingerprint_is_stable_and_sensitive(machine):
    # Check that the fingerprint is equal across detect() calls and tracks what matters.
    fingerprint = machine.fingerprint
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert Machine.detect().fingerprint == fingerprint
    assert dataclasses.replace(machine, usable_cores=machine.usable_cores + 1).fingerprint \
        != fingerprint
    # Thread counts are volatile and do not belong in the fingerprint.
    pools = tuple({**p, "num_threads": 1} for p in machine.threadpools)
    assert dataclasses.replace(machine, threadpools=pools).fingerprint == fingerprint


def test_machine_stable_fingerprint_ignores_loaded_pools(machine):
    # Check that the wisdom key of a machine does not change when a run loads
    # another thread pool (the fingerprint does), but does with the cores.
    more = dataclasses.replace(machine, threadpools=machine.threadpools + (
        {"user_api": "openmp", "internal_api": "openmp", "prefix": "libgomp",
         "version": None, "num_threads": 2},))
    assert more.fingerprint != machine.fingerprint
    assert more.stable_fingerprint == machine.stable_fingerprint
    assert len(machine.stable_fingerprint) == 16
    assert dataclasses.replace(machine, usable_cores=machine.usable_cores + 1) \
        .stable_fingerprint != machine.stable_fingerprint


def test_machine_to_dict_from_dict_round_trip(machine):
    # Check that from_dict(to_dict()) gives an equal Machine, also through JSON and with extra keys.
    d = machine.to_dict()
    assert d["fingerprint"] == machine.fingerprint
    again = Machine.from_dict(json.loads(json.dumps(d)))
    assert again == machine
    assert isinstance(again.threadpools, tuple)
    assert hash(again) == hash(machine)
    assert Machine.from_dict({**d, "added_in_a_later_version": 1}) == machine


def test_machine_fingerprints_of_gil_builds_are_unchanged():
    # Check that recording the free-threaded build kept the fingerprints (and
    # so the wisdom) of GIL builds and of free-threaded builds with the GIL
    # off: these values were computed before the field existed.
    machine = fake_machine()
    assert machine.free_threaded is False
    assert (machine.fingerprint, machine.stable_fingerprint) == (
        "62c66eeaf31b0cdc", "f3134e89a1ba11f3")
    no_gil = dataclasses.replace(machine, free_threaded=True, gil_enabled=False)
    assert no_gil.stable_fingerprint == "b630be53e3359733"


def test_machine_fingerprint_separates_free_threaded_build_with_gil_on():
    # Check that a free-threaded build whose GIL an extension turned back on
    # no longer shares its wisdom key with the GIL build of the same versions.
    machine = fake_machine()
    again_on = dataclasses.replace(machine, free_threaded=True, gil_enabled=True)
    off = dataclasses.replace(machine, free_threaded=True, gil_enabled=False)
    keys = {m.stable_fingerprint for m in (machine, again_on, off)}
    assert len(keys) == 3


@pytest.mark.parametrize("gil_enabled", [True, False])
def test_machine_from_dict_without_free_threaded(gil_enabled):
    # Check that JSON saved before the field loads: only a free-threaded
    # build could have run with the GIL off.
    d = dataclasses.replace(fake_machine(), gil_enabled=gil_enabled).to_dict()
    del d["free_threaded"]
    machine = Machine.from_dict(json.loads(json.dumps(d)))
    assert machine.free_threaded is (not gil_enabled)
    assert machine.fingerprint == d["fingerprint"]


def test_engine_versions_imports_nothing():
    # Check that engine_versions() lists the three engines by find_spec and
    # metadata, without importing any of them (import ray takes seconds).
    lines = _run_python(
        "import sys; from sktune.machine import engine_versions; "
        "v = engine_versions(); print(sorted(v)); "
        "print([m for m in ('ray', 'sklearnex', 'distributed', 'dask') if m in sys.modules])")
    assert lines == ["['dask.distributed', 'ray', 'scikit-learn-intelex']", "[]"]


def test_engine_versions_missing_and_installed(monkeypatch):
    # Check that a module that cannot be found gives None and one that can its version.
    import importlib.metadata
    import importlib.util

    found = {"distributed"}
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: object() if name in found else None)
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda dist: {"distributed": "2026.1.0"}[dist])
    assert machine_mod.engine_versions() == {
        "dask.distributed": "2026.1.0", "ray": None, "scikit-learn-intelex": None}


def test_machine_from_dict_missing_key_raises(machine):
    # Check that a dict lacking a field gives a clear ValueError.
    d = machine.to_dict()
    del d["caches"]
    with pytest.raises(ValueError, match="caches"):
        Machine.from_dict(d)


def test_machine_str_and_repr(machine):
    # Check that the report shows cores, pools and fingerprint, and repr stays short.
    text = str(machine)
    assert "usable" in text and machine.fingerprint in text
    assert "thread pools" in text and "openblas" in text
    assert repr(machine) == (f"Machine(cpu_model={machine.cpu_model!r}, "
                             f"usable_cores={machine.usable_cores}, "
                             f"fingerprint={machine.fingerprint!r})")


def test_machine_detect_lists_each_openblas_copy(machine):
    # Check that numpy's and scipy's OpenBLAS copies appear separately by filepath (checklist 25).
    blas = [p["filepath"] for p in machine.threadpools if p["internal_api"] == "openblas"]
    if len(blas) < 2:
        pytest.skip("only one OpenBLAS copy is loaded in this environment")
    assert len(set(blas)) == len(blas)
    assert any("numpy" in path for path in blas) and any("scipy" in path for path in blas)


def test_machine_detect_sees_blas_limit(machine):
    # Check that a fresh detect() under a BLAS limit shows every copy at 1 thread, then restored.
    before = {p["filepath"]: p["num_threads"] for p in Machine.detect().threadpools}
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        limited = Machine.detect().threadpools
    assert all(p["num_threads"] == 1 for p in limited if p["user_api"] == "blas")
    after = {p["filepath"]: p["num_threads"] for p in Machine.detect().threadpools}
    assert after == before


@pytest.mark.slow
def test_machine_detect_sees_lazily_loaded_openmp(tmp_path):
    # Check that an OpenMP runtime loaded after a first detect() shows up in the next one
    # and changes the fingerprint (checklist 24).
    import sklearn.utils._openmp_helpers  # noqa: F401  (loads sklearn's libgomp)

    gomp = [p["filepath"] for p in threadpoolctl.threadpool_info()
            if p["internal_api"] == "openmp" and p["prefix"] == "libgomp"]
    if not gomp:
        pytest.skip("scikit-learn was built without libgomp here")
    # A copy under a new name is a library no earlier import can have loaded.
    lazy = tmp_path / "libgomp-lazy.so.1"
    lazy.write_bytes(Path(gomp[0]).read_bytes())
    code = ("import ctypes\n"
            "from sktune.machine import Machine\n"
            "m1 = Machine.detect()\n"
            f"ctypes.CDLL({str(lazy)!r}, mode=ctypes.RTLD_GLOBAL)\n"
            "m2 = Machine.detect()\n"
            "paths = lambda m: [p['filepath'] for p in m.threadpools]\n"
            f"print({str(lazy)!r} in paths(m1), {str(lazy)!r} in paths(m2),\n"
            "      m1.fingerprint != m2.fingerprint)\n")
    assert _run_python(code) == ["False True True"]


@pytest.mark.slow
def test_machine_detect_imports_no_optional_packages():
    # Check that detect() does not import numba, pandas or matplotlib to read versions.
    code = ("import sys; sys.modules['sktune._compiled.kernels'] = None\n"
            "import sktune.machine\n"
            "names = ('numba', 'pandas', 'matplotlib')\n"
            "before = {n for n in names if n in sys.modules}\n"
            "m = sktune.machine.Machine.detect()\n"
            "print(sorted({n for n in names if n in sys.modules} - before),\n"
            "      m.numba_threading_layer, m.compiled)\n")
    assert _run_python(code) == ["[] None {}"]


def test_numba_threading_layer_only_when_imported(monkeypatch):
    # Check that the numba layer is read from an imported numba and None otherwise.
    fake = types.SimpleNamespace(config=types.SimpleNamespace(THREADING_LAYER="omp"))
    monkeypatch.setitem(sys.modules, "numba", fake)
    assert system.numba_threading_layer() == "omp"
    monkeypatch.delitem(sys.modules, "numba")
    assert system.numba_threading_layer() is None


def test_compiled_info_falls_back_to_empty(monkeypatch):
    # Check that a missing or broken sktune._compiled.kernels gives {} rather than an error.
    monkeypatch.setitem(sys.modules, "sktune._compiled.kernels", None)
    assert system.compiled_info() == {}

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(sys.modules, "sktune._compiled.kernels",
                        types.SimpleNamespace(engine_info=broken))
    assert system.compiled_info() == {}


def test_start_method_reports_joblib_override(monkeypatch):
    # Check that JOBLIB_START_METHOD is reported next to multiprocessing's start method.
    monkeypatch.setenv("JOBLIB_START_METHOD", "spawn")
    assert system.start_method().endswith("JOBLIB_START_METHOD=spawn")
    monkeypatch.delenv("JOBLIB_START_METHOD")
    assert "JOBLIB" not in system.start_method()
