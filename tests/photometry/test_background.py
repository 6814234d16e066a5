import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.photometry import kernels
from dsa110.photometry.background import estimate_background


def test_clipped_box_matches_numpy_reference():
    rng = np.random.default_rng(5)
    data = rng.normal(0.3, 2.0, (41, 41))
    data[20, 20] = 500.0  # an outlier the clipping must remove
    bkg, rms = kernels.box_statistics(data, step=20, half_box=20, max_samples=10**6)
    # grid point (1, 1) sits on pixel (20, 20): its box is the whole image
    # reference: iterative 3-sigma clipping around the median, in numpy
    x = data.ravel()
    med = np.median(x)
    sig = 1.482602218505602 * np.median(np.abs(x - med))
    for _ in range(6):
        y = x[np.abs(x - med) <= 3 * sig]
        med, sig = np.median(y), y.std(ddof=1) / kernels.CLIP_STD_CORRECTION
    # same algorithm, same data: agreement to round-off
    assert_allclose(bkg[1, 1], med, rtol=1e-10)
    assert_allclose(rms[1, 1], sig, rtol=1e-10)


def test_bilinear_upsample_exact_on_planes():
    gy, gx = np.mgrid[0:5, 0:7].astype(float)
    step = 10
    grid = 2.0 + 0.5 * gx * step - 0.25 * gy * step
    out = kernels.bilinear_upsample(grid, step=step, shape_y=41, shape_x=61)
    yy, xx = np.mgrid[0:41, 0:61]
    # bilinear interpolation reproduces a plane exactly
    assert_allclose(out, 2.0 + 0.5 * xx - 0.25 * yy, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_background_and_rms_recovered(dtype):
    rng = np.random.default_rng(7)
    ny = nx = 400
    yy, xx = np.mgrid[0:ny, 0:nx]
    truth_bkg = 1e-3 + 2e-6 * xx
    data = (truth_bkg + rng.normal(0, 2e-3, (ny, nx))).astype(dtype)
    data[100:110, 100:110] = np.nan
    # white noise: every pixel is independent, so sample all 81² of each box
    grid = estimate_background(data, half_box=40, step=20, max_samples=6561)
    bkg, rms = grid.maps()
    assert bkg.dtype == dtype
    # ~6500 independent samples per box: rms known to ~1%, the median to ~3e-5
    assert_allclose(np.median(rms), 2e-3, rtol=0.02)
    assert_allclose(bkg[200], truth_bkg[200], atol=1e-4)


def test_background_needs_a_scale():
    from dsa110.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        estimate_background(np.zeros((10, 10)))
