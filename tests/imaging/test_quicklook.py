"""The PNG quicklook's block averaging (dsa110.imaging.fits._quicklook_pixels)."""

import numpy as np

from dsa110.imaging import fits


def test_small_images_are_shown_as_they_are():
    data = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    shown, extent = fits._quicklook_pixels(data)
    assert shown is data
    assert extent == (-0.5, 3.5, -0.5, 2.5)


def test_large_images_are_averaged_in_blocks_without_their_nans(monkeypatch):
    monkeypatch.setattr(fits, "QUICKLOOK_PIXELS", 4)
    rng = np.random.default_rng(2)
    data = rng.standard_normal((10, 7)).astype(np.float32)  # blocks of 3: 4 × 3
    data[0, 0] = np.nan
    data[9, :] = np.nan  # the last block row holds only NaNs (and padding)
    shown, extent = fits._quicklook_pixels(data)
    assert shown.shape == (4, 3)
    # the extent covers the padded blocks, in the original pixels
    assert extent == (-0.5, 8.5, -0.5, 11.5)
    np.testing.assert_allclose(shown[0, 0], np.nanmean(data[0:3, 0:3]), rtol=1e-6)
    np.testing.assert_allclose(shown[1, 2], np.mean(data[3:6, 6:7]), rtol=1e-6)
    assert np.all(np.isnan(shown[3]))
