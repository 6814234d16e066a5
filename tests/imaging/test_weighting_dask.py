"""Weighting, the dask layer (equal to the NumPy path on uneven chunks), PB and mosaics."""

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging import dask as imaging_dask
from dsa110.imaging.kernels import dirty2vis, plan_gridding, vis2dirty
from dsa110.imaging.weighting import imaging_weights, weight_density

GRID = dict(
    npix_x=64,
    npix_y=64,
    pixsize_x=np.radians(20 / 3600),
    pixsize_y=np.radians(20 / 3600),
)


def _direct_dirty(uvw, freq, vis, wgt, plan):
    """The NumPy-level dirty image of ``(time, baseline, …)`` arrays with ``plan``."""
    return vis2dirty(
        uvw.reshape(-1, 3),
        freq,
        vis.reshape(-1, freq.size),
        wgt.reshape(-1, freq.size),
        plan=plan,
        npix_x=0,
        npix_y=0,
        pixsize_x=0,
        pixsize_y=0,
        epsilon=0,
    )


@pytest.fixture
def uvdata():
    rng = np.random.default_rng(21)
    ntime, nbl, nchan = 5, 40, 6
    uvw = rng.uniform(-1, 1, (ntime, nbl, 3)) * np.array([800.0, 800.0, 30.0])
    freq = np.linspace(1.31e9, 1.5e9, nchan)
    vis = (
        rng.standard_normal((ntime, nbl, nchan))
        + 1j * rng.standard_normal((ntime, nbl, nchan))
    ).astype(np.complex64)
    wgt = rng.uniform(0.5, 1.5, (ntime, nbl, nchan)).astype(np.float32)
    wgt[rng.uniform(size=wgt.shape) < 0.1] = 0
    return uvw, freq, vis, wgt


def test_uniform_weights_flatten_density(uvdata):
    uvw, freq, _, wgt = uvdata
    uvw2, w2 = uvw.reshape(-1, 3), wgt.reshape(-1, freq.size)
    uni = imaging_weights(uvw2, freq, w2, weighting="uniform", **GRID)
    density = weight_density(uvw2, freq, uni, **GRID)
    occupied = density > 0
    # every occupied cell (and its conjugate) sums to exactly 1 (or 2 when a cell
    # is its own conjugate's neighbour) after uniform weighting
    assert_allclose(np.unique(np.round(density[occupied], 5)), [1.0], rtol=1e-5)


def test_briggs_limits(uvdata):
    uvw, freq, _, wgt = uvdata
    uvw2, w2 = uvw.reshape(-1, 3), wgt.reshape(-1, freq.size)
    nat = imaging_weights(uvw2, freq, w2, weighting="natural", **GRID)
    uni = imaging_weights(uvw2, freq, w2, weighting="uniform", **GRID)
    b_nat = imaging_weights(uvw2, freq, w2, weighting="briggs", robust=2.0, **GRID)
    b_uni = imaging_weights(uvw2, freq, w2, weighting="briggs", robust=-2.0, **GRID)
    assert_allclose(nat, w2)
    # robust +2 ≈ natural and −2 ≈ uniform up to a global scale (Briggs 1995)
    corr_nat = np.corrcoef(b_nat[w2 > 0], nat[w2 > 0])[0, 1]
    corr_uni = np.corrcoef(b_uni[w2 > 0], uni[w2 > 0])[0, 1]
    assert_allclose([corr_nat, corr_uni], [1.0, 1.0], atol=0.02)


def test_taper_and_uvrange(uvdata):
    uvw, freq, _, wgt = uvdata
    uvw2, w2 = uvw.reshape(-1, 3), wgt.reshape(-1, freq.size)
    q = np.hypot(uvw2[:, None, 0], uvw2[:, None, 1]) * freq / 299792458.0
    cut = imaging_weights(
        uvw2, freq, w2, weighting="natural", uv_range=(500, 2500), **GRID
    )
    assert np.all(cut[(q < 500) | (q > 2500)] == 0)
    assert_allclose(cut[(q >= 500) & (q <= 2500)], w2[(q >= 500) & (q <= 2500)])
    tap = imaging_weights(
        uvw2, freq, w2, weighting="natural", taper_arcsec=60.0, **GRID
    )
    sigma_uv = 1 / (2 * np.pi * np.radians(60 / 3600) / 2.354820045)
    assert_allclose(tap, w2 * np.exp(-0.5 * (q / sigma_uv) ** 2), rtol=1e-5)


def test_dask_matches_numpy_on_uneven_chunks(uvdata):
    uvw, freq, vis, wgt = uvdata
    w_range = (
        np.abs(uvw[..., 2]).min() * freq.min() / 299792458.0,
        np.abs(uvw[..., 2]).max() * freq.max() / 299792458.0,
    )
    plan = plan_gridding(epsilon=1e-5, dtype=np.complex64, w_range=w_range, **GRID)
    ref = _direct_dirty(uvw, freq, vis, wgt, plan)
    chunks = ((2, 3), (15, 25), (4, 2))
    d_uvw = da.from_array(uvw, chunks=chunks[:2] + (3,))
    img = imaging_dask.dirty_image(
        [
            (
                d_uvw,
                da.from_array(vis, chunks=chunks),
                da.from_array(wgt, chunks=chunks),
                freq,
            )
        ],
        plan=plan,
    ).compute()
    # same arithmetic, different summation order of float32 grids
    assert_allclose(img, ref, atol=1e-5 * np.abs(ref).max())
    dens = imaging_dask.weight_density(
        d_uvw, da.from_array(wgt, chunks=chunks), freq, **GRID
    ).compute()
    assert_allclose(
        dens,
        weight_density(uvw.reshape(-1, 3), freq, wgt.reshape(-1, freq.size), **GRID),
    )
    model = np.zeros((64, 64), np.float32)
    model[10, 40] = 1.0
    (pred,) = imaging_dask.model_visibilities([(d_uvw, freq, chunks)], model, plan=plan)
    pred = pred.compute()
    direct = dirty2vis(
        uvw.reshape(-1, 3), freq, model, plan=plan, pixsize_x=0, pixsize_y=0, epsilon=0
    )
    assert_allclose(pred.reshape(direct.shape), direct, atol=1e-6)  # identical kernel


def test_dask_rejects_mismatched_chunks(uvdata):
    uvw, freq, vis, wgt = uvdata
    plan = plan_gridding(epsilon=1e-4, dtype=np.complex64, **GRID)
    with pytest.raises(ValueError, match="chunks"):
        imaging_dask.dirty_image(
            [
                (
                    da.from_array(uvw, chunks=(1, 40, 3)),
                    da.from_array(vis, chunks=(5, 40, 6)),
                    da.from_array(wgt, chunks=(5, 40, 6)),
                    freq,
                )
            ],
            plan=plan,
        )


def _mosaic_tile(ra_deg):
    """A 100 × 100 SIN tile of 0.02° at (ra_deg, 30°) and its Gaussian beam."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [ra_deg, 30.0]
    w.wcs.cdelt = [-0.02, 0.02]
    w.wcs.crpix = [51, 51]
    y, x = np.mgrid[0:100, 0:100]
    r = np.hypot(x - 50, y - 50) * 0.02
    return w, np.exp(-0.5 * (r / 0.8) ** 2)


def test_mosaic_across_ra_zero(tmp_path):
    pytest.importorskip("reproject")
    from dsa110.imaging.mosaic import linear_mosaic

    w1, b1 = _mosaic_tile(359.5)
    w2, b2 = _mosaic_tile(0.5)
    sky = 2.0  # a flat 2 Jy/beam sky: every PB-corrected tile reads 2 everywhere
    img1 = np.where(b1 >= 0.2, sky, np.nan)
    img2 = np.where(b2 >= 0.2, sky, np.nan)
    mosaic, weight, noise, wcs = linear_mosaic(
        [img1, img2], [b1, b2], [w1, w2], [0.01, 0.02]
    )
    assert_allclose(mosaic[np.isfinite(mosaic)], sky, rtol=1e-6)
    # the output spans RA 0/360: both tile centres fall inside it
    for ra in (359.5, 0.5):
        x, y = wcs.world_to_pixel_values(ra, 30.0)
        assert 0 <= x < mosaic.shape[1] and 0 <= y < mosaic.shape[0]
        # at a tile centre the weight is dominated by that tile: 1/σ² (PB = 1)
        xi, yi = int(round(float(x))), int(round(float(y)))
        expected = 1 / 0.01**2 if ra > 180 else 1 / 0.02**2
        assert_allclose(noise[yi, xi], 1 / np.sqrt(weight[yi, xi]))
        assert weight[yi, xi] >= expected * 0.999


def test_mosaic_keeps_a_compact_sources_flux():
    """A source 2.5 pixels across keeps its flux through the regridding: a
    beam-shaped fit at its position gives 0.999 (bilinear interpolation, which
    smooths, gave 0.960)."""
    pytest.importorskip("reproject")
    from dsa110.imaging.mosaic import linear_mosaic

    fwhm = 0.05  # degrees: 2.5 pixels of 0.02°
    source = (0.13, 30.07)

    def tile(ra_deg):
        w, beam = _mosaic_tile(ra_deg)
        sx, sy = w.world_to_pixel_values(*source)
        y, x = np.mgrid[0:100, 0:100]
        r2 = ((x - sx) ** 2 + (y - sy) ** 2) * 0.02**2
        return w, beam, np.exp(-4 * np.log(2) * r2 / fwhm**2)

    (w1, b1, i1), (w2, b2, i2) = tile(359.8), tile(0.4)
    mosaic, _, _, wcs = linear_mosaic([i1, i2], [b1, b2], [w1, w2], [0.01, 0.01])
    sx, sy = wcs.world_to_pixel_values(*source)
    y, x = np.mgrid[0 : mosaic.shape[0], 0 : mosaic.shape[1]]
    cell = abs(wcs.wcs.cdelt[1])
    g = np.exp(-4 * np.log(2) * ((x - sx) ** 2 + (y - sy) ** 2) * cell**2 / fwhm**2)
    near = (g > 0.05) & np.isfinite(mosaic)
    flux = np.sum(g[near] * mosaic[near]) / np.sum(g[near] ** 2)
    assert_allclose(flux, 1.0, atol=0.01)


def test_effective_pb_at_centre_and_limit():
    from dsa110.imaging.pbcor import effective_primary_beam, pb_correct
    from dsa110.telescope import beam_fwhm

    n, cell = 64, np.radians(360 / 3600)
    centre = (1.0, 0.6)
    pb = effective_primary_beam(n, cell, centre, [centre[0]], [centre[1]], [1.4e9])
    assert_allclose(pb[n // 2, n // 2], 1.0, rtol=1e-9)
    # half power at half the FWHM along m (north)
    hw = float(beam_fwhm(1.4e9)) / 2 / cell
    row = pb[n // 2]
    assert_allclose(np.interp(hw, np.arange(n) - n // 2, row), 0.5, atol=0.01)
    img = np.ones((n, n))
    out = pb_correct(img, pb, pb_limit=0.2)
    assert np.all(np.isnan(out[pb < 0.2]))
    ok = pb >= 0.2
    assert_allclose(out[ok], 1.0 / pb[ok])


def test_parts_share_one_set_of_planes(uvdata, monkeypatch):
    """Parts with their own frequencies grid onto one stack: the sum of their images.

    With a stack budget of one plane, the planes go in batches: the model's planes
    of each batch are computed once and read by every part.
    """
    uvw, freq, vis, wgt = uvdata
    w_range = (
        np.abs(uvw[..., 2]).min() * 1.2e9 / 299792458.0,
        np.abs(uvw[..., 2]).max() * freq.max() / 299792458.0,
    )
    plan = plan_gridding(epsilon=1e-5, dtype=np.complex64, w_range=w_range, **GRID)
    assert plan.nplanes > 1
    freq2 = np.array(
        [1.2e9, 1.25e9]
    )  # the second part: other baselines, other channels
    a, b = slice(0, 25), slice(25, 40)
    parts = [
        (uvw[:, a], vis[:, a], wgt[:, a], freq),
        (uvw[:, b], vis[:, b, :2], wgt[:, b, :2], freq2),
    ]
    dask_parts = [
        (
            da.from_array(u, chunks=(2, -1, 3)),
            da.from_array(v, chunks=(2, -1, -1)),
            da.from_array(w, chunks=(2, -1, -1)),
            f,
        )
        for u, v, w, f in parts
    ]
    monkeypatch.setattr(imaging_dask, "MAX_STACK_BYTES", 1)
    img = imaging_dask.dirty_image(dask_parts, plan=plan).compute()
    ref = sum(_direct_dirty(u, f, v, w, plan) for u, v, w, f in parts)
    assert_allclose(img, ref, atol=1e-5 * np.abs(ref).max())
    model = np.zeros((64, 64), np.float32)
    model[10, 40], model[33, 20] = 1.0, -0.5
    predicted = imaging_dask.model_visibilities(
        [(u, f, v.chunks) for u, v, _, f in dask_parts], model, plan=plan
    )
    for (u, _, _, f), pred in zip(parts, predicted):
        direct = dirty2vis(
            u.reshape(-1, 3), f, model, plan=plan, pixsize_x=0, pixsize_y=0, epsilon=0
        )
        assert_allclose(pred.compute().reshape(direct.shape), direct, atol=1e-6)


def test_stack_pool_hands_stacks_from_pass_to_pass(uvdata):
    """Passes that share a pool reuse its stacks (zeroed) and image exactly as
    passes that allocate their own; another shape lets the held ones go."""
    uvw, freq, vis, wgt = uvdata
    w_range = (
        np.abs(uvw[..., 2]).min() * freq.min() / 299792458.0,
        np.abs(uvw[..., 2]).max() * freq.max() / 299792458.0,
    )
    plan = plan_gridding(epsilon=1e-5, dtype=np.complex64, w_range=w_range, **GRID)
    chunks = ((2, 3), (15, 25), (4, 2))
    part = (
        da.from_array(uvw, chunks=chunks[:2] + (3,)),
        da.from_array(vis, chunks=chunks),
        da.from_array(wgt, chunks=chunks),
        freq,
    )
    alone = imaging_dask.dirty_image([part], plan=plan).compute()
    pool = imaging_dask.StackPool()
    first = imaging_dask.dirty_image([part], plan=plan, pool=pool).compute()
    held = list(pool._free)
    assert held and all(s.shape[1:] == (plan.grid_rows, plan.ngy) for s in held)
    # the held stacks still hold the last pass's transformed planes: a pass
    # that took them without zeroing would add those in
    again = imaging_dask.dirty_image([part], plan=plan, pool=pool).compute()
    # the pass took a held stack (which task got which depends on the threads)
    assert {id(s) for s in pool._free} & {id(s) for s in held}
    np.testing.assert_array_equal(first, alone)
    np.testing.assert_array_equal(again, alone)
    other = pool.take((1, 3, 3), np.complex64, zero=True)
    assert not other.any() and pool._free == []
    pool.give(other)
    # batches of unequal plane counts on one grid: each take gets its own shape
    seven, three = np.ones((7, 3, 3), np.complex64), np.ones((3, 3, 3), np.complex64)
    pool.give(seven)
    pool.give(three)
    pool.give(pool.take((7, 3, 3), np.complex64))  # held: 1 × (1,…), 3, 7 planes
    got = pool.take((3, 3, 3), np.complex64, zero=True)
    assert got is three and not got.any()
    assert pool.take((7, 3, 3), np.complex64) is seven
    assert [s.shape for s in pool._free] == [(1, 3, 3)]
    pool.give(other)
    # graphs holding it go to distributed workers: a copy is an empty pool
    import pickle

    copy = pickle.loads(pickle.dumps(pool))
    assert isinstance(copy, imaging_dask.StackPool) and copy._free == []
    pool.clear()
    assert pool._free == []
