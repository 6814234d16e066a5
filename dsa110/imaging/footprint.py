"""Footprint loops of the CPU gridder over a batch of consecutive w planes.

A visibility touches ``support`` consecutive w planes; gridding (or degridding)
the planes one at a time evaluates its ``u`` and ``v`` kernels once per plane.
These loops take a stack of ``nb`` planes and evaluate the kernels of each
visibility once for all the planes of the stack it touches (the "several w planes
per pass" scheme). Visibilities are sorted into runs by
:func:`dsa110.imaging.kernels.bin_visibilities`; strips along ``u`` are at least
``support`` cells wide, so even and then odd strips are gridded in parallel
without locks.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from dsa110._compat.numba import JIT_OPTIONS, PARALLEL_JIT_OPTIONS

__all__: list[str] = []


@njit(**JIT_OPTIONS)
def _horner(coeffs, x, out):
    # one scalar accumulator per tap (kept in a register; updating out[a] in the
    # inner loop makes LLVM store and reload it at every degree)
    for a in range(coeffs.shape[1]):
        acc = coeffs[0, a]
        for d in range(1, coeffs.shape[0]):
            acc = acc * x + coeffs[d, a]
        out[a] = acc


@njit(**JIT_OPTIONS)
def _wrap(i, n):
    # i mod n for −n ≤ i < 2n (cheaper than a general signed modulo)
    if i < 0:
        return i + n
    if i >= n:
        return i - n
    return i


@njit(**JIT_OPTIONS)
def _horner_one(coeffs, x, a):
    acc = coeffs[0, a]
    for d in range(1, coeffs.shape[0]):
        acc = acc * x + coeffs[d, a]
    return acc


# ----------------------------------------------------------------------------------
# Gridding and degridding of a batch of consecutive w planes in one pass
# ----------------------------------------------------------------------------------


@njit(**PARALLEL_JIT_OPTIONS)
def _grid_batch(
    grids,
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
    first,
    pixx,
    pixy,
    w0,
    dw,
    do_w,
    nstrips,
    nplanes,
    nwork,
):
    # like _grid_plane, for planes first .. first + nb − 1 at once: the u and v
    # kernels of a visibility are evaluated once for all the planes it touches
    nb, ngx, ngy = grids.shape
    gridsf = grids.view(grids.real.dtype)
    support = coeffs.shape[1]
    half = support / 2.0
    rcoeffs = coeffs.astype(grids.real.dtype)
    pfirst = 0
    plast = 0
    if do_w:
        pfirst = max(0, first - support + 1)
        plast = min(first + nb - 1, nplanes - 1)
    for parity in range(2):
        for t in prange(nwork):
            ku = np.empty(support, dtype=grids.real.dtype)
            kv = np.empty(support, dtype=grids.real.dtype)
            kw = np.ones(support, dtype=grids.real.dtype)
            kvr = np.empty(2 * support, dtype=grids.real.dtype)
            strip = parity + 2 * t
            while strip < nstrips:
                for p0 in range(pfirst, plast + 1):
                    key = p0 * nstrips + strip
                    q0 = 0
                    q1 = 1
                    if do_w:
                        q0 = max(p0, first)
                        q1 = min(p0 + support, first + nb)
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
                                _horner(rcoeffs, math.ceil(pw - half) - pw + half, kw)
                            iu = _wrap(int(iu0), ngx)
                            jv0 = _wrap(int(iv0), ngy)
                            inside = iu + support <= ngx and jv0 + support <= ngy
                            for q in range(q0, q1):
                                g = q - first if do_w else 0
                                vq = val * kw[q - p0] if do_w else val
                                if inside:
                                    vre = vq.real
                                    vim = vq.imag
                                    for b in range(support):
                                        kvr[2 * b] = vre * kv[b]
                                        kvr[2 * b + 1] = vim * kv[b]
                                    j0 = 2 * jv0
                                    for a in range(support):
                                        gr = gridsf[g, iu + a, j0 : j0 + 2 * support]
                                        ka = ku[a]
                                        for b in range(2 * support):
                                            gr[b] += ka * kvr[b]
                                    continue
                                iw = iu
                                for a in range(support):
                                    vu = vq * ku[a]
                                    jv = jv0
                                    for b in range(support):
                                        grids[g, iw, jv] += vu * kv[b]
                                        jv += 1
                                        if jv == ngy:
                                            jv = 0
                                    iw += 1
                                    if iw == ngx:
                                        iw = 0
                strip += 2 * nwork


@njit(**PARALLEL_JIT_OPTIONS)
def _degrid_batch(
    grids,
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
    first,
    pixx,
    pixy,
    w0,
    dw,
    do_w,
    nstrips,
    nplanes,
    nwork,
):
    # like _degrid_plane, for planes first .. first + nb − 1 at once
    nb, ngx, ngy = grids.shape
    gridsf = grids.view(grids.real.dtype)
    support = coeffs.shape[1]
    half = support / 2.0
    rcoeffs = coeffs.astype(grids.real.dtype)
    pfirst = 0
    plast = 0
    if do_w:
        pfirst = max(0, first - support + 1)
        plast = min(first + nb - 1, nplanes - 1)
    for t in prange(nwork):
        ku = np.empty(support, dtype=grids.real.dtype)
        kv = np.empty(support, dtype=grids.real.dtype)
        kw = np.ones(support, dtype=grids.real.dtype)
        for strip in range(t, nstrips, nwork):
            for p0 in range(pfirst, plast + 1):
                key = p0 * nstrips + strip
                q0 = 0
                q1 = 1
                if do_w:
                    q0 = max(p0, first)
                    q1 = min(p0 + support, first + nb)
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
                        if do_w:
                            pw = (uvw[r, 2] * f - w0) / dw
                            _horner(rcoeffs, math.ceil(pw - half) - pw + half, kw)
                        iu = _wrap(int(iu0), ngx)
                        jv0 = _wrap(int(iv0), ngy)
                        inside = iu + support <= ngx and jv0 + support <= ngy
                        total = grids[0, 0, 0] * 0
                        for q in range(q0, q1):
                            g = q - first if do_w else 0
                            acc = grids[0, 0, 0] * 0
                            if inside:
                                # real arithmetic on the float view, scalar sums
                                # in registers
                                j0 = 2 * jv0
                                sre = ku[0] * 0
                                sim = ku[0] * 0
                                for a in range(support):
                                    gr = gridsf[g, iu + a, j0 : j0 + 2 * support]
                                    are = ku[0] * 0
                                    aim = ku[0] * 0
                                    for b in range(support):
                                        are += gr[2 * b] * kv[b]
                                        aim += gr[2 * b + 1] * kv[b]
                                    sre += ku[a] * are
                                    sim += ku[a] * aim
                                acc = grids[0, 0, 0] * 0 + sre + 1j * sim
                            else:
                                iw = iu
                                for a in range(support):
                                    inner = grids[0, 0, 0] * 0
                                    jv = jv0
                                    for b in range(support):
                                        inner += grids[g, iw, jv] * kv[b]
                                        jv += 1
                                        if jv == ngy:
                                            jv = 0
                                    acc += inner * ku[a]
                                    iw += 1
                                    if iw == ngx:
                                        iw = 0
                            if do_w:
                                acc = acc * kw[q - p0]
                            total += acc
                        if q1 <= q0:
                            continue
                        if sgn < 0:
                            total = total.conjugate()
                        if has_wgt:
                            total = total * wgt[r, c]
                        vis[r, c] += total
