"""Compiled code: a product of its own, usable without ever profiling.

* :mod:`~sktune._compiled.kernels` is the front door of sktune's numerical
  kernels and the one place that picks their implementation: the Cython
  extension ``sktune._cy._kernels`` (built by ``setup.py``) or the NumPy
  reference twins of :mod:`~sktune._compiled.kernels_numpy`.
  :mod:`sktune.transformers` (StandardScaler, MinMaxScaler, ...) is the
  public face of these kernels.
* Numba: :mod:`~sktune._compiled.jit` compiles a user's Python function
  (:class:`~sktune._compiled.jit.JitFunction`), from the module source that
  :mod:`~sktune._compiled.jit_source` generates and caches;
  :mod:`~sktune._compiled.jit_transformer` is the estimator around it
  (:func:`sktune.jit_transformer`).
* Cython at run time: :mod:`~sktune._compiled.cython_build` compiles and
  caches a user's kernel; :mod:`~sktune._compiled.cython_transformer` is
  the estimator around it (:func:`sktune.cython_transformer`).

Nothing here compiles at import time (PITFALLS.md checklist 32).
"""
