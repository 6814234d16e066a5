import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.catalogs.crossmatch import crossmatch
from dsa110.photometry.finding import SOURCE_COLUMNS, find_sources
from dsa110.photometry.simulate import simulate_image
from tests.photometry.conftest import BEAM, CELL, CENTRE, RMS


@pytest.fixture(scope="module")
def found(field):
    return find_sources(field["image"])


def test_columns(found):
    assert tuple(found.columns) == SOURCE_COLUMNS
    assert found["fit_ok"].mean() > 0.95


def test_acceptance_completeness_and_false_detections(field, found):
    """Blind completeness ≥ 95% above 7σ, ≤ 1% false detections."""
    radius = 0.5 * BEAM.bmaj * 3600
    idx, _ = crossmatch(
        field["ra"],
        field["dec"],
        found["ra"].to_numpy(),
        found["dec"].to_numpy(),
        radius_arcsec=radius,
    )
    bright = field["flux"] >= 7 * RMS
    completeness = np.mean(idx[bright] >= 0)
    assert completeness >= 0.95, completeness
    back, _ = crossmatch(
        found["ra"].to_numpy(),
        found["dec"].to_numpy(),
        field["ra"],
        field["dec"],
        radius_arcsec=radius,
    )
    false_rate = np.mean(back < 0)
    assert false_rate <= 0.01, false_rate


def test_acceptance_positions_high_snr(field, found):
    """Positions within 0.1 beam for SNR > 50, and errors that describe the scatter."""
    idx, _ = crossmatch(
        field["ra"],
        field["dec"],
        found["ra"].to_numpy(),
        found["dec"].to_numpy(),
        radius_arcsec=9.0,
    )
    ok = (idx >= 0) & (field["flux"] > 50 * RMS)
    assert ok.sum() > 30
    m = found.iloc[idx[ok]]
    cosd = np.cos(np.radians(field["dec"][ok]))
    dra = (m["ra"].to_numpy() - field["ra"][ok]) * cosd * 3600
    ddec = (m["dec"].to_numpy() - field["dec"][ok]) * 3600
    assert np.hypot(dra, ddec).max() < 0.1 * BEAM.bmin * 3600
    # Condon (1997) errors: the pulls have unit spread within ~25% (30-100 sources)
    z = np.concatenate([dra / m["ra_err"].to_numpy(), ddec / m["dec_err"].to_numpy()])
    assert_allclose(np.std(z), 1.0, atol=0.3)


def test_fluxes_of_isolated_sources(field, found):
    idx, _ = crossmatch(
        field["ra"],
        field["dec"],
        found["ra"].to_numpy(),
        found["dec"].to_numpy(),
        radius_arcsec=6.0,
    )
    ok = (idx >= 0) & (field["flux"] > 10 * RMS)
    m = found.iloc[idx[ok]]
    z = (m["peak_flux"].to_numpy() - field["flux"][ok]) / m["peak_flux_err"].to_numpy()
    # unbiased and honest to within the sampling error of ~100 pulls
    assert_allclose(np.median(z), 0.0, atol=0.3)
    assert_allclose(np.std(z), 1.0, atol=0.35)
    # point sources: integrated ≈ peak, most unresolved
    assert_allclose(np.median(m["int_flux"] / field["flux"][ok]), 1.0, atol=0.05)
    assert m["resolved"].mean() < 0.1


def test_deblends_touching_sources():
    base = simulate_image(
        (128, 128), beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE
    )
    fwhm = BEAM.fwhm_pixels(base.wcs)
    x = np.array([60.0, 60.0 + 1.3 * fwhm])
    y = np.array([64.0, 64.0])
    ra, dec = base.wcs.pixel_to_world_values(x, y)
    flux = np.array([0.2, 0.1])
    img = simulate_image(
        (128, 128),
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux,
        rms=RMS,
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=3,
    )
    res = find_sources(img)
    assert len(res) == 2 and (res["n_components"] == 2).all()
    res = res.sort_values("x")
    # 50-100σ sources: peak errors ~2-4%
    assert_allclose(res["peak_flux"].to_numpy(), flux, rtol=0.08)
    assert_allclose(res["x"].to_numpy(), x, atol=0.3)


def test_a_centre_on_blanked_pixels_is_not_a_good_fit():
    """The wing of a source whose centre is blanked (beyond the PB limit's
    edge) is fitted from the pixels left: its centre, extrapolated onto NaN
    pixels, is flagged fit_ok False (it came out fit_ok True)."""
    from dsa110.photometry.image import Image

    base = simulate_image(
        (128, 128), beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE
    )
    fwhm = BEAM.fwhm_pixels(base.wcs)
    x = np.array([60.0, 60.0 + 1.3 * fwhm])
    ra, dec = base.wcs.pixel_to_world_values(x, np.array([64.0, 64.0]))
    img = simulate_image(
        (128, 128),
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=np.array([0.2, 0.1]),
        rms=RMS,
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=3,
    )
    blanked = img.data.copy()
    blanked[:, : int(x[0]) + 2] = np.nan  # the brighter one's centre and more
    res = find_sources(Image(blanked, img.wcs, img.beam))
    on_blank = res["x"] < int(x[0]) + 1.5
    assert not res.loc[on_blank, "fit_ok"].any()
    assert res.loc[~on_blank, "fit_ok"].all() and (~on_blank).any()


def test_resolved_source_size_recovered():
    base = simulate_image(
        (128, 128), beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE
    )
    ra, dec = base.wcs.pixel_to_world_values([64.0], [64.0])
    img = simulate_image(
        (128, 128),
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=[1.0],
        rms=RMS,
        major=[30 / 3600],
        minor=[12 / 3600],
        pa=[60.0],
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=4,
    )
    res = find_sources(img)
    assert len(res) == 1
    r = res.iloc[0]
    assert r["resolved"]
    # S/N ~ 250: deconvolved axes to a few percent, the integrated flux to ~2%
    assert_allclose([r["dc_maj"], r["dc_min"]], [30.0, 12.0], rtol=0.06)
    assert_allclose(r["dc_pa"], 60.0, atol=3.0)
    assert_allclose(r["int_flux"], 1.0, rtol=0.03)


def test_empty_image_finds_nothing():
    img = simulate_image(
        (200, 200), beam=BEAM, rms=RMS, cell_arcsec=CELL, centre=CENTRE, rng=8
    )
    assert len(find_sources(img)) == 0


def test_seed_below_flood_rejected(field):
    from dsa110.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        find_sources(field["image"], seed=2.0, flood=3.0)


def test_gaussian_jacobian_matches_finite_differences():
    from dsa110.photometry.finding import _gauss, _gauss_jac

    rng = np.random.default_rng(8)
    yy, xx = np.mgrid[0:15, 0:17]
    xx, yy = xx.ravel().astype(float), yy.ravel().astype(float)
    params = np.array([1.3, 7.2, 6.8, 2.1, 1.4, 0.4, -0.6, 10.5, 4.1, 1.7, 2.6, -1.1])
    params += rng.normal(0, 0.01, params.size)
    jac = _gauss_jac(params, xx, yy, 2)
    step = 1e-6
    for j in range(params.size):
        hi, lo = params.copy(), params.copy()
        hi[j] += step
        lo[j] -= step
        numeric = (_gauss(hi, xx, yy, 2) - _gauss(lo, xx, yy, 2)) / (2 * step)
        assert_allclose(jac[:, j], numeric, atol=1e-7)
