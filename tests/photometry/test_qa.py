import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dsa110.photometry.qa import QAThresholds, image_qa
from dsa110.photometry.simulate import simulate_image
from tests.photometry.conftest import BEAM, CELL, CENTRE, RMS, SHAPE


@pytest.fixture(scope="module")
def sky(field):
    return pd.DataFrame(
        {"ra": field["ra"], "dec": field["dec"], "flux_int": field["flux"]}
    )


def test_good_image_passes(field, sky):
    rep = image_qa(field["image"], sky, rms_floor=RMS)
    assert rep.passed, rep.checks
    assert rep.n_matched > 50
    # flux scale 1 with ~1-2% scatter of the median for >50 bright sources
    assert_allclose(rep.flux_ratio, 1.0, atol=0.03)
    # no injected offset: consistent with zero within 4 standard errors
    assert abs(rep.offset_ra_arcsec) < 4 * rep.offset_ra_err_arcsec + 1e-3
    assert abs(rep.offset_dec_arcsec) < 4 * rep.offset_dec_err_arcsec + 1e-3
    assert rep.completeness >= 0.95
    assert_allclose(rep.rms, RMS, rtol=0.05)
    assert rep.to_dict()["passed"] is True


def test_flux_scale_offset_and_noise_fail(field, sky):
    rng = np.random.default_rng(5)
    shift = 3.0 / 3600  # 3" north
    img = simulate_image(
        SHAPE,
        beam=BEAM,
        ra=field["ra"],
        dec=field["dec"] + shift,
        flux=0.7 * field["flux"],
        rms=RMS,
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=rng,
    )
    rep = image_qa(
        img, sky, rms_floor=0.4 * RMS, thresholds=QAThresholds(max_offset_arcsec=1.0)
    )
    assert not rep.checks["flux_ratio"]
    assert_allclose(rep.flux_ratio, 0.7, atol=0.03)
    assert_allclose(rep.offset_dec_arcsec, 3.0, atol=0.3)
    assert not rep.checks["astrometry"]
    assert not rep.checks["rms"]
    assert not rep.passed


def test_missing_column(field):
    from dsa110.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        image_qa(field["image"], pd.DataFrame({"ra": [1.0], "dec": [2.0]}))
