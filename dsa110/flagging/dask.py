"""Dask wrappers of the flagging kernels: one ``blockwise`` call each.

Arrays have dims ``(time, baseline_id, frequency, polarization)``. The
element-wise flaggers (:func:`flag_invalid`, :func:`flag_amplitude`,
:func:`flag_baselines`) work on any chunks. The plane flaggers
(:func:`sumthreshold`, :func:`mad_clip`, :func:`extend_flags`, and
:func:`flag_planes`, the three in one pass) need every time,
frequency and polarization of a baseline in one chunk: they raise ``ValueError``
otherwise, and :func:`plane_chunks` / :func:`to_planes` give the chunking they
need (whole time, frequency and polarization axes, the baseline axis split so
that chunks stay near ``target_bytes``). On DSA-110 data, whose chunks are one
file's times × one subband, that rechunk is a shuffle across subbands: do it once
and run every plane flagger on the result, as :func:`dsa110.flagging.flag_rfi`
does.

Each block function dispatches on its chunk's array type: NumPy chunks go to
the Numba kernels of :mod:`dsa110.flagging.kernels`; CuPy chunks to
:mod:`dsa110.flagging.cuda`, where a GPU version exists.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from dsa110._compat.array_api import get_array_namespace, to_numpy
from dsa110.flagging.kernels import extend_flags as np_extend_flags
from dsa110.flagging.kernels import flag_amplitude as np_flag_amplitude
from dsa110.flagging.kernels import flag_baselines as np_flag_baselines
from dsa110.flagging.kernels import flag_invalid as np_flag_invalid
from dsa110.flagging.kernels import flag_planes as np_flag_planes
from dsa110.flagging.kernels import mad_clip as np_mad_clip
from dsa110.flagging.kernels import sumthreshold as np_sumthreshold

__all__ = [
    "flag_invalid",
    "flag_amplitude",
    "flag_baselines",
    "sumthreshold",
    "mad_clip",
    "extend_flags",
    "flag_planes",
    "plane_chunks",
    "to_planes",
]

_IDX = ("t", "b", "f", "p")


def _on_host(kernel, *arrays, **kwargs):
    """Run a CPU kernel on a chunk; CuPy chunks go to the host and back.

    Only the SumThreshold 1-D pass has a GPU kernel so far
    (:mod:`dsa110.flagging.cuda`); the plane drivers run on the host, so a
    CuPy-backed array is still flagged, at the cost of two transfers per chunk.
    """
    xp = get_array_namespace(*arrays)
    if xp is np:
        return kernel(*arrays, **kwargs)
    return xp.asarray(kernel(*(to_numpy(a) for a in arrays), **kwargs))


def _check_vis_flags(vis, flags):
    if vis.ndim != 4 or flags.shape != vis.shape:
        raise ValueError(
            "vis and flags must both be (time, baseline_id, frequency, polarization), "
            f"got {vis.shape} and {flags.shape}"
        )
    if vis.chunks != flags.chunks:
        raise ValueError("vis and flags must have the same chunks")


def _check_planes(arr, name):
    for axis, label in ((0, "time"), (2, "frequency"), (3, "polarization")):
        if len(arr.chunks[axis]) != 1:
            raise ValueError(
                f"{name} needs the whole {label} axis in one chunk; rechunk with "
                "dsa110.flagging.dask.to_planes first"
            )


def _flags_from_vis(block, vis, flags, *, planes=None, **kwargs):
    """One ``blockwise`` of ``block(vis, flags, **kwargs)`` → bool flags, same chunks.

    ``planes`` names the caller when its kernel needs whole time–frequency–
    polarization planes per chunk (checked first).
    """
    _check_vis_flags(vis, flags)
    if planes is not None:
        _check_planes(vis, planes)
    return da.blockwise(
        block,
        _IDX,
        vis,
        _IDX,
        flags,
        _IDX,
        dtype=np.bool_,
        meta=np.empty((0,) * 4, bool),
        **kwargs,
    )


#: Default size of a plane chunk. On a full tile (float32 amplitudes of XX and
#: YY, 0.69 GB) 32 MiB gives 21 chunks: reading, merging and flagging overlap on
#: two threads, and the flag stage took 3.3-4.3 s against 4.4-5.2 s with 128 MiB
#: (the same flags).
PLANE_CHUNK_BYTES = 32 * 2**20


def plane_chunks(shape, itemsize, *, target_bytes=PLANE_CHUNK_BYTES):
    """Chunks holding whole time–frequency–polarization planes of baselines.

    Parameters
    ----------
    shape : tuple of int
        ``(time, baseline_id, frequency, polarization)`` sizes.
    itemsize : int
        Bytes per visibility (8 for complex64).
    target_bytes : int, keyword-only
        Aim for chunks of about this many visibility bytes.

    Returns
    -------
    dict
        ``{axis: chunk}`` for :meth:`dask.array.Array.rechunk`.
    """
    n_t, n_b, n_f, n_p = shape
    per_baseline = max(1, n_t * n_f * n_p * itemsize)
    n_bl = int(max(1, min(n_b, target_bytes // per_baseline)))
    return {0: -1, 1: n_bl, 2: -1, 3: -1}


def to_planes(*arrays, target_bytes=PLANE_CHUNK_BYTES):
    """Rechunk arrays to whole (time, frequency, polarization) planes.

    Arrays already chunked that way are returned unchanged (no graph layer).

    Parameters
    ----------
    *arrays : dask.array.Array
        ``(time, baseline_id, frequency, polarization)``, same shape.
    target_bytes : int, keyword-only
        Approximate chunk size of the first array.

    Returns
    -------
    tuple of dask.array.Array
    """
    first = arrays[0]
    chunks = plane_chunks(first.shape, first.dtype.itemsize, target_bytes=target_bytes)
    out = []
    for a in arrays:
        if all(len(a.chunks[ax]) == 1 for ax in (0, 2, 3)):
            out.append(a)
        else:
            out.append(a.rechunk(chunks))
    return tuple(out)


def _invalid_block(vis, flags):
    return _on_host(np_flag_invalid, vis, flags)


def flag_invalid(vis, flags):
    """Dask version of :func:`dsa110.flagging.kernels.flag_invalid` (any chunks).

    Parameters
    ----------
    vis : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` complex.
    flags : dask.array.Array
        Same shape and chunks, bool.

    Returns
    -------
    dask.array.Array
        Same shape and chunks, bool.
    """
    return _flags_from_vis(_invalid_block, vis, flags)


def _amplitude_block(vis, flags, *, threshold):
    return _on_host(np_flag_amplitude, vis, flags, threshold=threshold)


def flag_amplitude(vis, flags, *, threshold):
    """Dask version of :func:`dsa110.flagging.kernels.flag_amplitude` (any chunks).

    Parameters
    ----------
    vis : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` complex.
    flags : dask.array.Array
        Same shape and chunks, bool.
    threshold : float, keyword-only
        Largest acceptable ``|V|``.

    Returns
    -------
    dask.array.Array
        Same shape and chunks, bool.
    """
    return _flags_from_vis(_amplitude_block, vis, flags, threshold=float(threshold))


def _baselines_block(flags, bad):
    return _on_host(np_flag_baselines, flags, bad.astype(bool))


def flag_baselines(flags, bad_baseline):
    """Dask version of :func:`dsa110.flagging.kernels.flag_baselines` (any chunks).

    Parameters
    ----------
    flags : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` bool.
    bad_baseline : numpy.ndarray or dask.array.Array
        ``(baseline_id,)`` bool.

    Returns
    -------
    dask.array.Array
        Same shape and chunks as ``flags``, bool.
    """
    if bad_baseline.shape != (flags.shape[1],):
        raise ValueError(
            f"bad_baseline has shape {bad_baseline.shape}, expected ({flags.shape[1]},)"
        )
    bad = da.asarray(bad_baseline).rechunk((flags.chunks[1],))
    return da.blockwise(
        _baselines_block,
        _IDX,
        flags,
        _IDX,
        bad,
        "b",
        dtype=np.bool_,
        meta=np.empty((0,) * 4, bool),
    )


def _sumthreshold_block(vis, flags, **kwargs):
    return _on_host(np_sumthreshold, vis, flags, **kwargs)


def sumthreshold(
    vis,
    flags,
    *,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
):
    """Dask version of :func:`dsa110.flagging.kernels.sumthreshold`.

    Parameters
    ----------
    vis : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` complex, whole time,
        frequency and polarization axes per chunk (see :func:`to_planes`).
    flags : dask.array.Array
        Same shape and chunks, bool.
    threshold, rho, max_window, n_iter, threshold_step, sigma_time, sigma_frequency
        As for the kernel (keyword-only).

    Returns
    -------
    dask.array.Array
        Same shape and chunks, bool.

    Raises
    ------
    ValueError
        When a chunk does not hold whole planes.
    """
    return _flags_from_vis(
        _sumthreshold_block,
        vis,
        flags,
        planes="sumthreshold",
        threshold=float(threshold),
        rho=float(rho),
        max_window=int(max_window),
        n_iter=int(n_iter),
        threshold_step=float(threshold_step),
        sigma_time=float(sigma_time),
        sigma_frequency=float(sigma_frequency),
    )


def _mad_block(vis, flags, *, sigma):
    return _on_host(np_mad_clip, vis, flags, sigma=sigma)


def mad_clip(vis, flags, *, sigma):
    """Dask version of :func:`dsa110.flagging.kernels.mad_clip`.

    Parameters
    ----------
    vis : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` complex, whole planes
        per chunk.
    flags : dask.array.Array
        Same shape and chunks, bool.
    sigma : float, keyword-only
        Clip level in robust σ.

    Returns
    -------
    dask.array.Array
        Same shape and chunks, bool.

    Raises
    ------
    ValueError
        When a chunk does not hold whole planes.
    """
    return _flags_from_vis(
        _mad_block, vis, flags, planes="mad_clip", sigma=float(sigma)
    )


def _extend_block(flags, **kwargs):
    return _on_host(np_extend_flags, flags, **kwargs)


def extend_flags(flags, *, polarization, time_fraction, frequency_fraction):
    """Dask version of :func:`dsa110.flagging.kernels.extend_flags`.

    Parameters
    ----------
    flags : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` bool, whole planes per
        chunk.
    polarization : bool, keyword-only
    time_fraction : float, keyword-only
    frequency_fraction : float, keyword-only
        As for the kernel.

    Returns
    -------
    dask.array.Array
        Same shape and chunks, bool.

    Raises
    ------
    ValueError
        When a chunk does not hold whole planes.
    """
    _check_planes(flags, "extend_flags")
    kwargs = dict(
        polarization=bool(polarization),
        time_fraction=float(time_fraction),
        frequency_fraction=float(frequency_fraction),
    )
    return da.blockwise(
        _extend_block,
        _IDX,
        flags,
        _IDX,
        dtype=np.bool_,
        meta=np.empty((0,) * 4, bool),
        **kwargs,
    )


def _planes_block(vis, flags, **kwargs):
    return _on_host(np_flag_planes, vis, flags, **kwargs)


def flag_planes(
    vis,
    flags,
    *,
    invalid,
    sumthreshold,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
    mad_sigma,
    polarization,
    time_fraction,
    frequency_fraction,
):
    """Dask version of :func:`dsa110.flagging.kernels.flag_planes`.

    Parameters
    ----------
    vis : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` complex, whole time,
        frequency and polarization axes per chunk (see :func:`to_planes`).
    flags : dask.array.Array
        Same shape and chunks, bool.
    invalid, sumthreshold, threshold, rho, max_window, n_iter, threshold_step
        As for the kernel (keyword-only).
    sigma_time, sigma_frequency, mad_sigma, polarization, time_fraction
        As for the kernel (keyword-only).
    frequency_fraction : float, keyword-only
        As for the kernel.

    Returns
    -------
    dask.array.Array
        Same shape and chunks, bool.

    Raises
    ------
    ValueError
        When a chunk does not hold whole planes.
    """
    return _flags_from_vis(
        _planes_block,
        vis,
        flags,
        planes="flag_planes",
        invalid=bool(invalid),
        sumthreshold=bool(sumthreshold),
        threshold=float(threshold),
        rho=float(rho),
        max_window=int(max_window),
        n_iter=int(n_iter),
        threshold_step=float(threshold_step),
        sigma_time=float(sigma_time),
        sigma_frequency=float(sigma_frequency),
        mad_sigma=float(mad_sigma),
        polarization=bool(polarization),
        time_fraction=float(time_fraction),
        frequency_fraction=float(frequency_fraction),
    )
