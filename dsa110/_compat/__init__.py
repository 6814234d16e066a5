"""Compatibility helpers: Numba options, array-namespace dispatch, optional imports."""
