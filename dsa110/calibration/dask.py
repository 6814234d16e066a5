"""Dask wrappers of the calibration kernels (one ``blockwise`` call each).

The solver is two-staged (see :mod:`dsa110.calibration.kernels`): per-chunk
normal-equation sums, then StEFCal per solution cell, so the heavy pass over the
visibilities runs in parallel over (time interval × frequency) chunks and only
the per-antenna solutions are ever gathered.
"""

from __future__ import annotations

import operator

import dask.array as da
import numpy as np

from dsa110._compat.array_api import to_numpy
from dsa110.calibration.kernels import accumulate_normal as np_accumulate_normal
from dsa110.calibration.kernels import apply_gains as np_apply_gains
from dsa110.calibration.kernels import stefcal as np_stefcal

__all__ = ["normal_sums", "solve_cells", "apply_gains"]


def _sums_block(
    vis,
    flag,
    weight,
    model,
    uvw,
    freq,
    jones,
    a1,
    a2,
    time_bin,
    *,
    per_channel,
    uvmin_lambda,
    uvmax_lambda,
    jones_weights,
):
    vis, flag, weight = to_numpy(vis), to_numpy(flag), to_numpy(weight)
    tb = np.asarray(time_bin, dtype=np.int64)
    tb = tb - tb[0]
    n_tb = int(tb[-1]) + 1
    n_chan = vis.shape[2]
    cb = (
        np.arange(n_chan, dtype=np.int64) if per_channel else np.zeros(n_chan, np.int64)
    )
    if jones is None:
        jones = np.ones(
            (int(max(a1.max(), a2.max())) + 1, n_chan, vis.shape[3]), np.complex128
        )
    a, b, c, n = np_accumulate_normal(
        vis,
        flag,
        weight,
        to_numpy(model),
        to_numpy(uvw),
        to_numpy(freq),
        a1,
        a2,
        np.ascontiguousarray(to_numpy(jones), dtype=np.complex128),
        tb,
        cb,
        n_tb,
        n_chan if per_channel else 1,
        float(uvmin_lambda),
        float(uvmax_lambda),
        bool(jones_weights),
    )
    return np.stack([a, b + 0j, c + 0j, n + 0j])


def normal_sums(
    vis,
    flag,
    weight,
    model,
    uvw,
    frequency,
    antenna1,
    antenna2,
    time_bin,
    *,
    per_channel,
    jones=None,
    uvmin_lambda=0.0,
    uvmax_lambda=np.inf,
    jones_weights=True,
):
    """Per-baseline normal-equation sums of each solution cell.

    Parameters
    ----------
    vis, flag, weight : dask.array.Array
        ``(time, baseline_id, frequency, polarization)``; time chunks must start
        at solution-interval boundaries.
    model : dask.array.Array
        ``(time, baseline_id, frequency)`` complex, chunked like ``vis``.
    uvw : dask.array.Array
        ``(time, baseline_id, uvw_label)`` float metres.
    frequency : numpy.ndarray
        ``(frequency,)`` float64 Hz at which each channel's uv cut converts
        metres to wavelengths (the channel frequencies, or CASA's one per window).
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int.
    time_bin : numpy.ndarray
        ``(time,)`` int64 global interval index.
    per_channel : bool, keyword-only
        One cell per channel (bandpass) or one per interval over all channels
        (gains; the frequency chunks are then summed).
    jones : numpy.ndarray, optional, keyword-only
        ``(antenna, frequency, polarization)`` complex known terms, folded into
        the model.
    uvmin_lambda, uvmax_lambda : float, keyword-only
        uv range, wavelengths.
    jones_weights : bool, keyword-only
        Weights ``w |J_i J_j|²`` (True) or ``w`` (False), see
        :func:`dsa110.calibration.kernels.accumulate_normal`.

    Returns
    -------
    dask.array.Array
        ``(4, time_bin, chan_bin, baseline_id, polarization)`` complex128 holding
        ``A``, ``B``, ``C``, ``N`` (the last three real).
    """
    tb_np = np.asarray(time_bin)
    tchunks, bchunks, fchunks, pchunks = vis.chunks
    edges = np.cumsum((0,) + tchunks)
    n_tb_per_chunk = tuple(
        int(tb_np[edges[k + 1] - 1] - tb_np[edges[k]] + 1) for k in range(len(tchunks))
    )
    if len(bchunks) > 1 or len(pchunks) > 1:
        raise ValueError(
            "normal_sums needs one chunk along baseline_id and polarization"
        )
    tb_d = da.from_array(tb_np, chunks=(tchunks,))
    freq_d = da.from_array(np.asarray(frequency, np.float64), chunks=(fchunks,))
    uvw_d = da.asarray(uvw).rechunk((tchunks, -1, -1))
    args = [
        vis,
        "tbfp",
        flag,
        "tbfp",
        weight,
        "tbfp",
        model,
        "tbf",
        uvw_d,
        "tbx",
        freq_d,
        "f",
    ]
    if jones is not None:
        args += [da.from_array(jones, chunks=(-1, fchunks, -1)), "afp"]
    else:
        args += [None, None]
    args += [antenna1, None, antenna2, None, tb_d, "t"]
    adjust = {"t": n_tb_per_chunk}
    if not per_channel:
        adjust["f"] = 1
    out = da.blockwise(
        _sums_block,
        "ktfbp",
        *args,
        new_axes={"k": 4},
        adjust_chunks=adjust,
        dtype=np.complex128,
        concatenate=True,
        per_channel=per_channel,
        uvmin_lambda=uvmin_lambda,
        uvmax_lambda=uvmax_lambda,
        jones_weights=jones_weights,
    )
    if not per_channel:
        out = out.sum(axis=2, keepdims=True)
    return out


def _solve_block(sums, a1, a2, *, n_ant, phase_only, max_iter, tol, min_baselines):
    sums = to_numpy(sums)
    g, ok, sig, _ = np_stefcal(
        np.ascontiguousarray(sums[0]),
        np.ascontiguousarray(sums[1].real),
        np.ascontiguousarray(sums[2].real),
        np.ascontiguousarray(sums[3].real),
        a1,
        a2,
        n_ant,
        phase_only,
        max_iter,
        tol,
        min_baselines,
    )
    return np.stack([g, ok + 0j, sig + 0j])


def solve_cells(
    sums,
    antenna1,
    antenna2,
    *,
    n_ant,
    phase_only=False,
    max_iter=200,
    tol=1e-10,
    min_baselines=4,
):
    """StEFCal on every solution cell of :func:`normal_sums`.

    Parameters
    ----------
    sums : dask.array.Array
        ``(4, time_bin, chan_bin, baseline_id, polarization)`` complex128.
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int antenna numbers.
    n_ant, phase_only, max_iter, tol, min_baselines
        See :func:`dsa110.calibration.kernels.stefcal`.

    Returns
    -------
    dask.array.Array
        ``(3, time_bin, chan_bin, antenna, polarization)`` complex128: gains,
        solved (real 0/1) and per-part gain noise σ_g (real).
    """
    sums = sums.rechunk({0: -1, 3: -1, 4: -1})
    return da.blockwise(
        _solve_block,
        "ktfap",
        sums,
        "ktfbp",
        antenna1,
        None,
        antenna2,
        None,
        new_axes={"a": n_ant},
        adjust_chunks={"k": 3},
        concatenate=True,
        dtype=np.complex128,
        n_ant=n_ant,
        phase_only=phase_only,
        max_iter=max_iter,
        tol=tol,
        min_baselines=min_baselines,
    )


def _apply_block(vis, flag, gains, gain_flag, a1, a2):
    return np_apply_gains(
        to_numpy(vis), to_numpy(flag), a1, a2, to_numpy(gains), to_numpy(gain_flag)
    )


def apply_gains(vis, flag, gains, gain_flag, antenna1, antenna2):
    """Divide per-antenna gains out of visibilities, chunk by chunk (lazy).

    Parameters
    ----------
    vis : dask.array.Array
        ``(time, baseline_id, frequency, polarization)`` complex.
    flag : dask.array.Array
        Same shape, bool.
    gains : dask.array.Array
        ``(time, antenna, frequency, polarization)`` complex.
    gain_flag : dask.array.Array
        Same shape as ``gains``, bool.
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int antenna numbers.

    Returns
    -------
    out_vis, out_flag : dask.array.Array
        Calibrated visibilities (dtype of ``vis``) and propagated flags.
    """
    tchunks, _, fchunks, _ = vis.chunks
    gains = gains.rechunk((tchunks, -1, fchunks, -1))
    gain_flag = gain_flag.rechunk((tchunks, -1, fchunks, -1))
    args = (
        vis,
        "tbfp",
        flag,
        "tbfp",
        gains,
        "tafp",
        gain_flag,
        "tafp",
        antenna1,
        None,
        antenna2,
        None,
    )
    # one task per chunk makes both outputs (a tuple); each output picks its
    # half, so computed together the kernel runs once per chunk, not twice
    pairs = da.blockwise(
        _apply_block,
        "tbfp",
        *args,
        concatenate=True,
        dtype=vis.dtype,
        meta=np.empty((0, 0, 0, 0), vis.dtype),
    )
    out_vis, out_flag = (
        pairs.map_blocks(
            operator.itemgetter(i), dtype=dtype, meta=np.empty((0, 0, 0, 0), dtype)
        )
        for i, dtype in enumerate((vis.dtype, np.dtype(bool)))
    )
    return out_vis, out_flag
