"""The tile image's CLEAN mask: reference-survey sources plus the VLA calibrators in the field."""

import numpy as np
from numpy.testing import assert_allclose


def _context(tmp_path, make_config):
    from dsa110.pipeline import PipelineContext

    return PipelineContext(make_config(tmp_path / "data"))


def _separation(ra1, dec1, ra2, dec2):
    """Angular distance, radians (all inputs radians)."""
    cos = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(ra1 - ra2)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def test_calibrator_missing_from_the_survey_is_masked(tmp_path, make_config):
    from dsa110.catalogs import get_calibrator, synthetic_nvss
    from dsa110.pipeline.stages import clean_mask_centres

    cal = get_calibrator("3C48")
    ra_deg, dec_deg = np.degrees(cal.ra), np.degrees(cal.dec)
    ctx = _context(tmp_path, make_config)
    # a survey of the field that leaves the calibrator out (as NVSS-like cuts can)
    survey = synthetic_nvss(
        ra=ra_deg, dec=dec_deg, radius=2.0, smin=0.05, smax=2.0, n=30, rng=3
    )
    survey = survey[
        _separation(
            np.radians(survey["ra"]), np.radians(survey["dec"]), cal.ra, cal.dec
        )
        > np.radians(0.05)
    ].reset_index(drop=True)
    ctx.catalog_store.add(survey, ctx.config.photometry.survey)

    ra, dec = clean_mask_centres(ctx, ra_deg, dec_deg, 2.0)
    in_survey = survey[survey["flux_int"] >= ctx.config.photometry.min_catalog_flux_jy]
    # every survey source above the limit comes first (in the store's order)
    n = len(in_survey)
    order = np.argsort(ra[:n])
    expected = np.argsort(in_survey["ra"].to_numpy())
    assert_allclose(
        ra[:n][order], np.radians(in_survey["ra"].to_numpy()[expected]), atol=1e-12
    )
    assert_allclose(
        dec[:n][order], np.radians(in_survey["dec"].to_numpy()[expected]), atol=1e-12
    )
    # then the calibrators within the radius, 3C48 among them, and none beyond it
    cal_ra, cal_dec = ra[n:], dec[n:]
    assert_allclose(
        _separation(cal_ra, cal_dec, cal.ra, cal.dec).min(), 0.0, rtol=0, atol=1e-12
    )
    assert np.all(
        _separation(cal_ra, cal_dec, cal.ra, cal.dec) <= np.radians(2.0) + 1e-12
    )


def test_no_survey_leaves_clean_unmasked(tmp_path, make_config):
    from dsa110.catalogs import get_calibrator
    from dsa110.pipeline.stages import clean_mask_centres

    cal = get_calibrator("3C48")
    ctx = _context(tmp_path, make_config)
    assert clean_mask_centres(ctx, np.degrees(cal.ra), np.degrees(cal.dec), 2.0) is None


def test_outliers_are_the_bright_survey_sources_beyond_the_image(tmp_path, make_config):
    """Outside the image (512 x 8": 0.57 deg to an edge), inside the beam's main
    lobe and bright through it; nothing when switched off."""
    import pandas as pd

    from dsa110.pipeline import PipelineContext
    from dsa110.pipeline.stages import outlier_sources

    ra0, dec0 = 30.0, 40.0
    freq = np.linspace(1.31e9, 1.50e9, 8)
    rows = [  # (offset north deg, flux Jy)
        (0.3, 1.0),  # inside the image
        (1.0, 1.0),  # beyond its edge, ~0.7 Jy through the beam: an outlier
        (1.0, 0.005),  # beyond, but 3.5 mJy through the beam
        (4.5, 50.0),  # beyond the main lobe (first null ~3.3 deg)
    ]
    survey = pd.DataFrame(
        {
            "name": [f"S{i}" for i in range(len(rows))],
            "ra": ra0,
            "dec": [dec0 + d for d, _ in rows],
            "flux_int": [f for _, f in rows],
        }
    )
    config = make_config(tmp_path / "data", "photometry.min_catalog_flux_jy=0.001")
    ctx = PipelineContext(config)
    ctx.catalog_store.add(survey, ctx.config.photometry.survey)
    centre = (np.radians(ra0), np.radians(dec0))
    (found,) = outlier_sources(ctx, centre, freq)
    assert_allclose(np.degrees([found.ra, found.dec]), [ra0, dec0 + 1.0], atol=1e-9)
    assert found.flux == 1.0
    off = PipelineContext(
        make_config(tmp_path / "off", "imaging.outlier_min_apparent_jy=0")
    )
    off.catalog_store.add(survey, off.config.photometry.survey)
    assert outlier_sources(off, centre, freq) == []
