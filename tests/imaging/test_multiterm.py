"""Multi-term (MT-MFS) CLEAN: a steep-spectrum source is fitted, its sidelobes removed."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging.clean import cotton_schwab, mad_sigma, multiterm_minor_cycle
from dsa110.imaging.imager import ImageGeometry, Imager
from dsa110.phasing import median_meridian, rephase
from dsa110.testing import PointSource, core_antennas, make_visibility_dataset

NPIX, CELL = 256, 10.0
ALPHA = -1.5


@pytest.fixture(scope="module")
def steep():
    ants = core_antennas(3)
    empty = make_visibility_dataset(n_time=3, n_chan_per_subband=2, antennas=ants)
    ra0, dec0 = median_meridian(empty)
    step = np.radians(CELL / 3600)
    source = PointSource(ra0 + 20 * step / np.cos(dec0), dec0 - 12 * step, 10.0, ALPHA)
    ds = make_visibility_dataset(
        sources=[source], n_time=3, n_chan_per_subband=2, antennas=ants, beam=False
    )
    ds = rephase(ds, "median_meridian")
    return Imager.from_dataset(
        ds, geometry=ImageGeometry(NPIX, CELL, 1e-5), weighting="natural"
    )


def test_two_terms_fit_the_spectrum_and_clear_its_sidelobes(steep):
    kwargs = dict(niter=3000, auto_threshold=0.0, threshold=1e-3, mgain=0.9)
    flat = cotton_schwab(steep, max_major=4, **kwargs)
    multi = cotton_schwab(steep, max_major=4, nterms=2, **kwargs)
    three = cotton_schwab(steep, max_major=4, nterms=3, **kwargs)
    # the flat model leaves the ±9 % of the band's flux change in the residual
    # (measured: MAD 1.6 mJy flat, 0.058 mJy with 2 terms, 0.018 mJy with 3)
    assert mad_sigma(multi.residual) < 0.1 * mad_sigma(flat.residual)
    assert mad_sigma(three.residual) < 0.5 * mad_sigma(multi.residual)
    assert flat.niter == 3000 and multi.niter < 500  # flat CLEAN chases the sidelobes
    expected = 10.0 * (steep.ref_frequency / 1.4e9) ** ALPHA
    i0 = multi.model.sum()
    assert_allclose(i0, expected, rtol=5e-3)  # 2 terms fold the curvature into I0
    assert_allclose(three.model.sum(), expected, rtol=5e-4)
    # the Taylor coefficients of a power law: I1 = α I0, I2 = α (α − 1) / 2 · I0
    assert_allclose(multi.spectral_terms[0].sum() / i0, ALPHA, rtol=0.01)
    i1, i2 = (t.sum() / three.model.sum() for t in three.spectral_terms)
    assert_allclose([i1, i2], [ALPHA, ALPHA * (ALPHA - 1) / 2], rtol=0.02)


def test_multiterm_minor_cycle_places_one_component_per_point():
    """Noise-free Taylor residuals of one point: one step of gain 1 removes them."""
    rng = np.random.default_rng(4)
    n = 33
    psfs = []
    for s in range(3):
        p = rng.normal(0, 0.01, (2 * n + 1, 2 * n + 1))
        p = (p + p[::-1, ::-1]) / 2
        p[n, n] = [1.0, 0.02, 0.003][s]
        psfs.append(p)
    a0, a1 = 2.0, -1.6
    residuals = []
    for t in range(2):
        r = np.zeros((n, n))
        pos = (10, 21)
        for j, a in enumerate((a0, a1)):
            r += (
                a
                * psfs[t + j][n - pos[0] : 2 * n - pos[0], n - pos[1] : 2 * n - pos[1]]
            )
        residuals.append(r)
    models = np.zeros((2, n, n))
    done, _ = multiterm_minor_cycle(
        residuals, psfs, models, gain=1.0, stop=1e-9, niter=1
    )
    assert done == 1
    assert_allclose(models[:, 10, 21], [a0, a1], rtol=1e-9)
    assert np.count_nonzero(models) == 2


def test_nterms_below_one_is_refused(steep):
    from dsa110.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="nterms"):
        cotton_schwab(steep, nterms=0)


@pytest.mark.parametrize("bad", [dict(gain=0.0), dict(gain=1.5), dict(mgain=-0.1)])
def test_loop_gains_outside_0_1_are_refused_by_name(steep, bad):
    from dsa110.errors import ConfigurationError

    name = next(iter(bad))
    with pytest.raises(ConfigurationError, match=f"^{name}="):
        cotton_schwab(steep, **bad)


def test_float32_psfs_clean_exactly_like_float64():
    """The minor cycles take the float32 PSF stack as it is (no per-cycle float64
    copy); the products are formed in float64 all the same."""
    from dsa110.imaging.clean import hogbom_minor_cycle

    rng = np.random.default_rng(1)
    n = 48
    psf = rng.normal(0, 0.02, (2 * n + 1, 2 * n + 1)).astype(np.float32)
    psf[n, n] = 1
    psfs = np.stack([psf, 0.01 * psf, 0.002 * psf]).astype(np.float32)
    psfs[1, n, n], psfs[2, n, n] = 0.02, 0.003
    res = rng.normal(0, 1, (n, n)).astype(np.float32)
    m32, m64 = np.zeros((n, n)), np.zeros((n, n))
    a = hogbom_minor_cycle(res, psfs[0], m32, gain=0.1, stop=0.5, niter=400)
    b = hogbom_minor_cycle(
        res, psfs[0].astype(np.float64), m64, gain=0.1, stop=0.5, niter=400
    )
    assert a == b and np.array_equal(m32, m64)
    residuals = [res, 0.1 * res]
    t32, t64 = np.zeros((2, n, n)), np.zeros((2, n, n))
    a = multiterm_minor_cycle(residuals, psfs, t32, gain=0.1, stop=0.5, niter=300)
    b = multiterm_minor_cycle(
        residuals, psfs.astype(np.float64), t64, gain=0.1, stop=0.5, niter=300
    )
    assert a == b and np.array_equal(t32, t64)


def _reference_multiterm(residuals, psfs, models, gain, stop, niter):
    """MT-MFS Högbom as written in Rau & Cornwell (2011): a full search, then a
    full subtraction, per component (the loop under test fuses the two)."""
    nterm = len(residuals)
    c = psfs[0].shape[0] // 2
    hinv = np.linalg.inv(
        [[psfs[i + j][c, c] for j in range(nterm)] for i in range(nterm)]
    )
    res = np.array(residuals, dtype=np.float64)
    n = res.shape[1]
    for done in range(niter):
        a = np.einsum("ij,jxy->ixy", hinv, res)
        explained = (a * res).sum(axis=0)
        if np.abs(res[0]).max() <= stop:
            return done
        x, y = np.unravel_index(np.argmax(explained), explained.shape)
        amp = gain * a[:, x, y]
        models[:, x, y] += amp
        for i in range(nterm):
            for j in range(nterm):
                res[i] -= amp[j] * psfs[i + j][c - x : c - x + n, c - y : c - y + n]
    return niter


@pytest.mark.parametrize("terms_last", [False, True])
def test_multiterm_minor_cycle_equals_the_two_pass_reference(terms_last):
    rng = np.random.default_rng(7)
    n = 40
    base = rng.normal(0, 0.03, (2 * n + 1, 2 * n + 1))
    base = (base + base[::-1, ::-1]) / 2
    base[n, n] = 1.0
    psfs = np.stack([base, 0.05 * base[::-1], 0.01 * base])
    psfs[1, n, n], psfs[2, n, n] = 0.03, 0.004
    residuals = [rng.normal(0, 1, (n, n)), rng.normal(0, 0.3, (n, n))]
    expected = np.zeros((2, n, n))
    want = _reference_multiterm(residuals, psfs, expected, 0.2, 1.5, 150)
    models = np.zeros((2, n, n))
    given = np.ascontiguousarray(np.moveaxis(psfs, 0, -1)) if terms_last else psfs
    done, peak = multiterm_minor_cycle(
        residuals,
        given,
        models,
        gain=0.2,
        stop=1.5,
        niter=150,
        active_fraction=0.0,
        terms_last=terms_last,
    )
    assert done == want > 10
    assert_allclose(models, expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="3 Taylor PSFs"):
        fewer = given[..., :2] if terms_last else given[:2]
        multiterm_minor_cycle(residuals, fewer, models, terms_last=terms_last)
