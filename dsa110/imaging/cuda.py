"""GPU (``numba.cuda`` + CuPy) gridder and degridder: same maths and signature as the CPU kernels.

One CUDA thread per visibility evaluates the ES kernel's piecewise polynomials
(the same coefficients as :mod:`dsa110.imaging.kernels`) and adds its
``support × support`` footprint to the plane with atomic additions (the grid is
stored as ``(ngx, ngy, 2)`` reals, since CUDA has no complex atomics); the
degridder reads the footprint without atomics. Planes are Fourier transformed
with CuPy. CuPy is imported only here, and only when a GPU function is called.

The launchers :func:`launch_grid_plane` and :func:`launch_degrid_plane` accept any
arrays the kernels accept, so under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) they run on NumPy arrays and are tested against the
CPU kernels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from dsa110._compat.cuda import require_cupy, threads_per_block
from dsa110.telescope.beam import SPEED_OF_LIGHT

__all__ = ["launch_grid_plane", "launch_degrid_plane", "grid_planes", "vis2dirty"]

#: Largest kernel support the GPU kernels handle (local-array size).
MAX_SUPPORT = 16


@cuda.jit(device=True)
def _poly(coeffs, x, a):
    acc = coeffs[0, a]
    for d in range(1, coeffs.shape[0]):
        acc = acc * x + coeffs[d, a]
    return acc


@cuda.jit
def _grid_kernel(
    grid, vis_re, vis_im, wgt, has_wgt, uvw, fc, coeffs, plane, pixx, pixy, w0, dw, do_w
):
    i = cuda.grid(1)
    nrow = vis_re.shape[0]
    nchan = vis_re.shape[1]
    if i >= nrow * nchan:
        return
    r = i // nchan
    c = i - r * nchan
    wt = wgt[r, c] if has_wgt else 1.0
    if wt == 0:
        return
    ngx = grid.shape[0]
    ngy = grid.shape[1]
    support = coeffs.shape[1]
    half = support / 2.0
    sgn = 1.0
    if do_w and uvw[r, 2] < 0:
        sgn = -1.0
    f = sgn * fc[c]
    vr = vis_re[r, c] * wt
    vi = sgn * vis_im[r, c] * wt
    kw = 1.0
    if do_w:
        pw = (uvw[r, 2] * f - w0) / dw
        p0 = math.ceil(pw - half)
        a = plane - p0
        if a < 0 or a >= support:
            return
        kw = _poly(coeffs, p0 - pw + half, a)
    pu = uvw[r, 0] * f * pixx * ngx
    pv = uvw[r, 1] * f * pixy * ngy
    iu0 = math.ceil(pu - half)
    iv0 = math.ceil(pv - half)
    xu = iu0 - pu + half
    xv = iv0 - pv + half
    kv = cuda.local.array(MAX_SUPPORT, dtype=np.float64)
    for b in range(support):
        kv[b] = _poly(coeffs, xv, b)
    for a in range(support):
        ku = _poly(coeffs, xu, a) * kw
        iu = (iu0 + a) % ngx
        for b in range(support):
            jv = (iv0 + b) % ngy
            k = ku * kv[b]
            cuda.atomic.add(grid, (iu, jv, 0), vr * k)
            cuda.atomic.add(grid, (iu, jv, 1), vi * k)


@cuda.jit
def _degrid_kernel(
    grid, out_re, out_im, wgt, has_wgt, uvw, fc, coeffs, plane, pixx, pixy, w0, dw, do_w
):
    i = cuda.grid(1)
    nrow = out_re.shape[0]
    nchan = out_re.shape[1]
    if i >= nrow * nchan:
        return
    r = i // nchan
    c = i - r * nchan
    wt = wgt[r, c] if has_wgt else 1.0
    if wt == 0:
        return
    ngx = grid.shape[0]
    ngy = grid.shape[1]
    support = coeffs.shape[1]
    half = support / 2.0
    sgn = 1.0
    if do_w and uvw[r, 2] < 0:
        sgn = -1.0
    f = sgn * fc[c]
    kw = 1.0
    if do_w:
        pw = (uvw[r, 2] * f - w0) / dw
        p0 = math.ceil(pw - half)
        a = plane - p0
        if a < 0 or a >= support:
            return
        kw = _poly(coeffs, p0 - pw + half, a)
    pu = uvw[r, 0] * f * pixx * ngx
    pv = uvw[r, 1] * f * pixy * ngy
    iu0 = math.ceil(pu - half)
    iv0 = math.ceil(pv - half)
    xu = iu0 - pu + half
    xv = iv0 - pv + half
    kv = cuda.local.array(MAX_SUPPORT, dtype=np.float64)
    for b in range(support):
        kv[b] = _poly(coeffs, xv, b)
    acc_re = 0.0
    acc_im = 0.0
    for a in range(support):
        ku = _poly(coeffs, xu, a) * kw
        iu = (iu0 + a) % ngx
        for b in range(support):
            jv = (iv0 + b) % ngy
            k = ku * kv[b]
            acc_re += grid[iu, jv, 0] * k
            acc_im += grid[iu, jv, 1] * k
    out_re[r, c] += acc_re * wt
    out_im[r, c] += sgn * acc_im * wt


def _launch(kernel, n, *args):
    tpb = threads_per_block(n)
    blocks = max(1, (n + tpb - 1) // tpb)
    kernel[blocks, tpb](*args)


def launch_grid_plane(grid, vis_re, vis_im, wgt, uvw, fc, *, plan, plane):
    """Add visibilities to one w plane (the GPU twin of the CPU ``_grid_plane``).

    Parameters
    ----------
    grid : array
        ``(ngx, ngy, 2)`` float: real and imaginary parts, accumulated in place.
    vis_re, vis_im : array
        ``(row, chan)`` float: visibilities' real and imaginary parts.
    wgt : array or None
        ``(row, chan)`` float weights.
    uvw : array
        ``(row, uvw_label)`` float64, metres.
    fc : array
        ``(chan,)`` float64: frequency / c.
    plan : GridPlan, keyword-only
    plane : int, keyword-only
    """
    if plan.kernel.support > MAX_SUPPORT:
        raise ValueError(f"kernel support {plan.kernel.support} > {MAX_SUPPORT}")
    has_wgt = wgt is not None
    w = wgt if has_wgt else vis_re[:1, :1]
    coeffs = _device_like(plan.kernel.coeffs, uvw)
    _launch(
        _grid_kernel,
        vis_re.size,
        grid,
        vis_re,
        vis_im,
        w,
        has_wgt,
        uvw,
        fc,
        coeffs,
        int(plane),
        plan.pixsize_x,
        plan.pixsize_y,
        plan.w0,
        plan.dw,
        plan.do_wgridding,
    )


def launch_degrid_plane(grid, out_re, out_im, wgt, uvw, fc, *, plan, plane):
    """Add one w plane's contribution to visibilities (GPU twin of ``_degrid_plane``).

    Parameters
    ----------
    grid : array
        ``(ngx, ngy, 2)`` float: the plane's Fourier-transformed grid.
    out_re, out_im : array
        ``(row, chan)`` float, accumulated in place.
    wgt : array or None
        ``(row, chan)`` weights.
    uvw, fc : array
        As :func:`launch_grid_plane`.
    plan : GridPlan, keyword-only
    plane : int, keyword-only
    """
    has_wgt = wgt is not None
    w = wgt if has_wgt else out_re[:1, :1]
    coeffs = _device_like(plan.kernel.coeffs, uvw)
    _launch(
        _degrid_kernel,
        out_re.size,
        grid,
        out_re,
        out_im,
        w,
        has_wgt,
        uvw,
        fc,
        coeffs,
        int(plane),
        plan.pixsize_x,
        plan.pixsize_y,
        plan.w0,
        plan.dw,
        plan.do_wgridding,
    )


def _device_like(x, like):
    """Put host array ``x`` where ``like`` lives (CuPy on a GPU, NumPy otherwise)."""
    if type(like).__module__.startswith("cupy"):
        return require_cupy("GPU gridding").asarray(x)
    return np.asarray(x)


def grid_planes(uvw, freq, vis, wgt=None, *, plan, planes=None):
    """GPU version of :func:`dsa110.imaging.kernels.grid_planes` (CuPy arrays in and out).

    Parameters
    ----------
    uvw : cupy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray or cupy.ndarray
        ``(chan,)`` float64, Hz.
    vis : cupy.ndarray
        ``(row, chan)`` complex64/complex128.
    wgt : cupy.ndarray, optional
        ``(row, chan)`` real weights.
    plan : GridPlan, keyword-only
    planes : range, keyword-only

    Returns
    -------
    cupy.ndarray
        ``(plane, ngx, ngy)`` complex grids.
    """
    cp = require_cupy("GPU gridding")
    planes = range(plan.nplanes) if planes is None else planes
    real = plan.real_dtype
    uvw = cp.asarray(uvw, dtype=cp.float64)
    fc = cp.asarray(np.asarray(freq, np.float64) / SPEED_OF_LIGHT)
    vis = cp.asarray(vis)
    vr, vi = cp.ascontiguousarray(vis.real), cp.ascontiguousarray(vis.imag)
    w = None if wgt is None else cp.asarray(wgt, dtype=real)
    out = cp.zeros((len(planes), plan.ngx, plan.ngy), dtype=plan.complex_dtype)
    for i, p in enumerate(planes):
        g = cp.zeros((plan.ngx, plan.ngy, 2), dtype=real)
        launch_grid_plane(g, vr, vi, w, uvw, fc, plan=plan, plane=p)
        out[i] = g[..., 0] + 1j * g[..., 1]
    return out


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
    """GPU version of :func:`dsa110.imaging.kernels.vis2dirty` (CuPy arrays).

    Parameters are those of the CPU function (``nthreads`` is ignored); the FFTs
    run with ``cupy.fft`` and the phase screens and corrections on the device.

    Returns
    -------
    cupy.ndarray
        ``(npix_x, npix_y)`` dirty image.
    """
    cp = require_cupy("GPU gridding")
    from dsa110.imaging import kernels

    if plan is None:
        plan = kernels.plan_gridding(
            npix_x=npix_x,
            npix_y=npix_y,
            pixsize_x=pixsize_x,
            pixsize_y=pixsize_y,
            epsilon=epsilon,
            dtype=vis.dtype,
            w_range=kernels._w_range(cp.asnumpy(uvw), freq),
            do_wgridding=do_wgridding,
        )
    corr, nm1 = kernels._corrections(plan)
    image = cp.zeros((plan.npix_x, plan.npix_y), dtype=plan.real_dtype)
    ix = (np.arange(plan.npix_x) - plan.npix_x // 2) % plan.ngx
    iy = (np.arange(plan.npix_y) - plan.npix_y // 2) % plan.ngy
    nm1_d = None if nm1 is None else cp.asarray(nm1)
    for p in range(plan.nplanes):
        g = grid_planes(uvw, freq, vis, wgt, plan=plan, planes=range(p, p + 1))[0]
        f = cp.fft.fft2(g)[cp.asarray(ix)][:, cp.asarray(iy)]
        if nm1_d is not None:
            f = f * cp.exp(-2j * np.pi * (plan.w0 + p * plan.dw) * nm1_d)
        image += f.real.astype(plan.real_dtype)
    return image / cp.asarray(corr, dtype=plan.real_dtype)
