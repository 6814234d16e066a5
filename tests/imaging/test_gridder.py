"""Gridder/degridder: DFT agreement at epsilon, adjointness, ducc0, dtypes and errors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging.kernels import dirty2vis, plan_gridding, vis2dirty
from tests.imaging.conftest import dft_dirty

CASES = [(np.complex64, 1e-4), (np.complex128, 1e-5), (np.complex128, 1e-9)]


@pytest.mark.parametrize("ctype,epsilon", CASES)
def test_vis2dirty_against_dft(wide_field, ctype, epsilon):
    f = wide_field
    ref = dft_dirty(f["uvw"], f["freq"], f["vis"], f["npix"], f["pixsize"], f["wgt"])
    rtype = np.float32 if ctype == np.complex64 else np.float64
    dirty = vis2dirty(
        f["uvw"],
        f["freq"],
        f["vis"].astype(ctype),
        f["wgt"].astype(rtype),
        npix_x=f["npix"],
        npix_y=f["npix"],
        pixsize_x=f["pixsize"],
        pixsize_y=f["pixsize"],
        epsilon=epsilon,
        nthreads=2,
    )
    assert dirty.dtype == rtype  # precision follows the input
    err = np.linalg.norm(dirty - ref) / np.linalg.norm(ref)
    # the requested accuracy is the relative L2 error (ducc's definition)
    assert_allclose(err, 0.0, atol=epsilon)


@pytest.mark.parametrize("ctype,epsilon", CASES)
def test_dirty2vis_against_dft(wide_field, ctype, epsilon):
    f = wide_field
    rng = np.random.default_rng(3)
    rtype = np.float32 if ctype == np.complex64 else np.float64
    npix, pix = f["npix"], f["pixsize"]
    img = rng.standard_normal((npix, npix))
    vis = dirty2vis(
        f["uvw"],
        f["freq"],
        img.astype(rtype),
        pixsize_x=pix,
        pixsize_y=pix,
        epsilon=epsilon,
        nthreads=2,
    )
    assert vis.dtype == ctype
    l = (np.arange(npix) - npix // 2) * pix
    lg, mg = np.meshgrid(l, l, indexing="ij")
    nm1 = np.sqrt(1 - lg**2 - mg**2) - 1
    u, v, w = (f["uvw"][:, None, :] * f["freq"][None, :, None] / 299792458.0).transpose(
        2, 0, 1
    )
    ref = np.einsum(
        "xy,rcxy->rc",
        img,
        np.exp(
            2j
            * np.pi
            * (
                u[..., None, None] * lg
                + v[..., None, None] * mg
                + w[..., None, None] * nm1
            )
        ),
    )
    err = np.linalg.norm(vis - ref) / np.linalg.norm(ref)
    assert_allclose(err, 0.0, atol=epsilon)  # relative L2 error within epsilon


@pytest.mark.parametrize(
    "ctype,epsilon", [(np.complex64, 1e-4), (np.complex128, 1e-10)]
)
@pytest.mark.parametrize("do_w", [True, False])
def test_adjointness(wide_field, ctype, epsilon, do_w):
    f = wide_field
    rng = np.random.default_rng(5)
    rtype = np.float32 if ctype == np.complex64 else np.float64
    npix, pix = f["npix"], f["pixsize"]
    vis = f["vis"].astype(ctype)
    wgt = f["wgt"].astype(rtype)
    img = rng.standard_normal((npix, npix)).astype(rtype)
    kw = dict(
        pixsize_x=pix, pixsize_y=pix, epsilon=epsilon, do_wgridding=do_w, nthreads=2
    )
    lhs = np.vdot(dirty2vis(f["uvw"], f["freq"], img, wgt, **kw), vis).real
    rhs = np.vdot(
        img, vis2dirty(f["uvw"], f["freq"], vis, wgt, npix_x=npix, npix_y=npix, **kw)
    )
    # the two operators are exact adjoints up to floating-point rounding
    tol = 1e-5 if ctype == np.complex64 else 1e-12
    assert_allclose(lhs, rhs, rtol=tol)


def test_matches_ducc0(wide_field):
    ducc0 = pytest.importorskip("ducc0")
    f = wide_field
    epsilon = 1e-6
    kw = dict(
        npix_x=f["npix"],
        npix_y=f["npix"],
        pixsize_x=f["pixsize"],
        pixsize_y=f["pixsize"],
        epsilon=epsilon,
    )
    ours = vis2dirty(f["uvw"], f["freq"], f["vis"], f["wgt"], nthreads=2, **kw)
    # ducc's sign convention is ours with u and v flipped; no division by n
    ref = ducc0.wgridder.vis2dirty(
        uvw=f["uvw"],
        freq=f["freq"],
        vis=f["vis"],
        wgt=f["wgt"],
        do_wgridding=True,
        divide_by_n=False,
        flip_u=True,
        flip_v=True,
        **kw,
    )
    err = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
    assert_allclose(err, 0.0, atol=2 * epsilon)  # both are within epsilon of the truth


def test_point_source_peak():
    """A 1 Jy source at a pixel centre gives a peak of Σ wgt at that pixel."""
    rng = np.random.default_rng(7)
    uvw = rng.uniform(-1, 1, (300, 3)) * np.array([1000.0, 1000.0, 50.0])
    freq = np.array([1.4e9])
    npix, pix = 64, np.radians(10 / 3600)
    ix, iy = 40, 20
    l, m = (ix - npix // 2) * pix, (iy - npix // 2) * pix
    img = np.zeros((npix, npix))
    img[ix, iy] = 1.0
    vis = dirty2vis(uvw, freq, img, pixsize_x=pix, pixsize_y=pix, epsilon=1e-8)
    u, v, w = (uvw * freq[0] / 299792458.0).T
    expected = np.exp(
        2j * np.pi * (u * l + v * m + w * (np.sqrt(1 - l * l - m * m) - 1))
    )
    assert_allclose(vis[:, 0], expected, atol=1e-7)  # epsilon-level analytic check
    dirty = vis2dirty(
        uvw,
        freq,
        vis,
        npix_x=npix,
        npix_y=npix,
        pixsize_x=pix,
        pixsize_y=pix,
        epsilon=1e-8,
    )
    assert np.unravel_index(np.argmax(dirty), dirty.shape) == (ix, iy)
    assert_allclose(dirty[ix, iy], 300.0, rtol=1e-7)


def test_bad_inputs(wide_field):
    f = wide_field
    with pytest.raises(ValueError, match="pixel size is too large"):
        vis2dirty(
            f["uvw"] * 100,
            f["freq"],
            f["vis"],
            npix_x=32,
            npix_y=32,
            pixsize_x=1e-3,
            pixsize_y=1e-3,
            epsilon=1e-4,
        )
    with pytest.raises(ValueError, match="epsilon"):
        plan_gridding(
            npix_x=32,
            npix_y=32,
            pixsize_x=1e-4,
            pixsize_y=1e-4,
            epsilon=1e-7,
            dtype=np.complex64,
        )
    with pytest.raises(ValueError, match="even"):
        plan_gridding(
            npix_x=33,
            npix_y=32,
            pixsize_x=1e-4,
            pixsize_y=1e-4,
            epsilon=1e-4,
            dtype=np.complex64,
        )


@pytest.mark.parametrize(
    "ctype,epsilon", [(np.complex64, 1e-4), (np.complex128, 1e-10)]
)
@pytest.mark.parametrize("do_w", [True, False])
def test_sparse_model_planes_equal_the_dense_ones(
    wide_field, ctype, epsilon, do_w, monkeypatch
):
    # A CLEAN model (a few pixels in a few columns) takes image_to_planes' sparse
    # path: the same visibilities as the dense path, and as the DFT
    from dsa110.imaging import kernels

    f = wide_field
    rng = np.random.default_rng(8)
    rtype = np.float32 if ctype == np.complex64 else np.float64
    npix, pix = f["npix"], f["pixsize"]
    img = np.zeros((npix, npix), rtype)
    pix_index = rng.choice(npix * 9, 12, replace=False)  # 12 pixels in 9 columns
    ix, iy = pix_index % npix, pix_index // npix * 5
    img[ix, iy] = rng.uniform(0.1, 2.0, 12)
    assert np.count_nonzero(img.any(axis=0)) <= kernels.SPARSE_COLUMNS * npix
    kw = dict(pixsize_x=pix, pixsize_y=pix, epsilon=epsilon, do_wgridding=do_w)
    sparse = dirty2vis(f["uvw"], f["freq"], img, nthreads=2, **kw)
    monkeypatch.setattr(kernels, "SPARSE_COLUMNS", -1.0)  # every image dense
    dense = dirty2vis(f["uvw"], f["freq"], img, nthreads=2, **kw)
    # the sparse path evaluates each plane's w phase directly rather than by
    # repeated multiplication: equal to well within epsilon
    assert_allclose(sparse, dense, rtol=0, atol=epsilon * np.abs(dense).max())
    lm = (np.arange(npix) - npix // 2) * pix  # l or m of a pixel index
    nm1 = np.sqrt(1 - lm[ix] ** 2 - lm[iy] ** 2) - 1 if do_w else 0 * ix
    u, v, w = (f["uvw"][:, None, :] * f["freq"][None, :, None] / 299792458.0).T
    ref = np.einsum(
        "s,crs->rc",
        img[ix, iy].astype(np.float64),
        np.exp(
            2j
            * np.pi
            * (u[..., None] * lm[ix] + v[..., None] * lm[iy] + w[..., None] * nm1)
        ),
    )
    err = np.linalg.norm(sparse - ref) / np.linalg.norm(ref)
    assert err < epsilon
