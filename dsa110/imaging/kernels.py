"""CPU (Numba) gridder and degridder with w-gridding: visibilities ↔ dirty image.

Conventions (those of :mod:`dsa110.schema`): visibilities are
``V(u, v, w) = Σ I(l, m) exp(+2πi (u l + v m + w (n − 1)))`` with ``u, v, w`` in
wavelengths (``uvw`` metres × ``freq / c``), and the dirty image is the exact
adjoint ``D(l, m) = Re Σ_k wgt_k V_k exp(−2πi (u_k l + v_k m + w_k (n − 1)))``
(no division by ``n``). Images are ``(l, m)``-indexed arrays with pixel
``(npix_x // 2, npix_y // 2)`` at the phase centre, ``l = (ix − npix_x // 2) ·
pixsize_x`` increasing toward east (increasing RA) and ``m`` toward north — the
layout of ``ducc0.wgridder``, whose ``vis2dirty(..., flip_u=True, flip_v=True,
divide_by_n=False)`` computes the same image.

The algorithm is ducc0's: convolutional gridding with the ES kernel on an
oversampled grid (σ = 1.5 for most accuracies), and "w-gridding" (Arras et al.
2021) — the same kernel spreads each visibility over ``support`` w planes, each
plane is Fourier transformed once and multiplied by ``exp(−2πi w_p (n − 1))``, and
the image is divided by the kernel's Fourier transform in ``l``, ``m`` and ``w``.
Visibilities with ``w < 0`` are replaced by their Hermitian conjugates, which
halves the number of planes.

The CPU path sorts visibilities into runs by 2-D tile and first w plane and grids
each tile through a small local buffer (:mod:`dsa110.imaging.tiles`); the grids
store only the uv rows that can hold data (:attr:`GridPlan.grid_rows`). The
single-plane loops ``_grid_plane``/``_degrid_plane`` below, with their strip
binning :func:`bin_visibilities`, are kept as the reference of the per-plane CUDA
kernels' tests.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np
import scipy.fft
from numba import njit, prange

from dsa110._compat.array_api import get_array_namespace
from dsa110._compat.numba import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from dsa110.errors import ConfigurationError
from dsa110.imaging.fft import (
    _accumulate_plane,
    _columns_to_grid,
    _corrections,
    _grid_to_columns,
    _phasors,
    _scatter_plane,
    _sparse_image_to_grids,
    nm1_image,
)
from dsa110.imaging.footprint import _horner, _horner_one
from dsa110.imaging.kernel_es import ESKernel, choose_kernel
from dsa110.imaging.tiles import bin_tiles, degrid_batch, grid_batch
from dsa110.telescope.beam import SPEED_OF_LIGHT

__all__ = [
    "GridPlan",
    "plan_gridding",
    "bin_visibilities",
    "grid_planes",
    "planes_to_image",
    "finish_image",
    "image_to_planes",
    "degrid_planes",
    "vis2dirty",
    "dirty2vis",
]


@dataclass(frozen=True)
class GridPlan:
    """Everything the gridder needs besides the data; shared by all chunks of one image.

    Attributes
    ----------
    npix_x, npix_y : int
        Image size.
    pixsize_x, pixsize_y : float
        Pixel size, radians (direction cosines).
    ngx, ngy : int
        Oversampled grid size.
    kernel : ESKernel
        The gridding kernel.
    do_wgridding : bool
        Whether w is taken into account.
    w0, dw : float
        Position of plane 0 and plane spacing, wavelengths.
    nplanes : int
        Number of w planes (1 without w-gridding).
    nstrips : int
        Number of parallel strips along ``u`` (even).
    real_dtype : numpy.dtype
        float32 or float64: the precision of the computation.
    urows : int
        Grid rows ``|iu| ≤ urows`` can hold data (0: unknown, all rows); the FFTs
        skip the others.
    """

    npix_x: int
    npix_y: int
    pixsize_x: float
    pixsize_y: float
    ngx: int
    ngy: int
    kernel: ESKernel
    do_wgridding: bool
    w0: float
    dw: float
    nplanes: int
    nstrips: int
    real_dtype: np.dtype
    urows: int = 0

    @property
    def grid_rows(self):
        """Rows of the stored uv grids (CPU).

        ``urows + 1`` from the top and ``urows`` from the bottom of the ``ngx``
        rows (the others hold no data), or all ``ngx`` when ``urows`` is 0.
        """
        return self.ngx if self.urows == 0 else 2 * self.urows + 1

    @property
    def complex_dtype(self):
        """Complex dtype matching :attr:`real_dtype`."""
        return np.result_type(self.real_dtype, np.complex64)


def _good_size(n):
    """Smallest even FFT-friendly size ≥ n."""
    return int(scipy.fft.next_fast_len(int(n) + (int(n) % 2)))


def plan_gridding(
    *,
    npix_x,
    npix_y,
    pixsize_x,
    pixsize_y,
    epsilon,
    dtype,
    w_range=(0.0, 0.0),
    do_wgridding=True,
    u_max=None,
):
    """Choose the grid, kernel and w planes for one image.

    Parameters
    ----------
    npix_x, npix_y : int, keyword-only
        Image size (even, ≥ 16).
    pixsize_x, pixsize_y : float, keyword-only
        Pixel size, radians.
    epsilon : float, keyword-only
        Requested accuracy.
    dtype : numpy.dtype, keyword-only
        Precision (real or complex dtype of the data).
    w_range : (float, float), keyword-only
        Minimum and maximum ``|w|`` of all visibilities, wavelengths.
    do_wgridding : bool, keyword-only
        Take ``w`` into account.
    u_max : float, keyword-only
        Largest ``|u|`` of all visibilities, wavelengths (lets the FFTs skip empty
        grid rows); None for unknown.

    Returns
    -------
    GridPlan
    """
    if npix_x % 2 or npix_y % 2 or npix_x < 16 or npix_y < 16:
        raise ConfigurationError(
            f"image size ({npix_x}, {npix_y}): must be even and ≥ 16 pixels"
        )
    dtype = np.dtype(dtype)
    real = (
        np.dtype(np.float32)
        if dtype in (np.float32, np.complex64)
        else np.dtype(np.float64)
    )
    kernel = _cached_kernel(float(epsilon), real)
    support = kernel.support
    sigma = kernel.oversampling
    ngx = _good_size(max(sigma * npix_x, 2 * support + 16))
    ngy = _good_size(max(sigma * npix_y, 2 * support + 16))
    wmin, wmax = (float(abs(w_range[0])), float(abs(w_range[1])))
    wmin, wmax = min(wmin, wmax), max(wmin, wmax)
    if do_wgridding and wmax > 0:
        nm1max = float(np.max(np.abs(nm1_image(npix_x, npix_y, pixsize_x, pixsize_y))))
        dw = 0.5 / sigma / nm1max
        w0 = wmin - dw * support / 2.0
        nplanes = int(math.floor((wmax - wmin) / dw + support)) + 1
    else:
        do_wgridding, w0, dw, nplanes = False, 0.0, 1.0, 1
    width = max(support, 8)
    nstrips = max(2, 2 * (ngx // (2 * width)))
    return GridPlan(
        int(npix_x),
        int(npix_y),
        float(pixsize_x),
        float(pixsize_y),
        ngx,
        ngy,
        kernel,
        bool(do_wgridding),
        float(w0),
        float(dw),
        int(nplanes),
        int(nstrips),
        real,
        _urows(u_max, pixsize_x, ngx, support),
    )


def _urows(u_max, pixsize_x, ngx, support):
    if u_max is None:
        return 0
    rows = int(math.ceil(abs(u_max) * pixsize_x * ngx + support / 2.0)) + 1
    return 0 if 2 * rows + 1 >= ngx else rows


@functools.lru_cache(maxsize=32)
def _cached_kernel(epsilon, real):
    return choose_kernel(epsilon, real)


# ----------------------------------------------------------------------------------
# Binning of visibilities into runs
# ----------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def _run_key(u, w, pixx, ngx, half, w0, dw, do_w, nstrips):
    pu = u * pixx * ngx
    iu0 = int(math.ceil(pu - half))
    cell = (iu0 + ngx // 2) % ngx
    strip = cell * nstrips // ngx
    p0 = 0
    if do_w:
        p0 = int(math.ceil((w - w0) / dw - half))
    return p0 * nstrips + strip


@njit(**PARALLEL_JIT_OPTIONS)
def _count_runs(
    uvw, fc, mask, has_mask, pixx, ngx, half, w0, dw, do_w, nstrips, nkeys, nblocks
):
    nrow = uvw.shape[0]
    nchan = fc.shape[0]
    counts = np.zeros((nblocks, nkeys), dtype=np.int64)
    for b in prange(nblocks):
        r0 = b * nrow // nblocks
        r1 = (b + 1) * nrow // nblocks
        for r in range(r0, r1):
            sgn = 1.0
            if do_w and uvw[r, 2] < 0:
                sgn = -1.0
            last = -1
            for c in range(nchan):
                if has_mask and not mask[r, c]:
                    last = -1
                    continue
                key = _run_key(
                    sgn * uvw[r, 0] * fc[c],
                    sgn * uvw[r, 2] * fc[c],
                    pixx,
                    ngx,
                    half,
                    w0,
                    dw,
                    do_w,
                    nstrips,
                )
                if key != last:
                    counts[b, key] += 1
                    last = key
    return counts


@njit(**PARALLEL_JIT_OPTIONS)
def _fill_runs(
    uvw,
    fc,
    mask,
    has_mask,
    pixx,
    ngx,
    half,
    w0,
    dw,
    do_w,
    nstrips,
    offsets,
    run_row,
    run_c0,
    run_c1,
):
    nrow = uvw.shape[0]
    nchan = fc.shape[0]
    nblocks = offsets.shape[0]
    for b in prange(nblocks):
        pos = offsets[b].copy()
        r0 = b * nrow // nblocks
        r1 = (b + 1) * nrow // nblocks
        for r in range(r0, r1):
            sgn = 1.0
            if do_w and uvw[r, 2] < 0:
                sgn = -1.0
            last = -1
            k = -1
            for c in range(nchan):
                if has_mask and not mask[r, c]:
                    last = -1
                    continue
                key = _run_key(
                    sgn * uvw[r, 0] * fc[c],
                    sgn * uvw[r, 2] * fc[c],
                    pixx,
                    ngx,
                    half,
                    w0,
                    dw,
                    do_w,
                    nstrips,
                )
                if key != last:
                    k = pos[key]
                    pos[key] += 1
                    run_row[k] = r
                    run_c0[k] = c
                    last = key
                run_c1[k] = c + 1


@dataclass(frozen=True)
class Bins:
    """Visibilities sorted into runs by (first w plane, strip).

    Attributes
    ----------
    row, chan_start, chan_stop : numpy.ndarray
        ``(run,)`` int32: row and channel range of each run.
    key_offsets : numpy.ndarray
        ``(nplanes · nstrips + 1,)`` int64: runs of key ``k`` are
        ``key_offsets[k]:key_offsets[k + 1]``.
    """

    row: np.ndarray
    chan_start: np.ndarray
    chan_stop: np.ndarray
    key_offsets: np.ndarray


def bin_visibilities(uvw, freq, mask=None, *, plan, nthreads=1):
    """Sort visibilities into runs for :func:`grid_planes` and :func:`degrid_planes`.

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64 baseline coordinates, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64 frequencies, Hz.
    mask : numpy.ndarray, optional
        ``(row, chan)`` bool: False for visibilities to skip (zero weight, flagged).
    plan : GridPlan, keyword-only
        From :func:`plan_gridding`.
    nthreads : int, keyword-only
        Threads.

    Returns
    -------
    Bins
    """
    uvw = np.ascontiguousarray(uvw, dtype=np.float64)
    fc = np.ascontiguousarray(freq, dtype=np.float64) / SPEED_OF_LIGHT
    _check_coverage(uvw, fc, plan)
    has_mask = mask is not None
    m = (
        np.ascontiguousarray(mask, dtype=np.bool_)
        if has_mask
        else np.ones((1, 1), np.bool_)
    )
    nkeys = plan.nplanes * plan.nstrips
    nblocks = max(1, min(uvw.shape[0], 4 * nthreads))
    half = plan.kernel.support / 2.0
    args = (
        uvw,
        fc,
        m,
        has_mask,
        plan.pixsize_x,
        plan.ngx,
        half,
        plan.w0,
        plan.dw,
        plan.do_wgridding,
        plan.nstrips,
    )
    with _threads(nthreads):
        counts = _count_runs(*args, nkeys, nblocks)
        # runs of key k: block 0's, then block 1's, ... (offsets per block and key)
        per_key = counts.sum(axis=0)
        key_offsets = np.zeros(nkeys + 1, dtype=np.int64)
        np.cumsum(per_key, out=key_offsets[1:])
        offsets = key_offsets[:-1][None, :] + np.cumsum(counts, axis=0) - counts
        nrun = int(key_offsets[-1])
        row = np.empty(nrun, np.int32)
        c0 = np.empty(nrun, np.int32)
        c1 = np.empty(nrun, np.int32)
        _fill_runs(*args, np.ascontiguousarray(offsets), row, c0, c1)
    return Bins(row, c0, c1, key_offsets)


def _check_coverage(uvw, fc, plan):
    """Raise when a baseline lies beyond the grid (pixels too large for it)."""
    if uvw.size == 0:
        return
    fmax = float(np.max(fc))
    umax = float(np.max(np.abs(uvw[:, 0]))) * fmax * plan.pixsize_x
    vmax = float(np.max(np.abs(uvw[:, 1]))) * fmax * plan.pixsize_y
    if max(umax, vmax) >= 0.5:
        raise ValueError(
            f"the pixel size is too large for the longest baseline: |u| · pixsize = "
            f"{max(umax, vmax):.3f} ≥ 0.5 (choose a pixel size below the Nyquist limit)"
        )
    if plan.urows and (
        umax * plan.ngx + plan.kernel.support / 2.0 > plan.urows - 1 + 1e-9
    ):
        raise ValueError(
            "visibilities' |u| exceed the plan's u_max (the grids store only the "
            "rows up to it)"
        )
    if plan.do_wgridding:
        w = np.abs(uvw[:, 2])
        lo = float(np.min(w)) * float(np.min(fc))
        hi = float(np.max(w)) * fmax
        pmin = (lo - plan.w0) / plan.dw - plan.kernel.support / 2.0
        pmax = (hi - plan.w0) / plan.dw + plan.kernel.support / 2.0
        if pmin < -1e-9 or pmax > plan.nplanes:
            raise ValueError("visibilities' |w| lie outside the plan's w_range")


class _threads:
    """Context manager setting Numba's thread count."""

    def __init__(self, n):
        self.n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        self.old = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        numba.set_num_threads(self.old)


# ----------------------------------------------------------------------------------
# Gridding and degridding of one w plane
# ----------------------------------------------------------------------------------


@njit(**PARALLEL_JIT_OPTIONS)
def _grid_plane(
    grid,
    vis,
    wgt,
    has_wgt,
    uvw,
    fc,
    row,
    c0,
    c1,
    key_offsets,
    coeffs,
    plane,
    pixx,
    pixy,
    w0,
    dw,
    do_w,
    nstrips,
    nplanes,
    nwork,
):
    ngx, ngy = grid.shape
    gridf = grid.view(grid.real.dtype)
    support = coeffs.shape[1]
    half = support / 2.0
    rcoeffs = coeffs.astype(grid.real.dtype)
    pfirst = 0
    plast = 0
    if do_w:
        pfirst = max(0, plane - support + 1)
        plast = min(plane, nplanes - 1)
    for parity in range(2):
        for t in prange(nwork):
            ku = np.empty(support, dtype=grid.real.dtype)
            kv = np.empty(support, dtype=grid.real.dtype)
            kvr = np.empty(2 * support, dtype=grid.real.dtype)
            strip = parity + 2 * t
            while strip < nstrips:
                for p0 in range(pfirst, plast + 1):
                    key = p0 * nstrips + strip
                    for k in range(key_offsets[key], key_offsets[key + 1]):
                        r = row[k]
                        sgn = 1.0
                        if do_w and uvw[r, 2] < 0:
                            sgn = -1.0
                        for c in range(c0[k], c1[k]):
                            val = vis[r, c]
                            if has_wgt:
                                val = val * wgt[r, c]
                            if sgn < 0:
                                val = val.conjugate()
                            f = sgn * fc[c]
                            pu = uvw[r, 0] * f * pixx * ngx
                            pv = uvw[r, 1] * f * pixy * ngy
                            iu0 = math.ceil(pu - half)
                            iv0 = math.ceil(pv - half)
                            _horner(rcoeffs, iu0 - pu + half, ku)
                            _horner(rcoeffs, iv0 - pv + half, kv)
                            if do_w:
                                pw = (uvw[r, 2] * f - w0) / dw
                                xw = math.ceil(pw - half) - pw + half
                                val = val * _horner_one(rcoeffs, xw, plane - p0)
                            iu = (int(iu0) + ngx) % ngx
                            jv0 = (int(iv0) + ngy) % ngy
                            if iu + support <= ngx and jv0 + support <= ngy:
                                # real arithmetic on a float view: contiguous 2W floats
                                # per grid row, which LLVM vectorizes
                                vre = val.real
                                vim = val.imag
                                for b in range(support):
                                    kvr[2 * b] = vre * kv[b]
                                    kvr[2 * b + 1] = vim * kv[b]
                                j0 = 2 * jv0
                                for a in range(support):
                                    gr = gridf[iu + a, j0 : j0 + 2 * support]
                                    k = ku[a]
                                    for b in range(2 * support):
                                        gr[b] += k * kvr[b]
                                continue
                            for a in range(support):
                                vu = val * ku[a]
                                jv = jv0
                                for b in range(support):
                                    grid[iu, jv] += vu * kv[b]
                                    jv += 1
                                    if jv == ngy:
                                        jv = 0
                                iu += 1
                                if iu == ngx:
                                    iu = 0
                strip += 2 * nwork


@njit(**PARALLEL_JIT_OPTIONS)
def _degrid_plane(
    grid,
    vis,
    wgt,
    has_wgt,
    uvw,
    fc,
    row,
    c0,
    c1,
    key_offsets,
    coeffs,
    plane,
    pixx,
    pixy,
    w0,
    dw,
    do_w,
    nstrips,
    nplanes,
    nwork,
):
    ngx, ngy = grid.shape
    gridf = grid.view(grid.real.dtype)
    support = coeffs.shape[1]
    half = support / 2.0
    rcoeffs = coeffs.astype(grid.real.dtype)
    pfirst = 0
    plast = 0
    if do_w:
        pfirst = max(0, plane - support + 1)
        plast = min(plane, nplanes - 1)
    for t in prange(nwork):
        ku = np.empty(support, dtype=grid.real.dtype)
        kv = np.empty(support, dtype=grid.real.dtype)
        kv2 = np.empty(2 * support, dtype=grid.real.dtype)
        acc2 = np.empty(2 * support, dtype=grid.real.dtype)
        for strip in range(t, nstrips, nwork):
            for p0 in range(pfirst, plast + 1):
                key = p0 * nstrips + strip
                for k in range(key_offsets[key], key_offsets[key + 1]):
                    r = row[k]
                    sgn = 1.0
                    if do_w and uvw[r, 2] < 0:
                        sgn = -1.0
                    for c in range(c0[k], c1[k]):
                        f = sgn * fc[c]
                        pu = uvw[r, 0] * f * pixx * ngx
                        pv = uvw[r, 1] * f * pixy * ngy
                        iu0 = math.ceil(pu - half)
                        iv0 = math.ceil(pv - half)
                        _horner(rcoeffs, iu0 - pu + half, ku)
                        _horner(rcoeffs, iv0 - pv + half, kv)
                        iu = (int(iu0) + ngx) % ngx
                        jv0 = (int(iv0) + ngy) % ngy
                        acc = grid[0, 0] * 0
                        if iu + support <= ngx and jv0 + support <= ngy:
                            # real arithmetic on a float view (vectorizable)
                            for b in range(support):
                                kv2[2 * b] = kv[b]
                                kv2[2 * b + 1] = kv[b]
                                acc2[2 * b] = 0
                                acc2[2 * b + 1] = 0
                            j0 = 2 * jv0
                            for a in range(support):
                                gr = gridf[iu + a, j0 : j0 + 2 * support]
                                k = ku[a]
                                for b in range(2 * support):
                                    acc2[b] += k * gr[b] * kv2[b]
                            sre = acc2[0] * 0
                            sim = acc2[0] * 0
                            for b in range(support):
                                sre += acc2[2 * b]
                                sim += acc2[2 * b + 1]
                            acc = grid[0, 0] * 0 + sre + 1j * sim
                            iu = -1
                        for a in range(support if iu >= 0 else 0):
                            inner = grid[0, 0] * 0
                            jv = jv0
                            for b in range(support):
                                inner += grid[iu, jv] * kv[b]
                                jv += 1
                                if jv == ngy:
                                    jv = 0
                            acc += inner * ku[a]
                            iu += 1
                            if iu == ngx:
                                iu = 0
                        if do_w:
                            pw = (uvw[r, 2] * f - w0) / dw
                            xw = math.ceil(pw - half) - pw + half
                            acc = acc * _horner_one(rcoeffs, xw, plane - p0)
                        if sgn < 0:
                            acc = acc.conjugate()
                        if has_wgt:
                            acc = acc * wgt[r, c]
                        vis[r, c] += acc


def _prep(uvw, freq, vis, wgt):
    uvw = np.ascontiguousarray(uvw, dtype=np.float64)
    fc = np.ascontiguousarray(freq, dtype=np.float64) / SPEED_OF_LIGHT
    has_wgt = wgt is not None
    if has_wgt:
        wgt = np.ascontiguousarray(wgt, dtype=vis.real.dtype)
    else:
        wgt = np.ones((1, 1), vis.real.dtype)
    return uvw, fc, wgt, has_wgt


def grid_planes(
    uvw, freq, vis, wgt=None, *, plan, planes=None, bins=None, nthreads=1, out=None
):
    """Grid visibilities onto a stack of w planes (no FFT).

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64, Hz.
    vis : numpy.ndarray
        ``(row, chan)`` complex64 or complex128 (must match ``plan.real_dtype``).
    wgt : numpy.ndarray, optional
        ``(row, chan)`` real weights multiplied into the visibilities; visibilities
        with zero weight are skipped.
    plan : GridPlan, keyword-only
    planes : range, keyword-only
        Which planes (default all).
    bins : dsa110.imaging.tiles.TileBins, keyword-only
        Reuse a binning from :func:`dsa110.imaging.tiles.bin_tiles`.
    nthreads : int, keyword-only
    out : numpy.ndarray, optional
        ``(len(planes), plan.grid_rows, ngy)`` grids to add to (several sets of
        visibilities with their own frequencies onto one stack).

    Returns
    -------
    numpy.ndarray
        ``(plane, plan.grid_rows, ngy)`` complex grids of ``vis``'s precision: the
        rows of the ``(ngx, ngy)`` uv grids that can hold data (see
        :attr:`GridPlan.grid_rows`; :func:`compact_rows` cuts full grids alike).
    """
    planes = range(plan.nplanes) if planes is None else planes
    vis = np.ascontiguousarray(vis)
    _check_dtype(vis.dtype, plan)
    uvw, fc, w, has_wgt = _prep(uvw, freq, vis, wgt)
    shape = (len(planes), plan.grid_rows, plan.ngy)
    if out is None:
        out = np.zeros(shape, dtype=plan.complex_dtype)
    elif out.shape != shape or out.dtype != plan.complex_dtype:
        raise ValueError(
            f"out: expected {shape} {plan.complex_dtype}, got {out.shape} {out.dtype}"
        )
    if len(planes) == 0 or vis.size == 0:
        return out
    if planes.step != 1:
        raise ValueError(f"planes={planes!r}: expected consecutive planes")
    with _threads(nthreads):
        if bins is None:
            bins = _tile_bins(uvw, fc, w, has_wgt, plan, nthreads)
        grid_batch(out, vis, w, has_wgt, uvw, fc, **_batch_args(bins, plan, planes[0]))
    return out


#: Largest stack of w planes :func:`vis2dirty` and :func:`dirty2vis` hold, bytes.
BATCH_BYTES = 1 << 30


def _batch_size(plan):
    # the fewest batches that fit, then planes shared out evenly among them (each
    # batch evaluates the kernels of every visibility it touches once)
    plane_bytes = plan.grid_rows * plan.ngy * np.dtype(plan.complex_dtype).itemsize
    most = max(1, min(plan.nplanes, BATCH_BYTES // plane_bytes))
    nbatch = -(-plan.nplanes // most)
    return -(-plan.nplanes // nbatch)


def compact_rows(grids, plan):
    """Keep the rows of full ``(…, ngx, ngy)`` grids that the CPU grids store.

    Parameters
    ----------
    grids : array
        ``(…, ngx, ngy)`` NumPy or CuPy grids.
    plan : GridPlan

    Returns
    -------
    array
        ``(…, plan.grid_rows, ngy)``.
    """
    if grids.shape[-2] == plan.grid_rows:
        return grids
    xp = get_array_namespace(grids)
    top = plan.urows + 1
    return xp.concatenate(
        [grids[..., :top, :], grids[..., plan.ngx - plan.urows :, :]], axis=-2
    )


def _tile_bins(uvw, fc, w, has_wgt, plan, nthreads):
    _check_coverage(uvw, fc, plan)
    return bin_tiles(
        uvw, fc, (w != 0) if has_wgt else None, plan=plan, nthreads=nthreads
    )


def _batch_args(bins, plan, first):
    return dict(
        bins=bins, plan=plan, first=int(first), nwork=4 * numba.get_num_threads()
    )


def planes_to_image(grids, *, plan, planes=None, nthreads=1, out=None):
    """Fourier transform gridded planes and accumulate them (uncorrected) into an image.

    Parameters
    ----------
    grids : numpy.ndarray
        ``(plane, plan.grid_rows, ngy)`` complex grids from :func:`grid_planes`
        (or full ``(plane, ngx, ngy)`` ones); overwritten.
    plan : GridPlan, keyword-only
    planes : range, keyword-only
        The planes ``grids`` hold (default all, consecutive).
    nthreads : int, keyword-only
    out : numpy.ndarray, optional
        ``(npix_x, npix_y)`` real image to accumulate into.

    Returns
    -------
    numpy.ndarray
        ``(npix_x, npix_y)``: pass it to :func:`finish_image` after all planes.
    """
    planes = range(plan.nplanes) if planes is None else planes
    if out is None:
        out = np.zeros((plan.npix_x, plan.npix_y), dtype=plan.real_dtype)
    _, nm1 = _corrections(plan) if plan.do_wgridding else (None, None)
    phasor, step = _phasors(plan, nm1, planes[0] if len(planes) else 0, -1.0)
    sub = None
    with _threads(nthreads):
        for i in range(len(planes)):
            sub = _grid_to_columns(grids[i], plan, nthreads, out=sub)
            _accumulate_plane(sub, out, phasor, step, plan.do_wgridding)
    return out


def finish_image(image, *, plan):
    """Divide an accumulated image by the kernel's correction (in place).

    Parameters
    ----------
    image : numpy.ndarray
        ``(npix_x, npix_y)`` from :func:`planes_to_image`.
    plan : GridPlan, keyword-only

    Returns
    -------
    numpy.ndarray
        ``image``.
    """
    corr, _ = _corrections(plan)
    image /= corr.astype(image.dtype)
    return image


def _check_dtype(dtype, plan):
    if np.dtype(dtype).kind == "c":
        real = np.dtype(np.float32) if dtype == np.complex64 else np.dtype(np.float64)
    else:
        real = np.dtype(dtype)
    if real != plan.real_dtype:
        raise TypeError(
            f"data of dtype {dtype} do not match the plan's {plan.real_dtype}"
        )


def _w_range(uvw, freq):
    if uvw.shape[0] == 0:
        return (0.0, 0.0)
    w = np.abs(np.asarray(uvw)[:, 2])
    f = np.asarray(freq, dtype=np.float64)
    return (
        float(w.min() * f.min() / SPEED_OF_LIGHT),
        float(w.max() * f.max() / SPEED_OF_LIGHT),
    )


def _u_max(uvw, freq):
    if np.shape(uvw)[0] == 0:
        return 0.0
    return float(np.max(np.abs(np.asarray(uvw)[:, 0])) * np.max(freq) / SPEED_OF_LIGHT)


def vis2dirty(
    uvw,
    freq,
    vis,
    wgt=None,
    *,
    npix_x,
    npix_y,
    pixsize_x,
    pixsize_y,
    epsilon,
    do_wgridding=True,
    nthreads=1,
    plan=None,
):
    """Dirty image of visibilities (the adjoint of :func:`dirty2vis`).

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64 baseline coordinates, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64 channel frequencies, Hz.
    vis : numpy.ndarray
        ``(row, chan)`` complex64 or complex128; sets the precision.
    wgt : numpy.ndarray, optional
        ``(row, chan)`` real weights (same precision); zero skips a visibility.
    npix_x, npix_y : int, keyword-only
        Image size (even).
    pixsize_x, pixsize_y : float, keyword-only
        Pixel size, radians.
    epsilon : float, keyword-only
        Relative accuracy (≥ 1e-5 for complex64).
    do_wgridding : bool, keyword-only
        Take ``w`` into account (w-gridding).
    nthreads : int, keyword-only
        Threads.
    plan : GridPlan, keyword-only
        A precomputed plan (overrides the image and accuracy arguments).

    Returns
    -------
    numpy.ndarray
        ``(npix_x, npix_y)`` float32/float64 dirty image,
        ``D(l, m) = Re Σ wgt V exp(−2πi (u l + v m + w (n − 1)))``.
    """
    vis = np.ascontiguousarray(vis)
    if plan is None:
        plan = plan_gridding(
            npix_x=npix_x,
            npix_y=npix_y,
            pixsize_x=pixsize_x,
            pixsize_y=pixsize_y,
            epsilon=epsilon,
            dtype=vis.dtype,
            w_range=_w_range(uvw, freq),
            do_wgridding=do_wgridding,
            u_max=_u_max(uvw, freq),
        )
    _check_dtype(vis.dtype, plan)
    uvw_c, fc, w, has_wgt = _prep(uvw, freq, vis, wgt)
    with _threads(nthreads):
        bins = _tile_bins(uvw_c, fc, w, has_wgt, plan, nthreads)
    image = np.zeros((plan.npix_x, plan.npix_y), dtype=plan.real_dtype)
    corr, nm1 = _corrections(plan)
    phasor, step = _phasors(plan, nm1, 0, -1.0)
    nb = _batch_size(plan)
    stack = np.empty((nb, plan.grid_rows, plan.ngy), dtype=plan.complex_dtype)
    sub = None
    with _threads(nthreads):
        for first in range(0, plan.nplanes, nb):
            grids = stack[: min(nb, plan.nplanes - first)]
            grids[...] = 0
            grid_batch(
                grids, vis, w, has_wgt, uvw_c, fc, **_batch_args(bins, plan, first)
            )
            for grid in grids:
                sub = _grid_to_columns(grid, plan, nthreads, out=sub)
                _accumulate_plane(sub, image, phasor, step, plan.do_wgridding)
    image /= corr.astype(image.dtype)
    return image


def dirty2vis(
    uvw,
    freq,
    dirty,
    wgt=None,
    *,
    pixsize_x,
    pixsize_y,
    epsilon,
    do_wgridding=True,
    nthreads=1,
    plan=None,
    out=None,
):
    """Visibilities of an image (the adjoint of :func:`vis2dirty`).

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64, Hz.
    dirty : numpy.ndarray
        ``(npix_x, npix_y)`` float32 or float64 image; sets the precision.
    wgt : numpy.ndarray, optional
        ``(row, chan)`` real weights multiplied into the output.
    pixsize_x, pixsize_y : float, keyword-only
        Pixel size, radians.
    epsilon : float, keyword-only
        Relative accuracy.
    do_wgridding : bool, keyword-only
        Take ``w`` into account.
    nthreads : int, keyword-only
        Threads.
    plan : GridPlan, keyword-only
        A precomputed plan.
    out : numpy.ndarray, optional
        ``(row, chan)`` complex output buffer (overwritten).

    Returns
    -------
    numpy.ndarray
        ``(row, chan)`` complex64/complex128 visibilities
        ``V = wgt Σ I(l, m) exp(+2πi (u l + v m + w (n − 1)))``.
    """
    dirty = np.asarray(dirty)
    npix_x, npix_y = dirty.shape
    if plan is None:
        plan = plan_gridding(
            npix_x=npix_x,
            npix_y=npix_y,
            pixsize_x=pixsize_x,
            pixsize_y=pixsize_y,
            epsilon=epsilon,
            dtype=dirty.dtype,
            w_range=_w_range(uvw, freq),
            do_wgridding=do_wgridding,
            u_max=_u_max(uvw, freq),
        )
    _check_dtype(dirty.dtype, plan)
    nrow, nchan = np.shape(uvw)[0], np.shape(freq)[0]
    if out is None:
        vis = np.zeros((nrow, nchan), plan.complex_dtype)
    else:
        vis = out
        vis[...] = 0
    uvw_c, fc, w, has_wgt = _prep(uvw, freq, vis, wgt)
    with _threads(nthreads):
        bins = _tile_bins(uvw_c, fc, w, has_wgt, plan, nthreads)
    nb = _batch_size(plan)
    stack = np.empty((nb, plan.grid_rows, plan.ngy), dtype=plan.complex_dtype)
    for first in range(0, plan.nplanes, nb):
        planes = range(first, min(first + nb, plan.nplanes))
        grids = image_to_planes(
            dirty, plan=plan, planes=planes, nthreads=nthreads, out=stack[: len(planes)]
        )
        with _threads(nthreads):
            degrid_batch(
                grids, vis, w, has_wgt, uvw_c, fc, **_batch_args(bins, plan, first)
            )
    return vis


#: :func:`image_to_planes` transforms only the non-zero columns of an image with
#: at most this fraction of its columns non-zero. A full tile's CLEAN model holds
#: ~1000 pixels in ~300 of 2400 columns: its planes cost about half.
SPARSE_COLUMNS = 0.5


def image_to_planes(image, *, plan, planes=None, nthreads=1, out=None):
    """The uv planes a degridder reads: an image's w-screened, kernel-corrected FFTs.

    The adjoint of :func:`planes_to_image` followed by :func:`finish_image`. A
    sparse image (at most :data:`SPARSE_COLUMNS` of its columns non-zero, as a
    CLEAN model) is transformed along ``u`` on its non-zero columns only.

    Parameters
    ----------
    image : numpy.ndarray
        ``(npix_x, npix_y)`` real model image (Jy/pixel).
    plan : GridPlan, keyword-only
    planes : range, keyword-only
        Which consecutive planes (default all).
    nthreads : int, keyword-only
    out : numpy.ndarray, optional
        ``(len(planes), plan.grid_rows, ngy)`` complex buffer (overwritten).

    Returns
    -------
    numpy.ndarray
        ``(len(planes), plan.grid_rows, ngy)`` complex planes for
        :func:`degrid_planes`.
    """
    planes = range(plan.nplanes) if planes is None else planes
    image = np.asarray(image)
    _check_dtype(image.dtype, plan)
    ctype = plan.complex_dtype
    if out is None:
        out = np.empty((len(planes), plan.grid_rows, plan.ngy), dtype=ctype)
    corr, nm1 = _corrections(plan)
    img = (image / corr).astype(plan.real_dtype)
    cols = np.flatnonzero(img.any(axis=0))
    if cols.size <= SPARSE_COLUMNS * plan.npix_y:
        # a CLEAN model: transform its non-zero columns only
        with _threads(nthreads):
            return _sparse_image_to_grids(img, cols, nm1, plan, planes, out, nthreads)
    phasor, step = _phasors(plan, nm1, planes[0] if len(planes) else 0, 1.0)
    sub = np.empty((plan.ngx, plan.npix_y), dtype=ctype)
    # the rows of ``sub`` no image row lands on (_scatter_plane writes the others)
    hole = slice(plan.npix_x - plan.npix_x // 2, plan.ngx - plan.npix_x // 2)
    with _threads(nthreads):
        for grid in out:
            _scatter_plane(img, sub, phasor, step, plan.do_wgridding)
            sub[hole] = 0  # again: the inverse FFT overwrites its input
            _columns_to_grid(sub, grid, plan, nthreads)
    return out


def degrid_planes(
    grids, uvw, freq, wgt=None, *, plan, planes=None, nthreads=1, out=None
):
    """Visibilities read from the uv planes of :func:`image_to_planes` (no FFT).

    Parameters
    ----------
    grids : numpy.ndarray
        ``(len(planes), plan.grid_rows, ngy)`` complex planes.
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64, Hz.
    wgt : numpy.ndarray, optional
        ``(row, chan)`` real weights multiplied into the output.
    plan : GridPlan, keyword-only
    planes : range, keyword-only
        The consecutive planes ``grids`` holds (default all).
    nthreads : int, keyword-only
    out : numpy.ndarray, optional
        ``(row, chan)`` complex visibilities to add to (the other planes' share).

    Returns
    -------
    numpy.ndarray
        ``(row, chan)`` complex visibilities (``out`` plus these planes' share).
    """
    planes = range(plan.nplanes) if planes is None else planes
    nrow, nchan = np.shape(uvw)[0], np.shape(freq)[0]
    if out is None:
        out = np.zeros((nrow, nchan), plan.complex_dtype)
    if out.size == 0 or len(planes) == 0:
        return out
    uvw_c, fc, w, has_wgt = _prep(uvw, freq, out, wgt)
    with _threads(nthreads):
        bins = _tile_bins(uvw_c, fc, w, has_wgt, plan, nthreads)
        degrid_batch(
            grids, out, w, has_wgt, uvw_c, fc, **_batch_args(bins, plan, planes[0])
        )
    return out
