"""Tile-buffered footprint loops of the CPU gridder and degridder (ducc0's scheme).

Visibilities are sorted into runs (consecutive channels of one row) keyed by the 2-D
tile of the uv grid their footprint starts in and by the first w plane they touch.
Each thread grids the visibilities of one tile into a small local buffer (the tile
plus the kernel's halo, for every w plane of the batch: a few tens of kB, which
stays in the cache) and then adds the buffer into the grids. The u and v kernels of
a visibility are evaluated once for all the w planes of the batch it touches.

Tiles of equal colour — parity of the tile index along u and along v, plus a
colour of its own for the last tile of an odd count, which touches the first
through the periodic wrap — are at least one tile (≥ the kernel support) apart,
so their buffers never overlap: the four (up to nine) colours are gridded one
after the other, the tiles of a colour in parallel, without locks or atomics.
Degridding copies a tile's grid values into the buffer and reads from it.

The loops are compiled for each kernel support ``W`` and polynomial degree (Numba
closure constants). A footprint row (``W`` complex cells, padded to whole AVX
registers) and the ``W`` taps of a kernel are register rows
(:mod:`dsa110._compat.simd`): the kernels are evaluated for all taps at once, and
a row is added into or read from the buffer with one multiply-add per register,
the degridder's sums staying in registers across the footprint. The helpers
they call are module-level functions taking ``W`` and ``D`` as arguments, inlined
into the loops' Numba IR where the constants propagate: a closure cell holding
another Numba dispatcher would make ``cache=True`` miss in every new process,
because the cache key pickles the cells and a pickled dispatcher carries a
per-process uuid.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from dsa110._compat.numba import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from dsa110._compat.simd import row_fma, row_load, row_store, row_zeros

__all__: list[str] = []

#: Tile side, grid cells (≥ the largest kernel support, 16).
TILE = 16

# FMA contraction only: no nnan/ninf (STYLE §4); the sums' order is kept
_FASTMATH = {"contract"}


@dataclass(frozen=True)
class TileBins:
    """Visibilities sorted into runs by (tile, first w plane).

    Attributes
    ----------
    row, chan_start, chan_stop : numpy.ndarray
        ``(run,)`` int32: row and channel range of each run.
    key_offsets : numpy.ndarray
        ``(ntiles · nplanes + 1,)`` int64: the runs of tile ``t`` and first plane
        ``p`` are ``key_offsets[t · nplanes + p] : key_offsets[t · nplanes + p + 1]``.
    tiles : numpy.ndarray
        ``(occupied tile,)`` int64 tile indices ``tu · ntv + tv``, grouped by colour.
    colour_starts : numpy.ndarray
        ``(ncolour + 1,)`` int64: the tiles of colour ``c`` are
        ``tiles[colour_starts[c] : colour_starts[c + 1]]``.
    ntu, ntv : int
        Number of tiles along u and v.
    """

    row: np.ndarray
    chan_start: np.ndarray
    chan_stop: np.ndarray
    key_offsets: np.ndarray
    tiles: np.ndarray
    colour_starts: np.ndarray
    ntu: int
    ntv: int


@njit(**JIT_OPTIONS)
def _tile_of(cell, ntile):
    # tiles are TILE cells wide; the last one takes the remainder (TILE … 2 TILE − 1)
    t = cell // TILE
    return t if t < ntile else ntile - 1


@njit(**JIT_OPTIONS)
def _stored_row(gu, ngx, ulim, shift):
    # full-grid row (0 … ngx + W) → row of the stored grids, −1 for one not stored:
    # the grids hold rows 0 … ulim and ngx − ulim … ngx − 1 (``shift`` = the rows
    # left out between them; ulim = ngx: all rows)
    if gu >= ngx:
        gu -= ngx
    if gu <= ulim:
        return gu
    if gu >= ngx - ulim:
        return gu - shift
    return -1


@njit(**JIT_OPTIONS)
def _key(u, v, w, pixx, pixy, ngx, ngy, half, w0, dw, do_w, ntu, ntv, nplanes):
    iu0 = int(math.ceil(u * pixx * ngx - half)) % ngx
    iv0 = int(math.ceil(v * pixy * ngy - half)) % ngy
    p0 = 0
    if do_w:
        p0 = int(math.ceil((w - w0) / dw - half))
    return (_tile_of(iu0, ntu) * ntv + _tile_of(iv0, ntv)) * nplanes + p0


@njit(**JIT_OPTIONS)
def _channel_key(uvw, fc, r, c, sgn, geo, do_w):
    pixx, pixy, ngx, ngy, half, w0, dw, ntu, ntv, nplanes = geo
    f = sgn * fc[c]
    return _key(
        uvw[r, 0] * f,
        uvw[r, 1] * f,
        uvw[r, 2] * f,
        pixx,
        pixy,
        int(ngx),
        int(ngy),
        half,
        w0,
        dw,
        do_w,
        int(ntu),
        int(ntv),
        int(nplanes),
    )


@njit(**JIT_OPTIONS)
def _run_stop(uvw, fc, r, c, stop, key, sgn, geo, do_w):
    # the first channel in (c, stop) whose key differs from ``key`` (the key of
    # channel c), or ``stop``. With the frequencies monotonic, each key of a row
    # holds one contiguous range of channels (u·f, v·f and w·f are monotonic, and
    # the tile index wraps round the grid at most once), so the end is found by
    # galloping and bisection: ~2 log2(run length) keys instead of one per channel
    lo = c
    step = 1
    while lo + step < stop:
        if _channel_key(uvw, fc, r, lo + step, sgn, geo, do_w) != key:
            break
        lo += step
        step *= 2
    hi = min(lo + step, stop)  # hi == stop or the key at hi differs
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _channel_key(uvw, fc, r, mid, sgn, geo, do_w) == key:
            lo = mid
        else:
            hi = mid
    return hi


@njit(**PARALLEL_JIT_OPTIONS)
def _runs(uvw, fc, mask, has_mask, geo, do_w, monotonic, counts, fill, row, c0, c1,
          keys):  # fmt: skip
    # pass 1 (fill=False): runs per block of rows; pass 2: write them in row order
    nrow = uvw.shape[0]
    nchan = fc.shape[0]
    nblocks = counts.shape[0] - 1
    for b in prange(nblocks):
        r0 = b * nrow // nblocks
        r1 = (b + 1) * nrow // nblocks
        k = counts[b] - 1
        n = 0
        for r in range(r0, r1):
            sgn = 1.0
            if do_w and uvw[r, 2] < 0:
                sgn = -1.0
            c = 0
            while c < nchan:
                if has_mask and not mask[r, c]:
                    c += 1
                    continue
                # the unmasked channels c … stop − 1
                stop = c + 1
                while stop < nchan and (not has_mask or mask[r, stop]):
                    stop += 1
                while c < stop:
                    key = _channel_key(uvw, fc, r, c, sgn, geo, do_w)
                    if monotonic:
                        end = _run_stop(uvw, fc, r, c, stop, key, sgn, geo, do_w)
                    else:
                        end = c + 1
                        while (
                            end < stop
                            and _channel_key(uvw, fc, r, end, sgn, geo, do_w) == key
                        ):
                            end += 1
                    n += 1
                    if fill:
                        k += 1
                        row[k] = r
                        c0[k] = c
                        c1[k] = end
                        keys[k] = key
                    c = end
        if not fill:
            counts[b + 1] = n


def bin_tiles(uvw, fc, mask, *, plan, nthreads):
    """Sort visibilities into runs by (tile, first w plane).

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64 contiguous, metres.
    fc : numpy.ndarray
        ``(chan,)`` float64 frequencies over the speed of light, 1/m.
    mask : numpy.ndarray or None
        ``(row, chan)`` bool: False for visibilities to skip.
    plan : GridPlan, keyword-only
    nthreads : int, keyword-only
        Threads (Numba's thread count must already be set).

    Returns
    -------
    TileBins
    """
    ntu = max(1, plan.ngx // TILE)
    ntv = max(1, plan.ngy // TILE)
    geo = (
        plan.pixsize_x,
        plan.pixsize_y,
        float(plan.ngx),
        float(plan.ngy),
        plan.kernel.support / 2.0,
        plan.w0,
        plan.dw,
        float(ntu),
        float(ntv),
        float(plan.nplanes),
    )
    has_mask = mask is not None
    m = mask if has_mask else np.ones((1, 1), np.bool_)
    nblocks = max(1, min(uvw.shape[0], 4 * nthreads))
    counts = np.zeros(nblocks + 1, np.int64)
    empty32 = np.empty(0, np.int32)
    empty64 = np.empty(0, np.int64)
    dfc = np.diff(fc)
    monotonic = bool(np.all(dfc >= 0) or np.all(dfc <= 0))
    args = (uvw, fc, m, has_mask, geo, plan.do_wgridding, monotonic)
    _runs(*args, counts, False, empty32, empty32, empty32, empty64)
    np.cumsum(counts, out=counts)
    nrun = int(counts[-1])
    row = np.empty(nrun, np.int32)
    c0 = np.empty(nrun, np.int32)
    c1 = np.empty(nrun, np.int32)
    keys = np.empty(nrun, np.int64)
    _runs(*args, counts, True, row, c0, c1, keys)
    order = np.argsort(keys, kind="stable")
    nkeys = ntu * ntv * plan.nplanes
    key_offsets = np.zeros(nkeys + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=nkeys), out=key_offsets[1:])
    per_tile = np.diff(key_offsets[:: plan.nplanes])
    occupied = np.flatnonzero(per_tile)
    tiles, colour_starts = _by_colour(occupied, ntu, ntv)
    return TileBins(
        row[order], c0[order], c1[order], key_offsets, tiles, colour_starts, ntu, ntv
    )


def _colour_1d(t, n):
    # parity; the last of an odd count (> 1) touches tile 0 through the wrap
    c = t % 2
    if n % 2 and n > 1:
        c = np.where(t == n - 1, 2, c)
    return c


def _by_colour(occupied, ntu, ntv):
    colour = 3 * _colour_1d(occupied // ntv, ntu) + _colour_1d(occupied % ntv, ntv)
    order = np.argsort(colour, kind="stable")
    starts = np.searchsorted(colour[order], np.arange(10)).astype(np.int64)
    return occupied[order].astype(np.int64), starts


@njit(inline="always", **JIT_OPTIONS)
def _padded_coefficients(coeffs, like, W, WK):
    """``coeffs`` (``(D, W)``) in ``like``'s floats, padded with zero taps to ``WK``."""
    D = coeffs.shape[0]
    rc = np.zeros((D, WK), dtype=like.dtype)
    for d in range(D):
        for a in range(W):
            rc[d, a] = coeffs[d, a]
    return rc


@njit(fastmath=_FASTMATH, inline="always", **JIT_OPTIONS)
def _taps(pu, pv, ww, half, w0, dw, do_w, coeffs, ku, kv, kw, WK, D):
    """Kernel taps ``ku``, ``kv``, ``kw`` of a visibility; its first cells ``iu0, iv0``.

    ``pu``, ``pv`` are its grid coordinates (cells), ``ww`` its w (wavelengths);
    ``kw`` is left alone without ``do_w``. Horner's rule on the coefficients
    (``coeffs``: ``(D, WK)``, the taps padded with zeros to ``WK`` lanes), all
    taps at once in register rows (:mod:`dsa110._compat.simd`), the three offsets
    side by side: independent chains of multiply-adds overlap in the pipeline.
    """
    real = coeffs.dtype.type  # the polynomials in the grids' precision
    iu0 = math.ceil(pu - half)
    iv0 = math.ceil(pv - half)
    xu = real(iu0 - pu + half)
    xv = real(iv0 - pv + half)
    xw = real(0)
    if do_w:
        pw = (ww - w0) / dw
        xw = real(math.ceil(pw - half) - pw + half)
    au = row_load(coeffs[0], WK)
    av = au
    aw = au
    for d in range(1, D):
        c = row_load(coeffs[d], WK)
        au = row_fma(c, xu, au)
        av = row_fma(c, xv, av)
        aw = row_fma(c, xw, aw)
    row_store(ku, au)
    row_store(kv, av)
    if do_w:
        row_store(kw, aw)
    return iu0, iv0


@njit(fastmath=_FASTMATH, inline="always", **JIT_OPTIONS)
def _tile_extent(tile, ntu, ntv, ngx, ngy, W):
    """Origin and extent (with the kernel halo) of a grid tile."""
    tu = tile // ntv
    tv = tile % ntv
    ou = tu * TILE
    ov = tv * TILE
    eu = (ngx if tu == ntu - 1 else ou + TILE) - ou + W - 1
    ev = (ngy if tv == ntv - 1 else ov + TILE) - ov + W - 1
    return ou, ov, eu, ev


@functools.cache
def footprint_loops(support, ncoeff):
    """Gridding and degridding loops compiled for one kernel support and degree.

    Parameters
    ----------
    support : int
        Kernel support ``W`` (cells and planes).
    ncoeff : int
        Number of polynomial coefficients per tap (degree + 1).

    Returns
    -------
    (callable, callable)
        ``grid_tiles`` and ``degrid_tiles`` (see :func:`grid_batch`).
    """
    W = int(support)
    D = int(ncoeff)
    # buffer side: the widest tile (2 TILE − 1 cells) plus the halo
    # row length of a footprint in floats (re, im interleaved), padded with zero
    # taps to a multiple of 8: whole AVX registers (12 floats, for W = 6, are
    # split into pieces LLVM handles one float at a time: 1.7 times slower)
    W2 = -(-2 * W // 8) * 8
    # the taps of one axis, padded with zeros to whole AVX registers
    WK = -(-W // 8) * 8
    S = 2 * TILE + W2 // 2

    @njit(fastmath=_FASTMATH, **PARALLEL_JIT_OPTIONS)
    def grid_tiles(grids, vis, wgt, has_wgt, uvw, fc, row, c0, c1, key_offsets,
                   tiles, colour_starts, ntu, ntv, ngx, ulim, coeffs, first, pixx,
                   pixy, w0, dw, do_w, nplanes, nwork):  # fmt: skip
        nb, nrows, ngy = grids.shape
        shift = ngx - nrows
        gridsf = grids.view(grids.real.dtype)
        rdt = grids.real.dtype
        half = W / 2.0
        rc = _padded_coefficients(coeffs, gridsf, W, WK)
        pfirst = 0
        plast = 0
        if do_w:
            pfirst = max(0, first - W + 1)
            plast = min(first + nb - 1, nplanes - 1)
        for colour in range(colour_starts.shape[0] - 1):
            lo = colour_starts[colour]
            hi = colour_starts[colour + 1]
            for t in prange(nwork):
                buf = np.zeros((nb, S, 2 * S), dtype=rdt)
                ku = np.empty(WK, dtype=rdt)
                kv = np.empty(WK, dtype=rdt)
                kw = np.ones(WK, dtype=rdt)
                kvr = np.zeros(W2, dtype=rdt)
                for i in range(lo + t, hi, nwork):
                    tile = tiles[i]
                    ou, ov, eu, ev = _tile_extent(tile, ntu, ntv, ngx, ngy, W)
                    gmin = nb
                    gmax = 0
                    for p0 in range(pfirst, plast + 1):
                        key = tile * nplanes + p0
                        q0 = 0
                        q1 = 1
                        if do_w:
                            q0 = max(p0, first)
                            q1 = min(p0 + W, first + nb)
                        if key_offsets[key] < key_offsets[key + 1]:
                            gmin = min(gmin, q0 - first)
                            gmax = max(gmax, q1 - first)
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
                                iu0, iv0 = _taps(
                                    uvw[r, 0] * f * pixx * ngx,
                                    uvw[r, 1] * f * pixy * ngy,
                                    uvw[r, 2] * f,
                                    half, w0, dw, do_w, rc, ku, kv, kw, WK, D,
                                )  # fmt: skip
                                lu = int(iu0) % ngx - ou
                                lv2 = 2 * (int(iv0) % ngy - ov)
                                for q in range(q0, q1):
                                    g = q - first
                                    vq = val * kw[q - p0]
                                    vre = vq.real
                                    vim = vq.imag
                                    for b in range(W):
                                        kvr[2 * b] = vre * kv[b]
                                        kvr[2 * b + 1] = vim * kv[b]
                                    # the footprint row in registers (see
                                    # dsa110._compat.simd), added to each row
                                    kvrow = row_load(kvr, W2)
                                    for a in range(W):
                                        gr = buf[g, lu + a, lv2 : lv2 + W2]
                                        new = row_fma(row_load(gr, W2), ku[a], kvrow)
                                        row_store(gr, new)
                    # add the buffer into the grids (periodic wrap) and clear it
                    nv1 = min(ev, ngy - ov)
                    for g in range(gmin, gmax):
                        for a in range(eu):
                            gu = _stored_row(ou + a, ngx, ulim, shift)
                            if gu < 0:
                                continue  # a row no visibility reaches: still zero
                            for b in range(2 * nv1):
                                gridsf[g, gu, 2 * ov + b] += buf[g, a, b]
                                buf[g, a, b] = 0
                            for b in range(2 * nv1, 2 * ev):
                                gridsf[g, gu, b - 2 * nv1] += buf[g, a, b]
                                buf[g, a, b] = 0

    @njit(fastmath=_FASTMATH, **PARALLEL_JIT_OPTIONS)
    def degrid_tiles(grids, vis, wgt, has_wgt, uvw, fc, row, c0, c1, key_offsets,
                     tiles, colour_starts, ntu, ntv, ngx, ulim, coeffs, first, pixx,
                     pixy, w0, dw, do_w, nplanes, nwork):  # fmt: skip
        nb, nrows, ngy = grids.shape
        shift = ngx - nrows
        gridsf = grids.view(grids.real.dtype)
        rdt = grids.real.dtype
        half = W / 2.0
        rc = _padded_coefficients(coeffs, gridsf, W, WK)
        pfirst = 0
        plast = 0
        if do_w:
            pfirst = max(0, first - W + 1)
            plast = min(first + nb - 1, nplanes - 1)
        ntiles = tiles.shape[0]
        for t in prange(nwork):
            buf = np.zeros((nb, S, 2 * S), dtype=rdt)
            ku = np.empty(WK, dtype=rdt)
            kv = np.empty(WK, dtype=rdt)
            kw = np.ones(WK, dtype=rdt)
            acc2 = np.empty(W2, dtype=rdt)
            for i in range(t, ntiles, nwork):
                tile = tiles[i]
                ou, ov, eu, ev = _tile_extent(tile, ntu, ntv, ngx, ngy, W)
                # the planes this tile's visibilities touch in the batch
                gmin = nb
                gmax = 0
                for p0 in range(pfirst, plast + 1):
                    key = tile * nplanes + p0
                    if key_offsets[key] < key_offsets[key + 1]:
                        if do_w:
                            gmin = min(gmin, max(p0, first) - first)
                            gmax = max(gmax, min(p0 + W, first + nb) - first)
                        else:
                            gmin = 0
                            gmax = 1
                nv1 = min(ev, ngy - ov)
                for g in range(gmin, gmax):
                    for a in range(eu):
                        gu = _stored_row(ou + a, ngx, ulim, shift)
                        if gu < 0:
                            continue  # a row no visibility reads
                        for b in range(2 * nv1):
                            buf[g, a, b] = gridsf[g, gu, 2 * ov + b]
                        for b in range(2 * nv1, 2 * ev):
                            buf[g, a, b] = gridsf[g, gu, b - 2 * nv1]
                for p0 in range(pfirst, plast + 1):
                    key = tile * nplanes + p0
                    q0 = 0
                    q1 = 1
                    if do_w:
                        q0 = max(p0, first)
                        q1 = min(p0 + W, first + nb)
                    for k in range(key_offsets[key], key_offsets[key + 1]):
                        r = row[k]
                        sgn = 1.0
                        if do_w and uvw[r, 2] < 0:
                            sgn = -1.0
                        for c in range(c0[k], c1[k]):
                            f = sgn * fc[c]
                            iu0, iv0 = _taps(
                                uvw[r, 0] * f * pixx * ngx,
                                uvw[r, 1] * f * pixy * ngy,
                                uvw[r, 2] * f,
                                half, w0, dw, do_w, rc, ku, kv, kw, WK, D,
                            )  # fmt: skip
                            lu = int(iu0) % ngx - ou
                            lv2 = 2 * (int(iv0) % ngy - ov)
                            # the footprint rows summed elementwise in one row of
                            # registers (see dsa110._compat.simd), then the v
                            # kernel across the row
                            acc = row_zeros(acc2, W2)
                            for q in range(q0, q1):
                                g = q - first
                                kq = kw[q - p0]
                                for a in range(W):
                                    gr = buf[g, lu + a, lv2 : lv2 + W2]
                                    acc = row_fma(acc, ku[a] * kq, row_load(gr, W2))
                            row_store(acc2, acc)
                            sre = ku[0] * 0
                            sim = ku[0] * 0
                            for b in range(W):
                                sre += kv[b] * acc2[2 * b]
                                sim += kv[b] * acc2[2 * b + 1]
                            if q1 <= q0:
                                continue
                            total = vis[0, 0] * 0 + sre + 1j * sim
                            if sgn < 0:
                                total = total.conjugate()
                            if has_wgt:
                                total = total * wgt[r, c]
                            vis[r, c] += total

    return grid_tiles, degrid_tiles


def _loop_args(bins, plan, first, nwork):
    return (
        bins.row,
        bins.chan_start,
        bins.chan_stop,
        bins.key_offsets,
        bins.tiles,
        bins.colour_starts,
        bins.ntu,
        bins.ntv,
        plan.ngx,
        plan.ngx if plan.grid_rows == plan.ngx else plan.urows,
        plan.kernel.coeffs,
        int(first),
        plan.pixsize_x,
        plan.pixsize_y,
        plan.w0,
        plan.dw,
        plan.do_wgridding,
        plan.nplanes,
        int(nwork),
    )


def grid_batch(grids, vis, wgt, has_wgt, uvw, fc, *, bins, plan, first, nwork):
    """Add visibilities to the consecutive w planes ``first …`` held by ``grids``.

    Parameters
    ----------
    grids : numpy.ndarray
        ``(plane, plan.grid_rows, ngy)`` complex grids (added to): the rows of the
        oversampled uv grid that can hold data (see ``GridPlan.grid_rows``).
    vis : numpy.ndarray
        ``(row, chan)`` complex, the grids' precision.
    wgt : numpy.ndarray
        ``(row, chan)`` real weights, or ``(1, 1)`` when ``has_wgt`` is False.
    has_wgt : bool
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    fc : numpy.ndarray
        ``(chan,)`` frequency / speed of light.
    bins : TileBins, keyword-only
    plan : GridPlan, keyword-only
    first : int, keyword-only
        The w plane ``grids[0]`` holds.
    nwork : int, keyword-only
        Work items per colour (a few per thread, for balance).
    """
    grid_tiles, _ = footprint_loops(plan.kernel.support, plan.kernel.coeffs.shape[0])
    grid_tiles(grids, vis, wgt, has_wgt, uvw, fc, *_loop_args(bins, plan, first, nwork))


def degrid_batch(grids, vis, wgt, has_wgt, uvw, fc, *, bins, plan, first, nwork):
    """Add the w planes ``first …`` held by ``grids`` to visibilities (in place).

    Parameters are those of :func:`grid_batch`; ``vis`` is added to.
    """
    _, degrid_tiles = footprint_loops(plan.kernel.support, plan.kernel.coeffs.shape[0])
    degrid_tiles(
        grids, vis, wgt, has_wgt, uvw, fc, *_loop_args(bins, plan, first, nwork)
    )
