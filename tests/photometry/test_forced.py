import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.photometry.forced import correlation_table, forced_photometry
from dsa110.photometry.simulate import simulate_image
from tests.photometry.conftest import BEAM, CELL, CENTRE, RMS, random_positions


def test_noise_free_point_sources_exact():
    rng = np.random.default_rng(11)
    ra, dec = random_positions(30, (256, 256), rng, min_sep_pix=30)
    flux = rng.uniform(0.01, 1.0, 30)
    img = simulate_image(
        (256, 256),
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux,
        rms=0.0,
        cell_arcsec=CELL,
        centre=CENTRE,
        dtype=np.float64,
    )
    zeros = (np.zeros(img.shape), np.ones(img.shape))
    res = forced_photometry(img, ra, dec, background=zeros)
    # the model is exactly the beam at the true sub-pixel position: round-off only
    assert_allclose(res["flux"], flux, rtol=1e-9)
    assert_allclose(res["chi2"], 0.0, atol=1e-12)
    # with the rms such an image gives (0), the fluxes are measured all the same
    # (they were all NaN), with error 0
    zero_rms = (np.zeros(img.shape), np.zeros(img.shape))
    res = forced_photometry(img, ra, dec, background=zero_rms)
    assert_allclose(res["flux"], flux, rtol=1e-9)
    assert_allclose(res["flux_err"], 0.0)


def test_blended_pair_fitted_jointly():
    wcs_img = simulate_image(
        (128, 128), beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE
    )
    x = np.array([60.0, 64.5])  # 4.5 px = 13.5" apart: well inside one beam (18")
    y = np.array([64.0, 65.2])
    ra, dec = wcs_img.wcs.pixel_to_world_values(x, y)
    flux = np.array([0.1, 0.03])
    img = simulate_image(
        (128, 128),
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux,
        rms=0.0,
        cell_arcsec=CELL,
        centre=CENTRE,
        dtype=np.float64,
    )
    res = forced_photometry(
        img, ra, dec, background=(np.zeros(img.shape), np.ones(img.shape))
    )
    assert (res["n_group"] == 2).all()
    # joint least squares of two exact beams: round-off only
    assert_allclose(res["flux"], flux, rtol=1e-8)
    # alone, the faint one would be biased high by the bright neighbour's wing
    alone = forced_photometry(
        img, ra[1:], dec[1:], background=(np.zeros(img.shape), np.ones(img.shape))
    )
    assert alone["flux"].iloc[0] > 1.5 * flux[1]


def test_duplicated_positions_are_measured_once(field):
    """A catalog's duplicated row (or one 1e-7° away) is one source to the fit:
    each row gets that source's flux and the image's other fluxes are as
    without it (the singular joint fit made every flux NaN, or ±20 Jy)."""
    img, ra, dec = field["image"], field["ra"], field["dec"]
    alone = forced_photometry(img, ra, dec)
    ra2 = np.r_[ra, ra[3], ra[5] + 1e-7]
    dec2 = np.r_[dec, dec[3], dec[5]]
    twice = forced_photometry(img, ra2, dec2)
    assert_allclose(twice["flux"][: ra.size], alone["flux"], rtol=1e-12)
    assert_allclose(twice["flux"][ra.size :], alone["flux"][[3, 5]], rtol=1e-6)
    assert_allclose(twice["flux_err"][ra.size :], alone["flux_err"][[3, 5]], rtol=1e-6)


def test_white_noise_error_formula():
    img = simulate_image((64, 64), beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE)
    ra, dec = img.wcs.pixel_to_world_values(32.3, 31.8)
    sigma = 2e-3
    res = forced_photometry(
        img,
        [ra],
        [dec],
        noise="white",
        exact_errors=True,
        background=(np.zeros(img.shape), np.full(img.shape, sigma)),
    )
    qa, qb, qc = BEAM.pixel_quadratic(img.wcs)
    half = int(np.ceil(BEAM.fwhm_pixels(img.wcs)))
    yy, xx = np.mgrid[32 - half : 32 + half + 1, 32 - half : 32 + half + 1]
    dx, dy = xx - 32.3, yy - 31.8
    b = np.exp(-0.5 * (qa * dx * dx + 2 * qb * dx * dy + qc * dy * dy))
    # least squares with white noise: σ / sqrt(Σ B²) over the same box, exactly
    assert_allclose(res["flux_err"].iloc[0], sigma / np.sqrt((b * b).sum()), rtol=1e-10)


def test_correlation_table_is_beam_shaped():
    qa, qb, qc = 0.2, 0.03, 0.17
    t = correlation_table(qa, qb, qc, 3, 2)
    assert t.shape == (5, 7)
    assert t[2, 3] == 1.0
    assert_allclose(t[2, 4], np.exp(-0.5 * qa), rtol=1e-12)
    assert_allclose(t, t[::-1, ::-1], rtol=0, atol=0)  # symmetric under lag reversal


def test_acceptance_error_coverage(field):
    """Forced fluxes within 1σ for ≥ 68% and within 3σ for ≥ 99% of sources."""
    rng = np.random.default_rng(99)
    pulls = []
    for seed in range(3):
        ra, dec = random_positions(400, (512, 512), rng, margin=10)
        flux = rng.uniform(0, 20 * RMS, ra.size)
        img = simulate_image(
            (512, 512),
            beam=BEAM,
            ra=ra,
            dec=dec,
            flux=flux,
            rms=RMS,
            background=5e-4,
            cell_arcsec=CELL,
            centre=CENTRE,
            rng=seed,
        )
        res = forced_photometry(img, ra, dec)
        pulls.append((res["flux"].to_numpy() - flux) / res["flux_err"].to_numpy())
    z = np.concatenate(pulls)
    assert np.isfinite(z).all()
    within1, within3 = np.mean(np.abs(z) < 1), np.mean(np.abs(z) < 3)
    assert within1 >= 0.68, within1
    assert within3 >= 0.99, within3
    # honest, not inflated: the pull spread is 1 within its sampling error (~3%)
    assert_allclose(np.std(z), 1.0, atol=0.1)


def test_off_image_positions_are_nan(field):
    img = field["image"]
    res = forced_photometry(img, [field["ra"][0], 10.0], [field["dec"][0], -30.0])
    assert res["inside"].tolist() == [True, False]
    assert np.isfinite(res["flux"].iloc[0]) and np.isnan(res["flux"].iloc[1])


def test_bad_noise_model():
    from dsa110.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        correlation_table(1, 0, 1, 2, 2, noise="pink")


def test_tabulated_errors_match_exact_sums(field):
    img = field["image"]
    fast = forced_photometry(img, field["ra"], field["dec"])
    exact = forced_photometry(img, field["ra"], field["dec"], exact_errors=True)
    # fluxes do not depend on the error path at all
    assert_allclose(fast["flux"], exact["flux"], rtol=0, atol=0)
    # bilinear interpolation of a smooth sub-pixel function: ~1e-4 relative
    assert_allclose(fast["flux_err"], exact["flux_err"], rtol=1e-3)
    assert (fast["n_group"] == 1).sum() > 100  # the table path was exercised


def _steep_beam(shape, limit):
    """A Gaussian primary beam whose `limit` contour crosses the image's middle."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    # centred far left: the beam falls from ~0.4 to ~0.1 across the image
    r2 = (xx + 3 * nx) ** 2 + (yy - ny / 2) ** 2
    s2 = -((3.5 * nx) ** 2) / (2 * np.log(limit))  # beam = limit at x = nx / 2
    return np.exp(-r2 / (2 * s2))


def test_primary_beam_correction_at_the_source():
    from dsa110.errors import ConfigurationError

    shape, limit = (128, 128), 0.2
    pb = _steep_beam(shape, limit)
    wcs_img = simulate_image(shape, beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE)
    # one source well inside the limit, one whose fitting box the limit cuts,
    # one just outside it
    x = np.array([40.3, 62.6, 66.0])
    y = np.array([64.2, 40.7, 90.0])
    ra, dec = wcs_img.wcs.pixel_to_world_values(x, y)
    flux = np.array([0.5, 0.3, 0.2])
    from dsa110.photometry.forced import beam_at

    gain = beam_at(pb, x, y, np.ones(3, bool))
    # a restored image: each source the restoring beam at its apparent flux
    apparent = simulate_image(
        shape,
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux * gain,
        rms=0.0,
        cell_arcsec=CELL,
        centre=CENTRE,
        dtype=np.float64,
    )
    flat = (np.zeros(shape), np.ones(shape))
    res = forced_photometry(
        apparent, ra, dec, background=flat, primary_beam=pb, pb_limit=limit
    )
    assert_allclose(res["flux"].iloc[:2], flux[:2], rtol=1e-9)
    assert_allclose(res["pb"].iloc[:2], gain[:2], rtol=1e-12)
    assert np.isnan(res["flux"].iloc[2]) and res["inside"].iloc[2]

    # the same sources on the corrected image, blanked below the limit: in a
    # full box the beam's gradient (~0.7 % per pixel) cancels to first order;
    # the box the blanking cuts keeps its brighter-beam side, and is low
    corrected = simulate_image(
        shape, beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE
    )
    corrected.data = np.where(pb >= limit, apparent.data / pb, np.nan)
    on_corrected = forced_photometry(corrected, ra[:2], dec[:2], background=flat)
    assert abs(on_corrected["flux"].iloc[0] / flux[0] - 1) < 1e-3
    assert on_corrected["flux"].iloc[1] / flux[1] < 0.997

    with pytest.raises(ConfigurationError, match="primary_beam"):
        forced_photometry(apparent, ra, dec, primary_beam=pb[:-1])
