import numpy as np
import pytest
from numpy.testing import assert_allclose

pytest.importorskip("astropy_healpix")

from dsa110.photometry.beam import Beam  # noqa: E402
from dsa110.photometry.coverage import SurveyCoverage, image_coverage  # noqa: E402
from dsa110.photometry.simulate import simulate_image  # noqa: E402

BEAM = Beam(18 / 3600, 15 / 3600, 0)


def _img(centre, rms, seed):
    return simulate_image(
        (600, 600), beam=BEAM, rms=rms, cell_arcsec=6.0, centre=centre, rng=seed
    )


def test_image_coverage_area_and_depth():
    img = _img((30.0, 50.0), 2e-3, 1)
    cov = image_coverage(img, nside=512)
    import astropy_healpix

    area = len(cov) * astropy_healpix.nside_to_pixel_area(512).to_value("deg2")
    # 1° x 1° image; HEALPix pixels of 6.9' tile it to within the edge pixels (~5%)
    assert_allclose(area, 1.0, rtol=0.06)
    assert_allclose(np.median(cov["rms"]), 2e-3, rtol=0.05)


def test_survey_coverage_queries_and_depth(tmp_path):
    sc = SurveyCoverage(nside=512)
    sc.add("a", _img((30.0, 50.0), 2e-3, 1))
    sc.add("b", _img((31.2, 50.0), 2e-3, 2))  # 0.77° east of a: overlaps by ~0.23°
    assert sc.images_covering(30.0, 50.0) == ["a"]
    assert sc.images_covering(30.6, 50.0) == ["a", "b"]
    assert sc.images_covering(200.0, -20.0) == []
    d = sc.depth()
    both = d[d.n_images == 2]
    assert len(both) > 0
    # two equal-depth images combine to rms / sqrt(2)
    assert_allclose(both.combined_rms / both.best_rms, 1 / np.sqrt(2), rtol=0.05)
    sc.write(tmp_path / "cov.parquet")
    back = SurveyCoverage.read(tmp_path / "cov.parquet")
    assert back.images_covering(30.6, 50.0) == ["a", "b"]
    assert_allclose(back.area_deg2(), sc.area_deg2(), rtol=1e-12)
