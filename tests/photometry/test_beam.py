import numpy as np
from numpy.testing import assert_allclose

from dsa110.photometry.beam import (
    Beam,
    axes_from_covariance,
    covariance_from_axes,
    deconvolve,
)
from dsa110.photometry.simulate import make_wcs


def test_axes_covariance_round_trip():
    rng = np.random.default_rng(1)
    maj = rng.uniform(10, 60, 50)
    mnr = maj * rng.uniform(0.2, 0.95, 50)
    pa = rng.uniform(0, 180, 50)
    a, b, p = axes_from_covariance(covariance_from_axes(maj, mnr, pa))
    # exact algebra: round-off only
    assert_allclose(a, maj, rtol=1e-10)
    assert_allclose(b, mnr, rtol=1e-10)
    assert_allclose(np.cos(2 * np.radians(p - pa)), 1.0, atol=1e-9)


def test_deconvolve_inverts_convolution():
    beam = Beam(18 / 3600, 15 / 3600, 30.0)
    src = covariance_from_axes(12 / 3600, 6 / 3600, 100.0)
    conv = src + covariance_from_axes(beam.bmaj, beam.bmin, beam.bpa)
    maj, mnr, pa = axes_from_covariance(conv)
    dmaj, dmin, dpa = deconvolve(maj, mnr, pa, beam)
    # Gaussian convolution adds covariances: exact up to round-off
    assert_allclose([dmaj * 3600, dmin * 3600], [12, 6], rtol=1e-8)
    assert_allclose(dpa, 100.0, atol=1e-6)
    # a point source deconvolves to zero size
    z = deconvolve(beam.bmaj, beam.bmin, beam.bpa, beam)
    assert_allclose(z[:2], 0.0, atol=1e-9)


def test_pixel_quadratic_north_up_east_left():
    # a beam elongated north-south (PA=0) is elongated along y on a north-up grid
    wcs = make_wcs((100, 100), cell_arcsec=3.0)
    qa, qb, qc = Beam(30 / 3600, 15 / 3600, 0.0).pixel_quadratic(wcs)
    sx, sy = 15 / 3 / 2.3548200450309493, 30 / 3 / 2.3548200450309493
    assert_allclose([qa, qb, qc], [1 / sx**2, 0.0, 1 / sy**2], rtol=1e-6, atol=1e-12)
    # PA=45 (towards east = -x): major axis along (-1, +1) in pixels
    qa, qb, qc = Beam(30 / 3600, 15 / 3600, 45.0).pixel_quadratic(wcs)
    q_major = qa - 2 * qb + qc  # direction (-1, 1)
    q_minor = qa + 2 * qb + qc  # direction (1, 1)
    assert q_major < q_minor
