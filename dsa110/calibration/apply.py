"""Apply calibration solutions to a visibility dataset (lazy)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from dsa110 import schema
from dsa110.calibration import dask as cdask
from dsa110.errors import ConfigurationError

__all__ = ["apply_calibration", "gains_on"]


def _nearest(src, dst):
    src = np.asarray(src, dtype=np.float64)
    return np.abs(np.asarray(dst, dtype=np.float64)[:, None] - src[None, :]).argmin(
        axis=1
    )


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

    The bandpass is taken at the nearest solution channel; gains are
    interpolated linearly in time (real and imaginary parts); delays enter as
    ``exp(+2πi τ f)``.

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
        when there are no time-dependent terms).
    flag : numpy.ndarray
        Same shape, bool.

    Raises
    ------
    ConfigurationError
        When ``solutions`` holds no terms or its polarizations differ.
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
        idx = _nearest(solutions[schema.FREQUENCY].values, freq)
        g = g * np.asarray(solutions["BANDPASS"].values)[None][:, :, idx]
        fl = fl | np.asarray(solutions["BANDPASS_FLAG"].values)[None][:, :, idx]
        found = True
    if "DELAY" in solutions:
        tau = np.nan_to_num(np.asarray(solutions["DELAY"].values))
        g = g * np.exp(2j * np.pi * tau[None, :, None, :] * freq[None, None, :, None])
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
    return g, fl


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
