"""Dask wrapper of the rephasing kernel (one ``blockwise`` call)."""

from __future__ import annotations

import dask.array as da

from dsa110.phasing.kernels import rephase_visibilities as np_rephase_visibilities

__all__ = ["rephase_visibilities"]


def rephase_visibilities(vis, delta_w, freq):
    """Dask version of :func:`dsa110.phasing.kernels.rephase_visibilities`.

    Parameters
    ----------
    vis : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` complex.
    delta_w : dask.array.Array
        ``(time, baseline_id)`` float64 metres, chunked like ``vis`` on its
        first two axes.
    freq : dask.array.Array
        ``(frequency,)`` float64 Hz, chunked like ``vis`` on its third axis.

    Returns
    -------
    dask.array.Array
        Like ``vis``. Each chunk runs the CPU or GPU kernel by its array type.

    Raises
    ------
    ValueError
        If the chunks of the inputs do not line up.
    """
    if delta_w.chunks != vis.chunks[:2]:
        raise ValueError(
            f"delta_w chunks {delta_w.chunks} differ from vis chunks {vis.chunks[:2]}"
        )
    if freq.chunks != vis.chunks[2:3]:
        raise ValueError(
            f"freq chunks {freq.chunks} differ from vis chunks {vis.chunks[2:3]}"
        )
    return da.blockwise(
        np_rephase_visibilities,
        "tbfp",
        vis,
        "tbfp",
        delta_w,
        "tb",
        freq,
        "f",
        dtype=vis.dtype,
        meta=vis._meta,
    )
