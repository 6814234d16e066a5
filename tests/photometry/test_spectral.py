import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.photometry.beam import Beam
from dsa110.photometry.simulate import simulate_image
from dsa110.photometry.spectral import fit_spectral_index, inband_spectral_index
from tests.photometry.conftest import CELL, CENTRE, random_positions


def test_fit_exact_power_law():
    freq = np.linspace(1.31e9, 1.50e9, 16)
    alpha = np.array([-0.7, 0.0, 1.5, -2.0])
    s0 = np.array([0.1, 1.0, 0.02, 3.0])
    nu0 = 1.4e9
    flux = s0[:, None] * (freq / nu0) ** alpha[:, None]
    fit = fit_spectral_index(freq, flux, 0.01 * flux, ref_frequency=nu0)
    # noise-free data: Gauss-Newton converges to round-off
    assert_allclose(fit["alpha"], alpha, atol=1e-8)
    assert_allclose(fit["s0"], s0, rtol=1e-9)
    assert_allclose(fit["chi2"], 0.0, atol=1e-12)


def test_fit_errors_are_honest():
    rng = np.random.default_rng(3)
    freq = np.linspace(1.31e9, 1.50e9, 16)
    n = 2000
    alpha = rng.uniform(-2, 1, n)
    s0 = rng.uniform(0.01, 0.1, n)
    err = np.full((n, 16), 2e-3)
    flux = s0[:, None] * (freq / 1.4e9) ** alpha[:, None] + rng.normal(0, 2e-3, (n, 16))
    fit = fit_spectral_index(freq, flux, err, ref_frequency=1.4e9)
    z = (fit["alpha"] - alpha) / fit["alpha_err"]
    # 2000 pulls: spread 1 within ~5% (nonlinearity at low S/N adds a little)
    assert_allclose(np.std(z), 1.0, atol=0.08)
    assert_allclose(np.median(z), 0.0, atol=0.1)


def test_single_band_is_undetermined():
    fit = fit_spectral_index([1.4e9, 1.4e9], [[1.0, 1.1]], [[0.1, 0.1]])
    assert np.isnan(fit["alpha"].iloc[0])


def test_acceptance_inband_indices_recovered():
    """Injected spectral indices recovered within their errors from subband images."""
    rng = np.random.default_rng(12)
    freqs = np.linspace(1.311e9, 1.499e9, 8)
    shape = (256, 256)
    ra, dec = random_positions(40, shape, rng, margin=12, min_sep_pix=12)
    alpha = rng.uniform(-1.5, 0.5, ra.size)
    s0 = rng.uniform(0.05, 0.3, ra.size)
    images = []
    for k, nu in enumerate(freqs):
        scale = 1.4e9 / nu  # the beam shrinks with frequency
        beam = Beam(18 / 3600 * scale, 15 / 3600 * scale, 30.0)
        images.append(
            simulate_image(
                shape,
                beam=beam,
                ra=ra,
                dec=dec,
                flux=s0 * (nu / 1.4e9) ** alpha,
                rms=4e-3,
                cell_arcsec=CELL,
                centre=CENTRE,
                frequency=nu,
                rng=100 + k,
            )
        )
    fit, flux, err = inband_spectral_index(images, ra, dec, ref_frequency=1.4e9)
    z = (fit["alpha"].to_numpy() - alpha) / fit["alpha_err"].to_numpy()
    assert np.mean(np.abs(z) < 1) >= 0.55  # 68% expected; 40 sources give ±7%
    assert np.all(np.abs(z) < 4)
    assert_allclose(fit["s0"], s0, rtol=0.15)


def test_inband_requires_frequencies():
    from dsa110.errors import ConfigurationError

    img = simulate_image((32, 32), beam=Beam(5e-3, 4e-3), rms=0.0, frequency=np.nan)
    with pytest.raises(ConfigurationError):
        inband_spectral_index([img], [180.0], [45.0])
