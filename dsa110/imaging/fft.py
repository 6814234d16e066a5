"""Image side of the gridder: pruned FFTs of w planes, w phase screens, kernel corrections.

The uv grids are stored "ifftshifted" (cell ``k`` holds ``u = k / (ngx · pixsize)``
for ``k < ngx / 2`` and ``k − ngx`` above), so the FFTs need no shifts: image pixel
``ix`` is grid index ``(ix − npix_x // 2) mod ngx``. Only the grid rows that can hold
data are transformed along ``v``, and only the image's columns along ``u``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from numba import njit, prange

from dsa110._compat.numba import PARALLEL_JIT_OPTIONS

__all__ = ["nm1_image"]


def nm1_image(npix_x, npix_y, pixsize_x, pixsize_y):
    """``n − 1 = sqrt(1 − l² − m²) − 1`` on the image pixels, ``(npix_x, npix_y)`` float64."""
    l = (np.arange(npix_x) - npix_x // 2) * pixsize_x
    m = (np.arange(npix_y) - npix_y // 2) * pixsize_y
    r2 = l[:, None] ** 2 + m[None, :] ** 2
    if np.any(r2 >= 1.0):
        raise ValueError("the image extends beyond the horizon (l² + m² ≥ 1)")
    return -r2 / (np.sqrt(1.0 - r2) + 1.0)


@njit(**PARALLEL_JIT_OPTIONS)
def _accumulate_plane(sub, out, phasor, step, use_phasor):
    ngx = sub.shape[0]
    npx, npy = out.shape
    for ix in prange(npx):
        gx = (ix - npx // 2 + ngx) % ngx
        for iy in range(npy):
            if use_phasor:
                out[ix, iy] += (sub[gx, iy] * phasor[ix, iy]).real
                phasor[ix, iy] *= step[ix, iy]
            else:
                out[ix, iy] += sub[gx, iy].real


def _row_slices(plan, nrows):
    """Rows of a stored grid that can hold data.

    Full ``(ngx, ngy)`` grids: ``[0, urows]`` and ``[ngx − urows, ngx)``; grids of
    :attr:`GridPlan.grid_rows` rows hold only those.
    """
    if plan.urows == 0 or nrows != plan.ngx:
        return [slice(0, nrows)]
    return [slice(0, plan.urows + 1), slice(plan.ngx - plan.urows, plan.ngx)]


def _row_map(plan, nrows):
    """Pair the rows of a grid of ``nrows`` rows with the full grid's, as slices."""
    if nrows == plan.ngx:
        return [(slice(0, nrows), slice(0, nrows))]
    top = plan.urows + 1
    return [
        (slice(0, top), slice(0, top)),
        (slice(top, nrows), slice(plan.ngx - (nrows - top), plan.ngx)),
    ]


def _grid_to_columns(grid, plan, nthreads, out=None):
    """FFT of a uv grid, evaluated only on the image's columns: ``(ngx, npix_y)``.

    The transform along ``v`` runs on the rows that can hold data only, the one
    along ``u`` on the ``npix_y`` output columns only (a pruned 2-D FFT). ``grid``
    is a full ``(ngx, ngy)`` grid or one of the stored rows only.
    """
    nrows = grid.shape[0]
    for rows in _row_slices(plan, nrows):
        _fft_rows(grid, rows, nthreads, inverse=False)
    h = plan.npix_y // 2
    # ``out`` (ngx, npix_y) is reused from plane to plane: first touches of fresh
    # pages of a large array cost more than the copy itself
    if out is None:
        out = np.empty((plan.ngx, plan.npix_y), dtype=grid.dtype)
    if nrows != plan.ngx:
        out[plan.urows + 1 : plan.ngx - (nrows - plan.urows - 1)] = 0
    for src, dst in _row_map(plan, nrows):
        out[dst, :h] = grid[src, plan.ngy - h :]
        out[dst, h:] = grid[src, :h]
    res = scipy.fft.fft(out, axis=0, overwrite_x=True, workers=nthreads)
    if not np.shares_memory(res, out):
        out[...] = res
    return out


def _fft_rows(grid, rows, nthreads, *, inverse):
    """FFT of ``grid[rows]`` along ``v``, in place (pocketfft overwrites the rows)."""
    block = grid[rows]
    if inverse:
        out = scipy.fft.ifft(
            block, axis=1, norm="forward", overwrite_x=True, workers=nthreads
        )
    else:
        out = scipy.fft.fft(block, axis=1, overwrite_x=True, workers=nthreads)
    if not np.shares_memory(out, block):
        block[...] = out


def _columns_to_grid(sub, grid, plan, nthreads):
    """Inverse of :func:`_grid_to_columns` (unnormalised, ``exp(+2πi)``), into ``grid``.

    ``grid`` is a full ``(ngx, ngy)`` grid or one of the stored rows only.
    """
    sub = scipy.fft.ifft(
        sub, axis=0, norm="forward", overwrite_x=True, workers=nthreads
    )
    h = plan.npix_y // 2
    nrows = grid.shape[0]
    grid[:, h : plan.ngy - h] = 0
    for dst, src in _row_map(plan, nrows):
        grid[dst, plan.ngy - h :] = sub[src, :h]
        grid[dst, :h] = sub[src, h:]
    for rows in _row_slices(plan, nrows):
        _fft_rows(grid, rows, nthreads, inverse=True)
    return grid


def _sparse_image_to_grids(img, cols, nm1, plan, planes, out, nthreads):
    """W-screened planes of an image whose non-zero pixels lie in columns ``cols``.

    What :func:`_scatter_plane` and :func:`_columns_to_grid` give plane by plane,
    for a sparse image (a CLEAN model): the transform along ``u`` runs on its
    non-zero columns only, and each pixel's w phase is evaluated directly (float64
    phase) rather than advanced over the whole image from plane to plane.

    Parameters
    ----------
    img : numpy.ndarray
        ``(npix_x, npix_y)`` real image, already divided by the kernel correction.
    cols : numpy.ndarray
        Indices of the columns holding every non-zero pixel.
    nm1 : numpy.ndarray or None
        ``n − 1`` per pixel (None without w-gridding).
    plan : GridPlan
    planes : range
        The planes ``out`` holds.
    out : numpy.ndarray
        ``(len(planes), rows, ngy)`` complex grids, overwritten.
    nthreads : int
    """
    ix, jc = np.nonzero(img[:, cols])
    values = img[ix, cols[jc]]
    gx = (ix - plan.npix_x // 2) % plan.ngx
    h = plan.npix_y // 2
    gcols = (cols - h) % plan.ngy
    phase = None if nm1 is None else 2.0 * np.pi * nm1[ix, cols[jc]]
    work = np.empty((plan.ngx, cols.size), dtype=out.dtype)
    nrows = out.shape[1]
    source_rows = _source_rows(plan, nrows)
    for grid, p in zip(out, planes):
        work[...] = 0
        if phase is None:
            work[gx, jc] = values
        else:
            ph = (plan.w0 + p * plan.dw) * phase
            work[gx, jc] = values * (np.cos(ph) + 1j * np.sin(ph))
        res = scipy.fft.ifft(
            work, axis=0, norm="forward", overwrite_x=True, workers=nthreads
        )
        _scatter_columns(grid, res, source_rows, gcols)
        for rows in _row_slices(plan, nrows):
            _fft_rows(grid, rows, nthreads, inverse=True)
    return out


def _source_rows(plan, nrows):
    """The full grid's row each row of a grid of ``nrows`` rows holds (−1: none)."""
    source = np.full(nrows, -1, np.int64)
    for dst, src in _row_map(plan, nrows):
        source[dst] = np.arange(src.start, src.stop)
    return source


@njit(**PARALLEL_JIT_OPTIONS)
def _scatter_columns(grid, res, source_rows, gcols):
    """Zero every row of ``grid`` and put its source row of ``res`` in columns ``gcols``.

    One pass over the plane, rows in parallel (zeroing the ~70 MB plane and then
    scattering the columns with NumPy's fancy indexing took as long as the plane's
    FFTs along ``v``).
    """
    for r in prange(grid.shape[0]):
        grid[r, :] = 0
        s = source_rows[r]
        if s >= 0:
            for j in range(gcols.shape[0]):
                grid[r, gcols[j]] = res[s, j]


@njit(**PARALLEL_JIT_OPTIONS)
def _scatter_plane(img, sub, phasor, step, use_phasor):
    ngx = sub.shape[0]
    npx, npy = img.shape
    for ix in prange(npx):
        gx = (ix - npx // 2 + ngx) % ngx
        for iy in range(npy):
            if use_phasor:
                sub[gx, iy] = img[ix, iy] * phasor[ix, iy]
                phasor[ix, iy] *= step[ix, iy]
            else:
                sub[gx, iy] = img[ix, iy]


_CORRECTIONS = {}


def _plan_key(plan):
    return (
        plan.npix_x,
        plan.npix_y,
        plan.pixsize_x,
        plan.pixsize_y,
        plan.ngx,
        plan.ngy,
        plan.kernel.support,
        plan.kernel.beta,
        plan.do_wgridding,
        plan.dw,
    )


def _corrections(plan):
    """Image-plane correction ``ψ̂(l) ψ̂(m) ψ̂_w(n − 1)`` and ``n − 1`` (cached per plan)."""
    key = _plan_key(plan)
    if key in _CORRECTIONS:
        return _CORRECTIONS[key]
    k = plan.kernel
    cx = k.correction((np.arange(plan.npix_x) - plan.npix_x // 2) / plan.ngx)
    cy = k.correction((np.arange(plan.npix_y) - plan.npix_y // 2) / plan.ngy)
    corr = cx[:, None] * cy[None, :]
    nm1 = None
    if plan.do_wgridding:
        nm1 = nm1_image(plan.npix_x, plan.npix_y, plan.pixsize_x, plan.pixsize_y)
        # ψ̂ is smooth: tabulate it along n − 1 and interpolate with a cubic spline
        # (relative error ~1e-13 for the finest kernels)
        from scipy.interpolate import CubicSpline  # deferred: only needed here

        table = np.linspace(float(nm1.min()), 0.0, 4096)
        corr = corr * CubicSpline(table, k.correction(plan.dw * table))(nm1)
    if len(_CORRECTIONS) > 8:
        _CORRECTIONS.clear()
    _CORRECTIONS[key] = (corr, nm1)
    return corr, nm1


_PHASORS = {}


@njit(**PARALLEL_JIT_OPTIONS)
def _cis(x, scale, out):
    # out = exp(i · scale · x), the phase in float64 (cheaper than NumPy's complex exp)
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            ph = scale * x[i, j]
            out[i, j] = math.cos(ph) + 1j * math.sin(ph)


def _phasors(plan, nm1, first, sign):
    """``exp(sign 2πi w_first (n − 1))`` and the per-plane step, complex arrays.

    The phasor is a fresh copy (the accumulation loops advance it in place); both
    are cached per first plane and sign, because every major cycle of an image
    asks for the same ones and ``exp`` of a whole image is not cheap. Only the
    latest plan's are kept: ``w0`` differs from tile to tile, and a full tile's
    pair holds 92 MB, which a cache across tiles would keep for nothing.
    """
    ctype = plan.complex_dtype
    if nm1 is None:
        one = np.ones((1, 1), ctype)
        return one, one
    this_plan = (_plan_key(plan), plan.w0, np.dtype(ctype).str)
    key = (*this_plan, int(first), float(sign))
    entry = _PHASORS.get(key)
    if entry is None:
        phasor = np.empty(nm1.shape, ctype)
        step = np.empty(nm1.shape, ctype)
        _cis(nm1, sign * 2.0 * np.pi * (plan.w0 + first * plan.dw), phasor)
        _cis(nm1, sign * 2.0 * np.pi * plan.dw, step)
        entry = (phasor, step)
        for stale in [k for k in list(_PHASORS) if k[:3] != this_plan]:
            _PHASORS.pop(stale, None)
        _PHASORS[key] = entry
    phasor, step = entry
    return phasor.copy(), step
