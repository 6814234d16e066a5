"""Cotton–Schwab CLEAN's stopping levels: the user's mask and auto-masking."""

import numpy as np
import pytest

from dsa110.imaging.clean import circle_mask, cotton_schwab, mad_sigma
from dsa110.imaging.imager import ImageGeometry, Imager
from dsa110.phasing import median_meridian, rephase
from dsa110.testing import PointSource, core_antennas, make_visibility_dataset

NPIX, CELL = 256, 10.0


@pytest.fixture(scope="module")
def bright_in_noise():
    """A 20 Jy source (SNR ~1100) off the centre, with noise; natural weights."""
    ants = core_antennas(3)
    kw = dict(n_time=3, n_chan_per_subband=2, antennas=ants)
    ra0, dec0 = median_meridian(make_visibility_dataset(**kw))
    step = np.radians(CELL / 3600)
    source = PointSource(ra0 + 20 * step / np.cos(dec0), dec0 - 12 * step, 20.0)
    ds = make_visibility_dataset(
        sources=[source],
        beam=False,
        noise_sigma=5.0,
        rng=np.random.default_rng(7),
        **kw,
    )
    ds = rephase(ds, "median_meridian")
    imager = Imager.from_dataset(
        ds, geometry=ImageGeometry(NPIX, CELL, 1e-5), weighting="natural"
    )
    mask = circle_mask((NPIX, NPIX), np.array([[NPIX // 2 + 20, NPIX // 2 - 12]]), 8)
    return imager, mask


def test_with_a_mask_clean_goes_down_to_the_threshold(bright_in_noise):
    """With the user's mask, auto-masking has nothing to add (the components lie
    inside it): CLEAN stops at auto_threshold σ within the cycles allowed, not at
    the auto-mask level a first phase would hold it at for good."""
    imager, mask = bright_in_noise
    kwargs = dict(niter=20000, auto_threshold=1.5, auto_mask=4.0, mgain=0.95)
    result = cotton_schwab(imager, max_major=3, mask=mask, **kwargs)
    sigma = mad_sigma(result.residual, mask)
    assert result.history[-1]["masked"]
    assert result.threshold == pytest.approx(1.5 * sigma, rel=0.1)
    peak = np.abs(result.residual[mask]).max()
    dirty_peak = np.abs(imager.dirty()[mask]).max()
    # bright: three cycles of mgain 0.95 (to 0.05³ of the peak) end on a threshold
    assert dirty_peak > 300 * sigma
    assert peak < 2.5 * sigma  # measured 1.4 σ; 3.9 σ before (the auto-mask level)


def test_without_a_mask_auto_masking_cleans_unmasked_first(bright_in_noise):
    imager, _ = bright_in_noise
    kwargs = dict(niter=20000, auto_threshold=1.5, auto_mask=4.0, mgain=0.95)
    result = cotton_schwab(imager, max_major=6, **kwargs)
    phases = [h["masked"] for h in result.history]
    assert not phases[0]  # the first phase searches the whole image
    assert phases[-1]  # then only where the model has components
    grown = result.model != 0
    assert np.array_equal(result.mask, grown)
