"""Build a user's Cython kernel at run time: compiler, OpenMP, cache, load.

The one place where sktune runs Cython and a C compiler on the user's
machine, and only because the user asked for it
(:func:`sktune.cython_transformer`; PITFALLS.md checklist 32): nothing here
compiles at import time. The build runs in a subprocess, so the user's
process gets no setuptools state or output; the extension lands in
``sktune._files.cache_dir("cython")`` under a hash of everything that
changes the binary, and any later process (a loky worker, the next session)
loads it from there without compiling. The estimator around it is
:mod:`sktune._compiled.cython_transformer`.
"""

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: builds are not locked
    fcntl = None

import numpy as np

from .._files import cache_dir
from ..exceptions import (
    CompileError,
    EngineNotAvailableError,
    InvalidParameterError,
    SktuneWarning,
)

__all__ = ["get_function", "load_module", "resolve_func_name"]

# Defaults for every kernel; ``# cython:`` header lines in the source win.
_DIRECTIVES = {"language_level": 3, "boundscheck": False, "wraparound": False,
              "cdivision": True}
_OPT_FLAG = "-O3"
_OPENMP_FLAG = "-fopenmp"
_DISABLE_OPENMP_ENV = "SKTUNE_DISABLE_OPENMP"  # as in setup.py
# Enough for a few Cython error blocks (~8 lines each) or gcc errors with
# their context; longer reports are cut (not benchmarked: readability).
_MAX_DIAGNOSTIC_LINES = 60
_COMPILER_FIX = ("Install one, e.g. `apt-get install build-essential` (Debian, Ubuntu) "
                 "or `conda install -c conda-forge c-compiler`, or point the CC "
                 "environment variable at a C compiler.")
_PUBLIC_DEF = re.compile(r"^(?:cpdef|def)\b.*?([A-Za-z_]\w*)\s*\(", re.MULTILINE)
_FAILED = "SKTUNE-BUILD-FAILED"

# Runs in ``sys.executable -c`` with the JSON spec as argv[1]; prints the
# diagnostics of Cython and the compiler to stderr, never a traceback.
_BUILD_SCRIPT = textwrap.dedent(f"""\
    import json, sys
    spec = json.loads(sys.argv[1])
    try:
        import setuptools  # before Cython
        from setuptools import Distribution, Extension
        from Cython.Build import cythonize
        import numpy
    except ImportError as exc:
        sys.exit(f"\\n{_FAILED} import: {{exc}}")
    ext = Extension(spec["name"], [spec["pyx"]], include_dirs=[numpy.get_include()],
                    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
                    extra_compile_args=spec["cflags"], extra_link_args=spec["ldflags"])
    try:
        ext_modules = cythonize([ext], compiler_directives=spec["directives"],
                                quiet=True, force=True, nthreads=0)
    except BaseException as exc:  # Cython already printed its diagnostics
        sys.exit(f"\\n{_FAILED} cython: {{type(exc).__name__}}")
    try:
        dist = Distribution({{"ext_modules": ext_modules, "script_name": "sktune"}})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib, cmd.build_temp = spec["build_lib"], spec["build_temp"]
        cmd.ensure_finalized()
        cmd.run()
    except BaseException as exc:  # the compiler already printed its diagnostics
        sys.exit(f"\\n{_FAILED} compiler: {{type(exc).__name__}}: {{exc}}")
    """)

# Modules loaded by this process, by cache key: a .so is loaded only once.
_LOADED = {}


def _compiler_command():
    """The C compiler setuptools would use: $CC, else Python's own CC."""
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


def _gnu_like(cc):
    name = os.path.basename(cc[0]) if cc else ""
    return "gcc" in name or "clang" in name or name in ("cc", "c++", "g++")


def _openmp_disabled():
    return os.environ.get(_DISABLE_OPENMP_ENV, "").strip() not in ("", "0")


@functools.lru_cache(maxsize=None)
def _openmp_supported(cc):
    """Compile and link a tiny OpenMP program, once per process and compiler."""
    probe = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
    with tempfile.TemporaryDirectory(prefix="sktune-omp-") as tmp:
        src = os.path.join(tmp, "probe.c")
        Path(src).write_text(probe)
        cmd = [*cc, _OPENMP_FLAG, src, "-o", os.path.join(tmp, "probe")]
        try:
            done = subprocess.run(cmd, capture_output=True, check=False)
        except OSError:
            return False
    return done.returncode == 0


@functools.lru_cache(maxsize=None)
def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cache_key(source):
    """sha256 of the source and of everything that changes the built binary."""
    recipe = {
        "source": source, "cython": _version("Cython"), "numpy": np.__version__,
        "python": sys.version, "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "soabi": sysconfig.get_config_var("SOABI"), "machine": platform.machine(),
        "cc": _compiler_command(), "directives": _DIRECTIVES,
        "flags": [_OPT_FLAG, "no-openmp" if _openmp_disabled() else "openmp-if-works"],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def _public_functions(source):
    """Names of the top-level, public ``def``/``cpdef`` functions, in order."""
    names = [m.group(1) for m in _PUBLIC_DEF.finditer(source)]
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def resolve_func_name(source, func_name):
    if func_name is not None:
        return func_name
    found = _public_functions(source)
    if len(found) != 1:
        raise InvalidParameterError(
            "The source must define exactly one public (not underscore) def or "
            f"cpdef function when func_name=None; found {found}. Pass func_name "
            "to choose one.")
    return found[0]


def _diagnostics(output, replacements):
    """Cython's or the compiler's messages, with temporary paths replaced."""
    for path, label in replacements:
        output = output.replace(path, label)
    lines = [line.removeprefix(f"{_FAILED} import: ")
             for line in output.splitlines()
             if not line.startswith((f"{_FAILED} cython:", f"{_FAILED} compiler:"))]
    start = next((i for i, line in enumerate(lines)
                  if line.startswith("Error compiling Cython file")), None)
    if start is not None:  # Cython: its error blocks, warnings before them dropped
        lines = lines[start:]
    lines = "\n".join(lines).strip("\n").splitlines()
    if len(lines) > _MAX_DIAGNOSTIC_LINES:
        hidden = len(lines) - _MAX_DIAGNOSTIC_LINES
        lines = lines[:_MAX_DIAGNOSTIC_LINES] + [f"... ({hidden} more lines)"]
    return "\n".join(lines)


def _build(source, key, target):
    """Build the extension into a temporary folder and move it to ``target``."""
    for tool in ("Cython", "setuptools"):
        if importlib.util.find_spec(tool) is None:
            raise EngineNotAvailableError(
                f"Compiling a Cython kernel needs {tool}: `pip install {tool}`.")
    cc = _compiler_command()
    if not cc or shutil.which(cc[0]) is None:
        raise CompileError(
            f"No C compiler found (looked for {cc[0] if cc else 'cc'!r}, from $CC "
            f"or Python's build configuration). {_COMPILER_FIX}")
    openmp = not _openmp_disabled() and _openmp_supported(tuple(cc))
    if not openmp and re.search(r"\bprange\b", source):
        why = (f"{_DISABLE_OPENMP_ENV} is set" if _openmp_disabled()
               else f"the C compiler ({' '.join(cc)}) does not support -fopenmp")
        warnings.warn(f"Building the kernel without OpenMP because {why}: its prange "
                      "loops will run sequentially.", SktuneWarning, stacklevel=4)
    name = f"_sktune_cy_{key[:20]}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:20]}-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp's 0o700 would hide the cache from a shared root
        pyx = tmp / f"{name}.pyx"
        pyx.write_text(source)
        openmp_flags = [_OPENMP_FLAG] if openmp else []
        spec = {"name": name, "pyx": str(pyx), "directives": _DIRECTIVES,
                "build_lib": str(tmp), "build_temp": str(tmp / "build"),
                "cflags": ([_OPT_FLAG] if _gnu_like(cc) else []) + openmp_flags,
                "ldflags": openmp_flags}
        done = subprocess.run([sys.executable, "-c", _BUILD_SCRIPT, json.dumps(spec)],
                              cwd=tmp, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            text = _diagnostics(done.stderr, [
                (str(pyx), "<source>"), (str(tmp / f"{name}.c"), "<source>.c"),
                (str(tmp), "<build>"), (f"{name}.pyx", "<source>"),
                (f"{name}.c", "<source>.c")])
            if f"{_FAILED} cython:" in done.stderr:
                head = "Cython could not compile the source:"
            elif f"{_FAILED} compiler:" in done.stderr:
                head = (f"The C compiler ({' '.join(cc)}) failed on the code Cython "
                        "generated from the source (<source>.c):")
            else:  # the subprocess could not import its tools, or crashed
                head = f"The build subprocess failed (exit code {done.returncode}):"
            if "Python.h" in text:
                text += ("\n\nPython's headers are missing: install them, e.g. "
                         "`apt-get install python3-dev`.")
            raise CompileError(f"{head}\n\n{text}")
        shutil.rmtree(tmp / "build", ignore_errors=True)
        (tmp / f"{name}.c").unlink(missing_ok=True)
        module_file = name + sysconfig.get_config_var("EXT_SUFFIX")
        (tmp / "build.json").write_text(json.dumps(
            {"module_name": name, "module_file": module_file, "openmp": openmp,
             "directives": _DIRECTIVES, "cflags": spec["cflags"]}))
        os.replace(tmp, target)  # atomic: readers see all of it or nothing
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_module(source):
    """Return ``(module, compile_info)``, building the extension if not cached."""
    key = _cache_key(source)
    if key in _LOADED:
        module, info = _LOADED[key]
        return module, {**info, "seconds": 0.0, "cached": True}
    root = cache_dir("cython")
    target = root / key
    seconds, cached = 0.0, True
    if not (target / "build.json").is_file():
        with open(root / f"{key}.lock", "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (target / "build.json").is_file():  # not built while we waited
                shutil.rmtree(target, ignore_errors=True)  # an incomplete leftover
                start = time.perf_counter()
                _build(source, key, target)
                seconds, cached = time.perf_counter() - start, False
    meta = json.loads((target / "build.json").read_text())
    path = target / meta["module_file"]
    module = sys.modules.get(meta["module_name"])
    if module is None:
        spec = importlib.util.spec_from_file_location(meta["module_name"], path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[meta["module_name"]] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[meta["module_name"]]
            raise
    info = {"seconds": seconds, "cached": cached, "module_path": str(path),
            "openmp": meta["openmp"]}
    _LOADED[key] = (module, info)
    return module, dict(info)


def get_function(module, source, func_name):
    """The kernel: ``func_name`` or the single public function of the source."""
    name = resolve_func_name(source, func_name)
    func = getattr(module, name, None)
    if not callable(func):
        raise InvalidParameterError(
            f"The source defines no def or cpdef function {name!r} (cdef functions "
            f"are not callable from Python); its public functions are "
            f"{_public_functions(source)}.")
    return name, func
