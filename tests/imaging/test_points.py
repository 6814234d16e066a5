"""Point clusters of CLEAN components restored as single Gaussians."""

from dataclasses import replace

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging.beam import fit_beam, gaussian_image, restore
from dsa110.imaging.clean import circle_mask, hogbom_minor_cycle
from dsa110.imaging.points import fit_point_clusters, restore_with_points

N = 128
CELL = 6.0


@pytest.fixture(scope="module")
def uv():
    """A band-limited uv coverage: 400 samples inside 0.35 cycles per pixel."""
    rng = np.random.default_rng(7)
    r = 0.35 * np.sqrt(rng.uniform(0.0, 1.0, 400))
    t = rng.uniform(0.0, 2 * np.pi, 400)
    return r * np.cos(t), r * np.sin(t)


def _dirty(uv, points):
    """Σ S · PSF(x − p) evaluated exactly (a DFT of the coverage), peak 1 per Jy."""
    u, v = uv
    x = np.arange(N)[:, None, None] - N // 2
    y = np.arange(N)[None, :, None] - N // 2
    img = np.zeros((N, N))
    for px, py, s in points:
        img += s * np.cos(2 * np.pi * (u * (x - px) + v * (y - py))).mean(axis=-1)
    return img


def _clean(dirty, psf, centre, radius=10):
    model = np.zeros_like(dirty)
    mask = circle_mask(dirty.shape, np.array([centre]), radius)
    hogbom_minor_cycle(dirty, psf, model, gain=0.1, stop=1e-4, niter=20000, mask=mask)
    residual = dirty - _convolve(model, psf)
    return model, residual


def _convolve(model, psf):
    out = np.zeros_like(model)
    c = N // 2
    for i, j in np.argwhere(model != 0):
        shifted = np.roll(np.roll(psf, i - c, axis=0), j - c, axis=1)
        out += model[i, j] * shifted
    return out


def test_an_off_grid_point_is_restored_as_one_gaussian_at_its_position(uv):
    p = (N // 2 + 0.3 - 20, N // 2 + 0.4 + 10)  # 0.3, 0.4 pixel off a centre
    psf = _dirty(uv, [(0.0, 0.0, 1.0)])
    dirty = _dirty(uv, [(p[0] - N // 2, p[1] - N // 2, 2.0)])
    model, residual = _clean(dirty, psf, p)
    assert np.count_nonzero(model) > 10  # CLEAN needed a cluster for it
    found = fit_point_clusters(model, psf, 1e-4, radius_pixels=11.5)
    assert len(found) == 1
    q = found[0]
    assert_allclose((q.x, q.y), p, atol=0.01)
    assert_allclose(q.flux, 2.0, rtol=2e-3)
    assert q.clean_flux == pytest.approx(model.sum())
    beam = fit_beam(psf, CELL)
    ideal = 2.0 * gaussian_image((N, N), beam, CELL, centre=p)
    old = restore(model, residual, beam, CELL) - residual
    new = restore_with_points(model, residual, beam, CELL, found) - residual
    # the cluster's ring shows through the beam as percent-level ripples;
    # the point restores as the Gaussian it is, to the flux's fit
    assert np.abs(old - ideal).max() > 0.01 * 2.0
    assert np.abs(new - ideal).max() < 3e-3 * 2.0


def test_what_the_point_does_not_carry_is_restored_through_the_psf(uv):
    """Near a point the image is its Gaussian plus the data's excess over the point.

    In noise CLEAN puts components on noise peaks around a source as well; the
    cluster then differs from the fitted point by more than the ring, and that
    difference is in the data (the residual lacks it). Here the cluster gets
    1 % of extra components in its circle and the residual their response (the
    dirty image unchanged): inside the circle, the restored image less the
    point's Gaussian must equal the dirty image less the point's response — the
    residual of the point model — and it does not when the remainder is dropped.
    """
    p = (N // 2 + 0.3, N // 2 + 0.4)
    psf = _dirty(uv, [(0.0, 0.0, 1.0)])
    dirty = _dirty(uv, [(0.3, 0.4, 2.0)])
    model, residual = _clean(dirty, psf, p)
    excess = np.zeros_like(model)
    for dx, dy, f in ((3, 1, 0.008), (-2, -4, 0.006), (5, -3, 0.006)):
        excess[N // 2 + dx, N // 2 + dy] = f
    model = model + excess
    residual = residual - _convolve(excess, psf)
    found = fit_point_clusters(model, psf, 1e-4, radius_pixels=11.5)
    assert len(found) == 1
    q = found[0]
    beam = fit_beam(psf, CELL)
    point = q.flux * gaussian_image((N, N), beam, CELL, centre=(q.x, q.y))
    point_model_residual = dirty - _dirty(uv, [(q.x - N // 2, q.y - N // 2, q.flux)])
    x, y = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    circle = np.hypot(x - q.x, y - q.y) < 11.0
    new = restore_with_points(model, residual, beam, CELL, found) - point
    dropped = [replace(q, remainder=0.0 * q.remainder)]
    without = restore_with_points(model, residual, beam, CELL, dropped) - point
    # measured: 7.5e-3 without the remainder; 1.4e-3 with it, which is the
    # accuracy of the fit's PSF (a 116-pixel cut-out shifted by a phase ramp)
    assert np.abs(without - point_model_residual)[circle].max() > 5e-3
    assert np.abs(new - point_model_residual)[circle].max() < 1e-3 * 2.0


def test_a_neighbour_inside_the_circle_keeps_the_components(uv):
    p = (N // 2 + 0.3, N // 2 + 0.4)
    # a 10 % neighbour 7 pixels away, inside the cluster's circle
    dirty = _dirty(uv, [(0.3, 0.4, 1.0), (7.0, 0.0, 0.1)])
    psf = _dirty(uv, [(0.0, 0.0, 1.0)])
    model, residual = _clean(dirty, psf, p)
    assert fit_point_clusters(model, psf, 1e-4, radius_pixels=11.5) == []
    # a cluster below min_snr is not fitted at all
    assert fit_point_clusters(model, psf, 1.0, radius_pixels=11.5) == []


def test_each_source_keeps_its_own_components_with_the_mask_centres(uv):
    """Two sources closer than the cluster's radius: given the mask circles'
    centres, each cluster takes only the components nearer its own centre and
    the bright one is a point; without them it takes some of its neighbour's
    and is none. (The faint one's side of the bisector holds the bright one's
    ring as well: fitted, it misses by more than its 0.5 %, and stays as CLEAN
    made it.)"""
    bright = (N // 2 + 0.3, N // 2 + 0.4)
    faint = (N // 2 + 0.2 - 9, N // 2 - 0.1 + 2)  # 9.2 pixels away, 10 %
    psf = _dirty(uv, [(0.0, 0.0, 1.0)])
    dirty = _dirty(
        uv,
        [
            (bright[0] - N // 2, bright[1] - N // 2, 2.0),
            (faint[0] - N // 2, faint[1] - N // 2, 0.2),
        ],
    )
    centres = np.array([bright, faint])
    model = np.zeros_like(dirty)
    mask = circle_mask(dirty.shape, centres, 10)
    hogbom_minor_cycle(dirty, psf, model, gain=0.1, stop=1e-4, niter=20000, mask=mask)
    alone = fit_point_clusters(model, psf, 1e-4, radius_pixels=11.5)
    assert all(np.hypot(q.x - bright[0], q.y - bright[1]) > 1 for q in alone)
    found = fit_point_clusters(model, psf, 1e-4, radius_pixels=11.5, centres=centres)
    assert len(found) == 1
    q = found[0]
    assert_allclose((q.x, q.y), bright, atol=0.01)
    assert_allclose(q.flux, 2.0, rtol=3e-3)
    # none of the neighbour's components went with it
    assert np.all(np.hypot(*(np.array(q.pixels) - np.array(faint)[:, None])) > 4.5)


def test_nothing_to_restore_and_bad_input():
    psf = np.zeros((8, 8))
    psf[4, 4] = 1.0
    assert fit_point_clusters(np.zeros((8, 8)), psf, 1e-3, radius_pixels=2) == []
    with pytest.raises(ValueError, match="model .* psf"):
        fit_point_clusters(np.zeros((8, 9)), psf, 1e-3, radius_pixels=2)
    with pytest.raises(ValueError, match="radius_pixels"):
        fit_point_clusters(np.zeros((8, 8)), psf, 1e-3, radius_pixels=0)
    with pytest.raises(ValueError, match=r"centres: expected \(source, 2\)"):
        fit_point_clusters(psf, psf, 1e-3, radius_pixels=2, centres=[4.0, 4.0])


def test_gaussians_need_a_flux_for_every_position():
    from dsa110.errors import ConfigurationError
    from dsa110.imaging.beam import Beam
    from dsa110.imaging.subtract import add_point_sources

    image = np.zeros((16, 16), np.float32)
    with pytest.raises(ConfigurationError, match="pixels/fluxes"):
        add_point_sources(image, ([3.2, 8.0], [4.1, 9.0]), [1.0], Beam(20, 15, 0), 6.0)
    assert not image.any()  # nothing drawn before the check
