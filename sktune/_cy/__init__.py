"""Compiled kernels (Cython); use them through :mod:`sktune._compiled.kernels`."""
