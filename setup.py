"""Declare sktune's compiled kernels; all metadata lives in pyproject.toml.

OpenMP is optional: the compiler is probed with a tiny ``omp.h`` program and
the kernels are built sequentially when that fails or when
``SKTUNE_DISABLE_OPENMP=1`` is set.
"""

import contextlib
import os
import sys
import tempfile
import textwrap

import numpy as np
import setuptools  # noqa: F401  (must come before Cython)
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.sysconfig import customize_compiler

OPENMP_FLAG = "-fopenmp"

OPENMP_PROBE = textwrap.dedent(
    """\
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        printf("%d\\n", omp_get_max_threads());
        return 0;
    }
    """
)


@contextlib.contextmanager
def _silenced():
    """Redirect the C-level stdout and stderr to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _new_compiler():
    compiler = new_compiler()
    customize_compiler(compiler)
    return compiler


def _compiler_is_gnu_like(compiler):
    """True for gcc and clang, the compilers that take ``-O3`` and ``-fopenmp``."""
    cmd = getattr(compiler, "compiler_so", None) or []
    name = os.path.basename(cmd[0]) if cmd else ""
    return compiler.compiler_type == "unix" and ("gcc" in name or "clang" in name
                                                 or name in ("cc", "c++", "g++"))


def _openmp_supported(compiler):
    """Compile and link a program that calls omp_get_max_threads()."""
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe_openmp.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            with _silenced():
                objects = compiler.compile(
                    [source], output_dir=tmp, extra_postargs=[OPENMP_FLAG]
                )
                compiler.link_executable(
                    objects,
                    "probe_openmp",
                    output_dir=tmp,
                    extra_postargs=[OPENMP_FLAG],
                )
        except Exception:
            return False
    return True


def _build_flags():
    compiler = _new_compiler()
    compile_args, link_args = [], []
    if _compiler_is_gnu_like(compiler):
        # No fused multiply-add: ``x * s + m`` must round twice, as NumPy's
        # ``X *= s; X += m`` in scikit-learn does, for bit-equal output.
        compile_args += ["-O3", "-ffp-contract=off"]
    if os.environ.get("SKTUNE_DISABLE_OPENMP", "0") not in ("", "0"):
        print("warning: SKTUNE_DISABLE_OPENMP is set; building sktune kernels "
              "without OpenMP (sequential).")
    elif _openmp_supported(compiler):
        compile_args.append(OPENMP_FLAG)
        link_args.append(OPENMP_FLAG)
    else:
        print("warning: the C compiler does not support OpenMP; building sktune "
              "kernels without it (sequential).")
    return compile_args, link_args


def _extensions():
    compile_args, link_args = _build_flags()
    kernels = Extension(
        "sktune._cy._kernels",
        ["sktune/_cy/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return cythonize(
        [kernels],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
        },
    )


setup(ext_modules=_extensions())
