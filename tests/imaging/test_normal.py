"""The fused major-cycle pass: Gᴴ W G M = grid(degrid(M)), residuals and CLEAN."""

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging import dask as imaging_dask
from dsa110.imaging import kernels
from dsa110.imaging.clean import cotton_schwab
from dsa110.imaging.imager import ImageGeometry, Imager
from dsa110.imaging.kernels import dirty2vis, plan_gridding, vis2dirty
from dsa110.imaging.normal import model_dirty
from dsa110.phasing import median_meridian, rephase
from dsa110.testing import PointSource, make_visibility_dataset

CASES = [(np.float32, 1e-4), (np.float64, 1e-5), (np.float64, 1e-9)]


def _model(rng, npix, rtype, ncomp=25):
    model = np.zeros((npix, npix), rtype)
    ix, iy = rng.integers(0, npix, (2, ncomp))
    model[ix, iy] = rng.standard_normal(ncomp)
    return model


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("rtype,epsilon", CASES)
@pytest.mark.parametrize("do_w", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_model_dirty_equals_grid_of_degrid(wide_field, rtype, epsilon, do_w, weighted):
    f = wide_field
    rng = np.random.default_rng(5)
    model = _model(rng, f["npix"], rtype)
    wgt = f["wgt"].astype(rtype) if weighted else None
    kw = dict(
        pixsize_x=f["pixsize"],
        pixsize_y=f["pixsize"],
        epsilon=epsilon,
        do_wgridding=do_w,
        nthreads=2,
    )
    vis = dirty2vis(f["uvw"], f["freq"], model, **kw)
    ref = vis2dirty(
        f["uvw"], f["freq"], vis, wgt, npix_x=f["npix"], npix_y=f["npix"], **kw
    )
    got = model_dirty(f["uvw"], f["freq"], model, wgt, **kw)
    assert got.dtype == rtype  # precision follows the model
    # the same kernel values and FFTs: equal to rounding, far inside epsilon
    assert_allclose(_rel(got, ref), 0.0, atol=epsilon)
    assert_allclose(_rel(got, ref), 0.0, atol=50 * np.finfo(rtype).eps)


def test_model_dirty_in_several_plane_batches(wide_field, monkeypatch):
    f = wide_field
    rng = np.random.default_rng(6)
    model = _model(rng, f["npix"], np.float64)
    kw = dict(pixsize_x=f["pixsize"], pixsize_y=f["pixsize"], epsilon=1e-9, nthreads=2)
    whole = model_dirty(f["uvw"], f["freq"], model, f["wgt"], **kw)
    plan = plan_gridding(
        npix_x=f["npix"],
        npix_y=f["npix"],
        dtype=np.float64,
        w_range=kernels._w_range(f["uvw"], f["freq"]),
        u_max=kernels._u_max(f["uvw"], f["freq"]),
        **{k: v for k, v in kw.items() if k != "nthreads"},
    )
    plane_bytes = plan.grid_rows * plan.ngy * 16
    monkeypatch.setattr(kernels, "BATCH_BYTES", 3 * plane_bytes)
    assert kernels._batch_size(plan) < plan.nplanes
    batched = model_dirty(f["uvw"], f["freq"], model, f["wgt"], **kw)
    assert_allclose(batched, whole, rtol=0, atol=1e-12 * np.abs(whole).max())


@pytest.mark.parametrize("ctype,epsilon", [(np.complex64, 1e-4), (np.complex128, 1e-9)])
@pytest.mark.parametrize("do_w", [True, False])
def test_dask_model_dirty_image_uneven_chunks(ctype, epsilon, do_w, monkeypatch):
    rng = np.random.default_rng(8)
    ntime, nbl, nchan, npix = 5, 40, 7, 64
    rtype = np.float32 if ctype == np.complex64 else np.float64
    uvw = rng.uniform(-1, 1, (ntime, nbl, 3)) * np.array([800.0, 800.0, 300.0])
    freq = np.linspace(1.31e9, 1.5e9, nchan)
    wgt = rng.uniform(0.5, 1.5, (ntime, nbl, nchan)).astype(rtype)
    wgt[rng.uniform(size=wgt.shape) < 0.1] = 0
    model = _model(rng, npix, rtype)
    pix = np.radians(20 / 3600)
    plan = plan_gridding(
        npix_x=npix,
        npix_y=npix,
        pixsize_x=pix,
        pixsize_y=pix,
        epsilon=epsilon,
        dtype=ctype,
        w_range=kernels._w_range(uvw.reshape(-1, 3), freq),
        do_wgridding=do_w,
        u_max=kernels._u_max(uvw.reshape(-1, 3), freq),
    )
    if do_w:  # two stacks of planes per image: the separate passes
        plane_bytes = plan.grid_rows * plan.ngy * np.dtype(ctype).itemsize
        monkeypatch.setattr(
            imaging_dask, "MAX_STACK_BYTES", (plan.nplanes // 2 + 1) * plane_bytes
        )
        assert len(imaging_dask._plane_batches(plan)) == 2
    chunks = ((2, 3), (13, 27), (3, 4))
    uvw_d = da.from_array(uvw, chunks=chunks[:2] + (3,))
    wgt_d = da.from_array(wgt, chunks=chunks)
    pred = imaging_dask.model_visibilities(
        uvw_d, freq, model, plan=plan, vis_chunks=chunks, nthreads=2
    )
    ref = imaging_dask.dirty_image(uvw_d, pred, wgt_d, freq, plan=plan, nthreads=2)
    got = imaging_dask.model_dirty_image(
        uvw_d, wgt_d, freq, model, plan=plan, nthreads=2
    )
    ref, got = ref.compute(), got.compute()
    assert got.dtype == rtype
    assert_allclose(_rel(got, ref), 0.0, atol=50 * np.finfo(rtype).eps)
    # and the NumPy path on the whole data
    whole = model_dirty(
        uvw.reshape(-1, 3),
        freq,
        model,
        wgt.reshape(-1, nchan),
        pixsize_x=pix,
        pixsize_y=pix,
        epsilon=epsilon,
        plan=plan,
        nthreads=2,
    )
    assert_allclose(_rel(got, whole), 0.0, atol=50 * np.finfo(rtype).eps)


def _separate_residual(imager, model):
    return imager.dirty(imager.vis - imager.predict(model))


_RESIDUAL = Imager.residual


def _fused_residual(imager, model):
    return _RESIDUAL(imager, model, fused=True)


@pytest.fixture(scope="module")
def small_imager():
    rng = np.random.default_rng(17)
    ants = np.arange(0, 60, 4)
    empty = make_visibility_dataset(n_time=2, n_chan_per_subband=1, antennas=ants)
    ra0, dec0 = median_meridian(empty)
    sources = [
        PointSource(ra0 + np.radians(dx) / np.cos(dec0), dec0 + np.radians(dy), s)
        for dx, dy, s in [(0.0, 0.0, 1.0), (0.3, -0.2, 0.5), (-0.5, 0.4, 0.3)]
    ]
    ds = make_visibility_dataset(
        sources=sources,
        n_time=2,
        n_chan_per_subband=1,
        antennas=ants,
        noise_sigma=0.01,
        rng=rng,
    )
    ds = rephase(ds, "median_meridian").chunk({"time": 1})
    geom = ImageGeometry(npix=256, cell_arcsec=20.0, epsilon=1e-5)
    return Imager.from_dataset(ds, geometry=geom, nthreads=2, max_chunks=3)


def test_imager_residual_equals_separate_passes(small_imager):
    imager = small_imager
    assert len(imager.vis.chunks[0]) > 1  # several chunks
    rng = np.random.default_rng(2)
    model = _model(rng, imager.geometry.npix, imager.plan.real_dtype)
    ref = _separate_residual(imager, model)
    got = imager.residual(model, fused=True)
    dirty = imager.dirty()
    # equal to the gridder's accuracy relative to the images' scale
    assert_allclose(
        np.linalg.norm(got - ref) / np.linalg.norm(dirty),
        0.0,
        atol=imager.geometry.epsilon,
    )


def test_cotton_schwab_same_with_fused_residual(small_imager, monkeypatch):
    imager = small_imager
    kw = dict(niter=300, auto_threshold=3.0, max_major=4)
    separate = cotton_schwab(imager, **kw)
    monkeypatch.setattr(Imager, "residual", _fused_residual)
    fused = cotton_schwab(imager, **kw)
    assert fused.major_cycles == separate.major_cycles
    assert_allclose(fused.niter, separate.niter, rtol=0.02)
    scale = np.abs(separate.model).sum()
    assert_allclose(np.abs(fused.model - separate.model).sum() / scale, 0.0, atol=1e-3)
    assert_allclose(fused.residual, separate.residual, atol=1e-3 * scale)
    assert_allclose(fused.sigma, separate.sigma, rtol=1e-3)
