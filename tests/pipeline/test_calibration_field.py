"""The calibrator solve's field model: the reference survey's sources through the beam."""

import numpy as np
import pytest


@pytest.fixture
def field_setup(tmp_path, make_config):
    from dsa110.catalogs import get_calibrator, synthetic_nvss
    from dsa110.pipeline import PipelineContext
    from dsa110.testing import make_visibility_dataset

    cal = get_calibrator("3C48")
    ds = make_visibility_dataset(
        sources=[], n_time=1, n_chan_per_subband=2, subbands=[0, 15], dec_deg=33.16
    )

    def build(*overrides):
        ctx = PipelineContext(make_config(tmp_path / "data", *overrides))
        survey = synthetic_nvss(
            ra=np.degrees(cal.ra),
            dec=np.degrees(cal.dec),
            radius=4.0,
            smin=0.01,
            smax=2.0,
            n=80,
            rng=5,
        )
        ctx.catalog_store.add(survey, ctx.config.photometry.survey, overwrite=True)
        return ctx, survey

    return cal, ds, build


def test_field_is_the_survey_above_the_apparent_cut(field_setup):
    from dsa110.catalogs import angular_separation
    from dsa110.pipeline.stages import calibration_field
    from dsa110.telescope import airy_beam

    cal, ds, build = field_setup
    ctx, survey = build()
    field = calibration_field(ctx, ds, cal)
    cut = ctx.config.calibration.field_min_apparent_jy
    freq = float(np.mean(ds["frequency"].values))
    sep = angular_separation(
        survey["ra"].to_numpy(),
        survey["dec"].to_numpy(),
        np.degrees(cal.ra),
        np.degrees(ds.attrs["pointing_dec"]),
    )
    apparent = survey["flux_int"].to_numpy() * airy_beam(np.radians(sep), freq)
    in_store = (
        survey["flux_int"].to_numpy() >= ctx.config.photometry.min_catalog_flux_jy
    )
    expected = np.sort(survey["ra"].to_numpy()[in_store & (apparent >= cut)])
    assert 0 < len(field) < len(survey)
    got = np.sort([np.degrees(s.ra) for s in field])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # brightest through the beam first
    app = [
        s.flux
        * airy_beam(
            np.radians(
                angular_separation(
                    np.degrees(s.ra),
                    np.degrees(s.dec),
                    np.degrees(cal.ra),
                    np.degrees(ds.attrs["pointing_dec"]),
                )
            ),
            freq,
        )
        for s in field
    ]
    assert np.all(np.diff(app) <= 0)


def test_field_model_off_or_higher_cut(field_setup):
    from dsa110.pipeline.stages import calibration_field

    cal, ds, build = field_setup
    ctx, _ = build("calibration.field_model=false")
    assert calibration_field(ctx, ds, cal) == []
    ctx, _ = build("calibration.field_min_apparent_jy=0.2")
    bright = calibration_field(ctx, ds, cal)
    ctx, _ = build()
    assert len(bright) < len(calibration_field(ctx, ds, cal))
