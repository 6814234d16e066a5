"""Apply calibration solutions to a visibility dataset (lazy)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from dsa110 import schema
from dsa110.calibration import dask as cdask
from dsa110.errors import ConfigurationError

__all__ = ["apply_calibration", "gains_on"]


def nearest_channels(table_freq, freq):
    """Nearest solution channel of each data channel, and where there is none.

    Returns
    -------
    idx : numpy.ndarray
        ``(frequency,)`` index into ``table_freq``.
    outside : numpy.ndarray
        ``(frequency,)`` bool: farther than half the table's channel spacing
        from every solution channel (another band, or a gap such as a
        subband the table lacks); a one-channel table covers every channel.
    """
    table_freq = np.asarray(table_freq, dtype=np.float64)
    freq = np.asarray(freq, dtype=np.float64)
    distance = np.abs(freq[:, None] - table_freq[None, :])
    idx = distance.argmin(axis=1)
    if table_freq.size < 2:
        return idx, np.zeros(freq.size, bool)
    spacing = float(np.median(np.abs(np.diff(np.sort(table_freq)))))
    return idx, distance[np.arange(freq.size), idx] > 0.5 * spacing * (1 + 1e-6)


def _table_rows(ds, solutions):
    """Row of the table's antenna axis of each antenna number (−1: none).

    The numbers up to the data's largest in ``antenna1``/``antenna2`` (without
    baselines, the table's largest).

    Raises
    ------
    ConfigurationError
        The table's ``antenna`` coordinate does not hold distinct antenna numbers.
    """
    numbers = np.asarray(solutions["antenna"].values)
    if (
        numbers.dtype.kind not in "iu"
        or (numbers < 0).any()
        or np.unique(numbers).size != numbers.size
    ):
        raise ConfigurationError(
            "solutions: the antenna coordinate must hold distinct antenna numbers "
            f">= 0, got {numbers[:8].tolist()}{' ...' if numbers.size > 8 else ''}"
        )
    if "antenna1" in ds and ds["antenna1"].size:
        n = int(max(ds["antenna1"].max(), ds["antenna2"].max())) + 1
    else:  # no baselines (a probe of the table): its own antennas
        n = int(numbers.max()) + 1 if numbers.size else 0
    rows = np.full(n, -1, np.int64)
    inside = numbers < n
    rows[numbers[inside]] = np.flatnonzero(inside)
    return rows


def _interp_time(gt, g, flag, times):
    """Linear interpolation of (gain_time, antenna, pol) onto ``times``.

    Beyond the end points the nearest solution is used. A sample is flagged
    when either bracketing solution is flagged.
    """
    gt = np.asarray(gt, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if gt.size == 1:
        idx = np.zeros(times.size, np.int64)
        return g[idx], flag[idx]
    hi = np.clip(np.searchsorted(gt, times), 1, gt.size - 1)
    lo = hi - 1
    f = np.clip((times - gt[lo]) / (gt[hi] - gt[lo]), 0.0, 1.0)[:, None, None]
    out = (1 - f) * g[lo] + f * g[hi]
    fl = (flag[lo] & (f < 1)) | (flag[hi] & (f > 0))
    return out, fl


def gains_on(ds, solutions):
    """Evaluate the per-antenna Jones terms of ``solutions`` at the dataset's samples.

    The table's rows are matched to the data's antennas by antenna number (its
    ``antenna`` coordinate); an antenna the table lacks is flagged. The
    bandpass is taken at the nearest solution channel, and a channel farther
    than half the table's channel spacing from all of them (outside the
    table's band, or in a gap of it) is flagged; gains are interpolated
    linearly in time (real and imaginary parts; beyond the end points, the
    nearest solution); delays enter as ``exp(+2πi τ f)``. A term that is not
    finite (a NaN delay :func:`~dsa110.calibration.solve_delay` could not
    solve, a NaN or infinite gain) is flagged, as a flagged one is.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset.
    solutions : xarray.Dataset
        With any of ``BANDPASS``(+``_FLAG``), ``GAIN``(+``_FLAG``), ``DELAY``.

    Returns
    -------
    gains : numpy.ndarray
        ``(time, antenna, frequency, polarization)`` complex128 (time length 1
        when there are no time-dependent terms), the antenna axis indexed by
        antenna number (:func:`_table_rows`).
    flag : numpy.ndarray
        Same shape, bool.

    Raises
    ------
    ConfigurationError
        When ``solutions`` holds no terms, its polarizations differ, its
        antenna coordinate is not antenna numbers, or its bandpass covers none
        of the data's channels.
    """
    freq = np.asarray(ds[schema.FREQUENCY].values)
    times = np.asarray(ds[schema.TIME].values)
    pols = list(np.asarray(ds[schema.POLARIZATION].values).astype(str))
    spols = list(np.asarray(solutions[schema.POLARIZATION].values).astype(str))
    if spols != pols:
        raise ConfigurationError(
            f"solution polarizations {spols} differ from the data's {pols}"
        )
    n_ant = solutions.sizes["antenna"]
    g = np.ones((1, n_ant, freq.size, len(pols)), np.complex128)
    fl = np.zeros(g.shape, bool)
    found = False
    if "BANDPASS" in solutions:
        idx, outside = nearest_channels(solutions[schema.FREQUENCY].values, freq)
        if outside.all():
            table = np.asarray(solutions[schema.FREQUENCY].values) / 1e6
            raise ConfigurationError(
                f"solutions: the bandpass covers {table.min():.3f}–{table.max():.3f} "
                f"MHz, none of the data's {freq.min() / 1e6:.3f}–"
                f"{freq.max() / 1e6:.3f} MHz"
            )
        g = g * np.asarray(solutions["BANDPASS"].values)[None][:, :, idx]
        fl = fl | np.asarray(solutions["BANDPASS_FLAG"].values)[None][:, :, idx]
        fl = fl | outside[None, None, :, None]
        found = True
    if "DELAY" in solutions:
        tau = np.asarray(solutions["DELAY"].values, dtype=np.float64)
        unsolved = ~np.isfinite(tau)
        tau = np.where(unsolved, 0.0, tau)
        g = g * np.exp(2j * np.pi * tau[None, :, None, :] * freq[None, None, :, None])
        fl = fl | unsolved[None, :, None, :]
        found = True
    if "GAIN" in solutions:
        gt, gf = _interp_time(
            solutions["gain_time"].values,
            np.asarray(solutions["GAIN"].values),
            np.asarray(solutions["GAIN_FLAG"].values),
            times,
        )
        g = g * gt[:, :, None, :]
        fl = fl | gf[:, :, None, :]
        found = True
    if not found:
        raise ConfigurationError("solutions hold no BANDPASS, GAIN or DELAY")
    bad = fl | ~np.isfinite(g)
    g = np.where(bad, 1.0, g)
    # by antenna number: the data's antenna1/antenna2 index these
    rows = _table_rows(ds, solutions)
    missing = rows < 0
    g = g[:, np.where(missing, 0, rows)]
    bad = bad[:, np.where(missing, 0, rows)] | missing[None, :, None, None]
    return g, bad


def apply_calibration(ds, solutions):
    """Calibrate: ``V_ij / (g_i · conj(g_j))`` with flags propagated (lazy).

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (:mod:`dsa110.schema`); NumPy- or dask-backed.
    solutions : xarray.Dataset
        From :func:`dsa110.calibration.solve_calibration` (or a bandpass /
        gain solution alone).

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``VISIBILITY`` and ``FLAG`` replaced by dask arrays; where a
        gain is flagged the data are flagged and left as they were.
    """
    g, fl = gains_on(ds, solutions)
    vis = ds["VISIBILITY"].data
    if not isinstance(vis, da.Array):
        vis = da.from_array(vis, chunks=vis.shape)
    flag = da.asarray(ds["FLAG"].data).rechunk(vis.chunks)
    if g.shape[0] == 1:
        g = np.broadcast_to(g, (vis.shape[0],) + g.shape[1:])
        fl = np.broadcast_to(fl, g.shape)
    tch, _, fch, _ = vis.chunks
    g_d = da.from_array(g, chunks=(tch, -1, fch, -1))
    f_d = da.from_array(fl, chunks=(tch, -1, fch, -1))
    a1 = np.asarray(ds["antenna1"].values, dtype=np.int64)
    a2 = np.asarray(ds["antenna2"].values, dtype=np.int64)
    out_vis, out_flag = cdask.apply_gains(vis, flag, g_d, f_d, a1, a2)
    out = ds.copy()
    out["VISIBILITY"] = (ds["VISIBILITY"].dims, out_vis, ds["VISIBILITY"].attrs)
    out["FLAG"] = (ds["FLAG"].dims, out_flag, ds["FLAG"].attrs)
    out.attrs["calibration_applied"] = str(solutions.attrs.get("calibrator", "unknown"))
    return out
