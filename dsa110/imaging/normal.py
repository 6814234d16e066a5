"""The gridder's normal operator: the dirty image of a model's weighted visibilities.

With ``G`` the degridder (:func:`dsa110.imaging.kernels.dirty2vis`) and ``Gᴴ W`` the
weighted gridder (:func:`dsa110.imaging.kernels.vis2dirty`), a Cotton–Schwab major
cycle needs the residual image ``Gᴴ W (V − G M) = Gᴴ W V − Gᴴ W G M``. The first
term is the data's dirty image, computed once; the second needs no visibilities,
only ``uvw`` and the weights. :func:`model_dirty` computes it in one pass over the
visibilities that degrids the model's uv planes and grids the weighted result with
the same kernel values (:func:`dsa110.imaging.tiles.normal_batch`), instead of a
degridding pass, model visibilities in memory, and a gridding pass.

Accuracy: the same as ``vis2dirty(dirty2vis(model), wgt)`` with the same ``epsilon``
(the two agree to rounding); the FFTs are those of the two separate calls.

Memory: a visibility's model value sums over all the w planes its kernel touches
before it is gridded back onto them, so the fused pass needs every plane at once —
the model's planes and the output's, two stacks. When the planes do not fit one
stack (:data:`dsa110.imaging.kernels.BATCH_BYTES`), :func:`model_dirty` takes the
two separate passes, plane batch by plane batch.
"""

from __future__ import annotations

import numpy as np

from dsa110.imaging.fft import _columns_to_grid, _corrections, _phasors, _scatter_plane
from dsa110.imaging.kernels import (
    _batch_args,
    _batch_size,
    _check_dtype,
    _prep,
    _threads,
    _tile_bins,
    _u_max,
    _w_range,
    dirty2vis,
    finish_image,
    plan_gridding,
    planes_to_image,
    vis2dirty,
)
from dsa110.imaging.tiles import normal_batch

__all__ = ["model_planes", "normal_planes", "model_dirty"]


def model_planes(model, *, plan, planes=None, nthreads=1, out=None):
    """Fourier transform a model image to uv grids on consecutive w planes.

    Parameters
    ----------
    model : numpy.ndarray
        ``(npix_x, npix_y)`` real model image of ``plan.real_dtype``.
    plan : GridPlan, keyword-only
    planes : range, keyword-only
        Which planes (default all, consecutive).
    nthreads : int, keyword-only
    out : numpy.ndarray, optional
        ``(plane, plan.grid_rows, ngy)`` complex buffer (overwritten).

    Returns
    -------
    numpy.ndarray
        ``(plane, plan.grid_rows, ngy)`` complex grids (kernel-corrected, with the
        w phase screen of each plane), ready for :func:`normal_planes`.
    """
    planes = range(plan.nplanes) if planes is None else planes
    model = np.asarray(model)
    _check_dtype(model.dtype, plan)
    ctype = plan.complex_dtype
    if out is None:
        out = np.empty((len(planes), plan.grid_rows, plan.ngy), ctype)
    corr, nm1 = _corrections(plan)
    img = (model / corr).astype(plan.real_dtype)
    phasor, step = _phasors(plan, nm1, planes[0] if len(planes) else 0, 1.0)
    sub = np.zeros((plan.ngx, plan.npix_y), dtype=ctype)
    work = np.empty_like(sub)
    with _threads(nthreads):
        for grid in out:
            _scatter_plane(img, sub, phasor, step, plan.do_wgridding)
            work[...] = sub  # the inverse FFT overwrites its input
            _columns_to_grid(work, grid, plan, nthreads)
    return out


def normal_planes(uvw, freq, model_grids, wgt=None, *, plan, planes=None, nthreads=1):
    """Grid the weighted visibilities of model grids, ``Gᴴ W G``, on w planes (no FFT).

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64, Hz.
    model_grids : numpy.ndarray
        ``(plane, plan.grid_rows, ngy)`` complex, from :func:`model_planes` for the
        same ``planes``; its precision sets the computation's.
    wgt : numpy.ndarray, optional
        ``(row, chan)`` real weights; zero skips a visibility.
    plan : GridPlan, keyword-only
    planes : range, keyword-only
        The planes ``model_grids`` holds: all of them (the default).
    nthreads : int, keyword-only

    Returns
    -------
    numpy.ndarray
        ``(plane, plan.grid_rows, ngy)`` complex grids, as
        :func:`dsa110.imaging.kernels.grid_planes` of the model's visibilities
        (``dirty2vis``) with ``wgt`` would give.
    """
    planes = range(plan.nplanes) if planes is None else planes
    if plan.do_wgridding and planes != range(plan.nplanes):
        raise ValueError(
            f"planes={planes!r}: the fused pass needs all {plan.nplanes} w planes at "
            "once (a visibility's model value sums over every plane it touches)"
        )
    _check_dtype(model_grids.dtype, plan)
    if model_grids.shape != (len(planes), plan.grid_rows, plan.ngy):
        raise ValueError(
            f"model_grids of shape {model_grids.shape} do not hold planes {planes!r} "
            f"of {plan.grid_rows} × {plan.ngy} grids"
        )
    dummy = np.empty((1, 1), plan.complex_dtype)
    uvw, fc, w, has_wgt = _prep(uvw, freq, dummy, wgt)
    out = np.zeros(model_grids.shape, dtype=plan.complex_dtype)
    if len(planes) == 0:
        return out
    with _threads(nthreads):
        bins = _tile_bins(uvw, fc, w, has_wgt, plan, nthreads)
        normal_batch(
            model_grids, out, w, has_wgt, uvw, fc, **_batch_args(bins, plan, planes[0])
        )
    return out


def model_dirty(
    uvw,
    freq,
    model,
    wgt=None,
    *,
    pixsize_x,
    pixsize_y,
    epsilon,
    do_wgridding=True,
    nthreads=1,
    plan=None,
):
    """Dirty image of a model's weighted visibilities, ``Gᴴ W G model``, in one pass.

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64, Hz.
    model : numpy.ndarray
        ``(npix_x, npix_y)`` float32 or float64 model image; sets the precision.
    wgt : numpy.ndarray, optional
        ``(row, chan)`` real weights (zero skips a visibility).
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

    Returns
    -------
    numpy.ndarray
        ``(npix_x, npix_y)`` real image, equal (to rounding) to
        ``vis2dirty(uvw, freq, dirty2vis(uvw, freq, model), wgt)``.
    """
    model = np.asarray(model)
    npix_x, npix_y = model.shape
    if plan is None:
        plan = plan_gridding(
            npix_x=npix_x,
            npix_y=npix_y,
            pixsize_x=pixsize_x,
            pixsize_y=pixsize_y,
            epsilon=epsilon,
            dtype=model.dtype,
            w_range=_w_range(uvw, freq),
            do_wgridding=do_wgridding,
            u_max=_u_max(uvw, freq),
        )
    _check_dtype(model.dtype, plan)
    if _batch_size(plan) < plan.nplanes:  # the planes do not fit one stack
        geom = dict(pixsize_x=plan.pixsize_x, pixsize_y=plan.pixsize_y, epsilon=epsilon)
        vis = dirty2vis(uvw, freq, model, plan=plan, nthreads=nthreads, **geom)
        return vis2dirty(
            uvw,
            freq,
            vis,
            wgt,
            npix_x=npix_x,
            npix_y=npix_y,
            plan=plan,
            nthreads=nthreads,
            **geom,
        )
    ctype = plan.complex_dtype
    dummy = np.empty((1, 1), ctype)
    uvw_c, fc, w, has_wgt = _prep(uvw, freq, dummy, wgt)
    with _threads(nthreads):
        bins = _tile_bins(uvw_c, fc, w, has_wgt, plan, nthreads)
    mgrids = model_planes(model, plan=plan, nthreads=nthreads)
    grids = np.zeros_like(mgrids)
    with _threads(nthreads):
        normal_batch(mgrids, grids, w, has_wgt, uvw_c, fc, **_batch_args(bins, plan, 0))
    del mgrids
    return finish_image(planes_to_image(grids, plan=plan, nthreads=nthreads), plan=plan)
