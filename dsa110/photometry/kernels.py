"""Numba kernels for background/noise estimation and forced photometry.

NumPy arrays in and out; data arguments first, options keyword-only. The public,
image-level functions are in :mod:`dsa110.photometry.background` and
:mod:`dsa110.photometry.forced`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dsa110._compat.numba import JIT_OPTIONS, PARALLEL_JIT_OPTIONS

__all__ = [
    "box_statistics",
    "bilinear_upsample",
    "forced_fit_groups",
    "CLIP_STD_CORRECTION",
]

#: std of a unit normal truncated at ±3σ: divide a 3σ-clipped std by this.
CLIP_STD_CORRECTION = 0.986659


@njit(**JIT_OPTIONS)
def _clipped_stats(values, nsigma, niter):
    """Median and bias-corrected std of ``values`` after iterative sigma clipping."""
    x = values
    med = np.median(x)
    sigma = 1.482602218505602 * np.median(np.abs(x - med))
    for _ in range(niter):
        lo = med - nsigma * sigma
        hi = med + nsigma * sigma
        n = 0
        for i in range(x.size):
            if x[i] >= lo and x[i] <= hi:
                n += 1
        if n < 3:
            break
        y = np.empty(n, x.dtype)
        n = 0
        for i in range(x.size):
            if x[i] >= lo and x[i] <= hi:
                y[n] = x[i]
                n += 1
        new_med = np.median(y)
        mean = y.mean()
        var = 0.0
        for i in range(n):
            var += (y[i] - mean) ** 2
        new_sigma = np.sqrt(var / max(n - 1, 1)) / 0.986659
        done = abs(new_sigma - sigma) <= 1e-4 * sigma and new_med == med
        med, sigma = new_med, new_sigma
        if done:
            break
    return med, sigma


def box_statistics(data, *, step, half_box, max_samples=4096, nsigma=3.0, niter=6):
    """Sigma-clipped background and rms on a coarse grid of sliding boxes.

    Parameters
    ----------
    data : numpy.ndarray, shape (y, x), float32 or float64
        Image; NaN pixels are ignored.
    step : int, keyword-only
        Grid spacing in pixels; grid point (j, i) sits at pixel
        (i * step, j * step).
    half_box : int, keyword-only
        Half-width of the square box around each grid point, pixels.
    max_samples : int, keyword-only
        The box is subsampled with a regular stride to at most about this many
        pixels (noise is correlated over a beam, so neighbours add little).
    nsigma : float, keyword-only
        Clipping threshold.
    niter : int, keyword-only
        Maximum clipping iterations.

    Returns
    -------
    bkg, rms : numpy.ndarray, shape (grid_y, grid_x), same dtype as ``data``
        Median and clipped standard deviation (corrected for the truncation
        at ``nsigma`` = 3) of each box; NaN where a box has < 16 valid pixels.
    """
    return _box_statistics(data, step, half_box, max_samples, nsigma, niter)


@njit(**PARALLEL_JIT_OPTIONS)
def _box_statistics(data, step, half_box, max_samples, nsigma, niter):
    ny, nx = data.shape
    gy = (ny - 1) // step + 1
    gx = (nx - 1) // step + 1
    bkg = np.full((gy, gx), np.nan, dtype=data.dtype)
    rms = np.full((gy, gx), np.nan, dtype=data.dtype)
    side = 2 * half_box + 1
    stride = max(1, int(np.ceil(side / np.sqrt(max_samples))))
    for g in prange(gy * gx):
        j = g // gx
        i = g % gx
        yc, xc = j * step, i * step
        y0, y1 = max(yc - half_box, 0), min(yc + half_box + 1, ny)
        x0, x1 = max(xc - half_box, 0), min(xc + half_box + 1, nx)
        buf = np.empty(
            ((y1 - y0) // stride + 1) * ((x1 - x0) // stride + 1), np.float64
        )
        n = 0
        for yy in range(y0, y1, stride):
            for xx in range(x0, x1, stride):
                v = data[yy, xx]
                if np.isfinite(v):
                    buf[n] = v
                    n += 1
        if n < 16:
            continue
        m, s = _clipped_stats(buf[:n], nsigma, niter)
        bkg[j, i] = m
        rms[j, i] = s
    return bkg, rms


def bilinear_upsample(grid, *, step, shape_y, shape_x):
    """Bilinearly interpolate a coarse grid (points every ``step`` pixels) to full size.

    Parameters
    ----------
    grid : numpy.ndarray, shape (grid_y, grid_x), float
        Values at pixels (i * step, j * step); must be finite.
    step : int, keyword-only
        Grid spacing.
    shape_y, shape_x : int, keyword-only
        Output shape.

    Returns
    -------
    numpy.ndarray, shape (shape_y, shape_x), dtype of ``grid``
    """
    return _bilinear_upsample(grid, step, shape_y, shape_x)


@njit(**PARALLEL_JIT_OPTIONS)
def _bilinear_upsample(grid, step, shape_y, shape_x):
    gy, gx = grid.shape
    out = np.empty((shape_y, shape_x), grid.dtype)
    for yy in prange(shape_y):
        fy = yy / step
        j0 = min(int(fy), gy - 1)
        j1 = min(j0 + 1, gy - 1)
        ty = fy - j0
        if j0 == j1:
            ty = 0.0
        for xx in range(shape_x):
            fx = xx / step
            i0 = min(int(fx), gx - 1)
            i1 = min(i0 + 1, gx - 1)
            tx = fx - i0
            if i0 == i1:
                tx = 0.0
            out[yy, xx] = (1 - ty) * (
                (1 - tx) * grid[j0, i0] + tx * grid[j0, i1]
            ) + ty * ((1 - tx) * grid[j1, i0] + tx * grid[j1, i1])
    return out


def forced_fit_groups(
    data,
    x,
    y,
    bkg,
    rms,
    group_start,
    box,
    corr,
    *,
    qa,
    qb,
    qc,
    vtab=None,
    half=0,
):
    """Fit beam-weighted least-squares (Condon 1997) fluxes, jointly per group.

    Parameters
    ----------
    data : numpy.ndarray, shape (y, x), float32 or float64
        Image, Jy/beam; NaN pixels are ignored.
    x, y : numpy.ndarray, shape (source,), float64
        0-based pixel positions, sorted so that each group is contiguous.
    bkg, rms : numpy.ndarray, shape (source,), float64
        Local background and noise of each source, Jy/beam.
    group_start : numpy.ndarray, shape (group + 1,), int64
        Offsets of the groups into the source arrays.
    box : numpy.ndarray, shape (group, 4), int64
        Pixel box ``(x0, x1, y0, y1)`` (half-open) of each group, inside the image.
    corr : numpy.ndarray, shape (2 * hy + 1, 2 * hx + 1), float64
        Noise correlation coefficient at pixel lag ``(dy, dx)``, centred; a
        single 1 for white noise; zero outside its support.
    qa, qb, qc : float, keyword-only
        Beam quadratic form: beam(dx, dy) = exp(-(qa dx² + 2 qb dx dy + qc dy²) / 2).
    vtab : numpy.ndarray, shape (sub, sub), float64, optional, keyword-only
        Σ_ij B_i ρ_ij B_j of an isolated source in a full, unblanked box of
        half-width ``half``, tabulated on a regular grid of sub-pixel offsets
        x − rint(x), y − rint(y) in [−0.5, 0.5]; used (bilinearly interpolated)
        for such sources instead of the O(box × support) sum.
    half : int, keyword-only
        Half-width of the box ``vtab`` was computed for.

    Returns
    -------
    flux, flux_err : numpy.ndarray, shape (source,), float64
        Peak flux density (Jy/beam; = Jy for an unresolved source) and its
        standard error including the noise correlation within the box.
    chi2 : numpy.ndarray, shape (source,), float64
        Residual sum of squares / rms² over the group's box.
    npix : numpy.ndarray, shape (source,), int64
        Pixels used.
    """
    if vtab is None:
        vtab = np.zeros((0, 0))
    return _forced_fit_groups(
        data, x, y, bkg, rms, group_start, box, corr, qa, qb, qc, vtab, int(half)
    )


@njit(**JIT_OPTIONS)
def _interp_vtab(vtab, ux, uy):
    """Bilinear interpolation of the table at sub-pixel offsets in [-0.5, 0.5]."""
    n = vtab.shape[0] - 1
    fx = min(max((ux + 0.5) * n, 0.0), n - 1e-9)
    fy = min(max((uy + 0.5) * n, 0.0), n - 1e-9)
    i, j = int(fx), int(fy)
    tx, ty = fx - i, fy - j
    return (1 - ty) * ((1 - tx) * vtab[j, i] + tx * vtab[j, i + 1]) + ty * (
        (1 - tx) * vtab[j + 1, i] + tx * vtab[j + 1, i + 1]
    )


@njit(**PARALLEL_JIT_OPTIONS)
def _forced_fit_groups(
    data, x, y, bkg, rms, group_start, box, corr, qa, qb, qc, vtab, half
):
    n = x.size
    ngroup = group_start.size - 1
    flux = np.full(n, np.nan)
    err = np.full(n, np.nan)
    chi2 = np.full(n, np.nan)
    npix = np.zeros(n, np.int64)
    hy = corr.shape[0] // 2
    hx = corr.shape[1] // 2
    for g in prange(ngroup):
        s0, s1 = group_start[g], group_start[g + 1]
        k = s1 - s0
        x0, x1, y0, y1 = box[g, 0], box[g, 1], box[g, 2], box[g, 3]
        m = (x1 - x0) * (y1 - y0)
        if m <= 0:
            continue
        sigma = 0.0
        back = 0.0
        for s in range(s0, s1):
            sigma += rms[s]
            back += bkg[s]
        sigma /= k
        back /= k
        # σ = 0 (a noise-free image) still gives the flux, with error 0
        if not (sigma >= 0.0):
            continue
        design = np.zeros((k, m))
        d = np.zeros(m)
        px = np.empty(m, np.int64)
        py = np.empty(m, np.int64)
        valid = np.zeros(m, np.bool_)
        p = 0
        for yy in range(y0, y1):
            for xx in range(x0, x1):
                v = data[yy, xx]
                px[p] = xx
                py[p] = yy
                if np.isfinite(v):
                    valid[p] = True
                    d[p] = v - back
                    for s in range(k):
                        dx = xx - x[s0 + s]
                        dy = yy - y[s0 + s]
                        design[s, p] = np.exp(
                            -0.5 * (qa * dx * dx + 2 * qb * dx * dy + qc * dy * dy)
                        )
                p += 1
        a = design @ design.T
        b = design @ d
        ok = True
        for s in range(k):
            if a[s, s] < 1e-6:
                ok = False
        if not ok:
            continue
        ainv = np.linalg.inv(a)
        sol = ainv @ b
        # noise covariance of b: V_st = Σ_i B_si Σ_j ρ(i - j) B_tj (σ² applied below);
        # the inner sum runs over the correlation table's support only
        bw = x1 - x0
        full = (
            k == 1
            and vtab.shape[0] > 1
            and bw == 2 * half + 1
            and y1 - y0 == 2 * half + 1
        )
        if full:
            for i in range(m):
                if not valid[i]:
                    full = False
                    break
        cb = np.zeros((k, m))
        for i in range(m if not full else 0):
            if not valid[i]:
                continue
            yi, xi = py[i], px[i]
            ya, yb = max(y0, yi - hy), min(y1, yi + hy + 1)
            xa, xb = max(x0, xi - hx), min(x1, xi + hx + 1)
            for t in range(k):
                acc = 0.0
                for yy in range(ya, yb):
                    crow = corr[yy - yi + hy]
                    drow = design[t, (yy - y0) * bw : (yy - y0 + 1) * bw]
                    c0 = hx - xi
                    # invalid pixels have zero design weight, so no mask is needed
                    for xx in range(xa, xb):
                        acc += crow[xx + c0] * drow[xx - x0]
                cb[t, i] = acc
        if full:
            v = np.empty((1, 1))
            v[0, 0] = _interp_vtab(vtab, x[s0] - (x0 + half), y[s0] - (y0 + half))
        else:
            v = design @ cb.T
        cov = ainv @ v @ ainv * (sigma * sigma)
        res = 0.0
        nvalid = 0
        for i in range(m):
            if valid[i]:
                model = 0.0
                for s in range(k):
                    model += sol[s] * design[s, i]
                res += (d[i] - model) ** 2
                nvalid += 1
        for s in range(k):
            flux[s0 + s] = sol[s]
            err[s0 + s] = np.sqrt(max(cov[s, s], 0.0))
            chi2[s0 + s] = res / (sigma * sigma) if sigma > 0.0 else np.nan
            npix[s0 + s] = nvalid
    return flux, err, chi2, npix
