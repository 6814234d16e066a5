import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dsa110.catalogs.surveys import (
    CANONICAL_COLUMNS,
    FLAG_DUPLICATE,
    FLAG_QUALITY,
    FLAG_SIDELOBE,
    read_survey,
    to_canonical,
)
from dsa110.errors import ConfigurationError, FileFormatError

# positions in the test files are rounded to 0.01 s / 0.1" (NVSS strings): 0.15"
POS_ATOL_DEG = 0.15 / 3600


def _check_common(df, truth):
    assert list(df.columns) == list(CANONICAL_COLUMNS)
    assert_allclose(df["ra"], truth["ra"], atol=POS_ATOL_DEG)
    assert_allclose(df["dec"], truth["dec"], atol=POS_ATOL_DEG)
    # mJy -> Jy exactly (float32 columns in some files: 1e-7 relative)
    assert_allclose(df["flux_int"], truth["sint"] * 1e-3, rtol=1e-6)


@pytest.mark.parametrize("fixture", ["nvss_fits", "nvss_tsv"])
def test_nvss(request, fixture, truth):
    df = read_survey(request.getfixturevalue(fixture), "nvss")
    _check_common(df, truth)
    # e_RAJ2000 is seconds of time: × 15 cos(dec) arcsec on the sky
    assert_allclose(
        df["ra_err"].iloc[0], 0.05 * 15 * np.cos(np.radians(41.26875)), rtol=1e-5
    )
    assert df["resolved"].tolist() == [False, True, True]
    assert_allclose(df["maj"], [0.0, 14.2, 5.0], rtol=1e-6)
    assert_allclose(df["min"], [0.0, 9.1, 0.0], rtol=1e-6)
    assert np.isnan(df["flux_peak"]).all()


def test_first(first_fits, truth):
    df = read_survey(first_fits, "first")
    _check_common(df, truth)
    assert_allclose(df["flux_peak"], truth["speak"] * 1e-3, rtol=1e-6)
    assert_allclose(df["rms"], [0.15e-3, 5e-3, 0.14e-3], rtol=1e-6)
    assert df["flag"].tolist() == [0, 0, FLAG_SIDELOBE]
    # source 3 has a deconvolved size but FINT/FPEAK = 1.03 is within its noise
    assert df["resolved"].tolist() == [False, True, False]


def test_vlass(vlass_csv, truth):
    df = read_survey(vlass_csv, "vlass")
    _check_common(df, truth)
    assert df["name"].iloc[1] == "VLASS1QLCIR J122906.70+020308.6"
    assert_allclose(df["flux_peak_err"], [0.15e-3, 0.2, 0.13e-3], rtol=1e-6)
    # Duplicate_flag 2 -> duplicate; Quality_flag 0 and 4 are good
    assert df["flag"].tolist() == [0, 0, FLAG_DUPLICATE | FLAG_QUALITY]


def test_racs(racs_xml, truth):
    df = read_survey(racs_xml, "racs")
    _check_common(df, truth)
    assert_allclose(df["rms"], [0.25e-3, 3e-3, 0.3e-3], rtol=1e-6)
    assert df["flag"].tolist() == [0, 0, FLAG_QUALITY]


def test_missing_column_named(tmp_path):
    path = tmp_path / "v.csv"
    pd.DataFrame({"RA": [1.0], "DEC": [2.0]}).to_csv(path, index=False)
    with pytest.raises(FileFormatError, match="Total_flux") as err:
        read_survey(path, "vlass")
    assert str(path) in str(err.value)


def test_bad_positions_and_unknown_survey(tmp_path):
    with pytest.raises(FileFormatError, match=r"dec: 1 row\(s\) not Dec within"):
        to_canonical(
            pd.DataFrame({"ra": [1.0], "dec": [95.0], "total_flux_source": [1.0]}),
            "racs",
        )
    # a typo'd RA is refused, not wrapped (400 -> 40); a flux must be a
    # positive number (an empty or 'abc' flux was stored as NaN)
    for ra, flux, match in (
        ([1.0, 400.0], [1.0, 1.0], r"ra: 1 row\(s\) not RA in \[-180, 360\]"),
        ([1.0, 2.0], [1.0, np.nan], r"flux_int: 1 row\(s\) not a positive flux"),
        ([1.0, 2.0], [1.0, -0.5], r"first: row 1, -0.0005"),
    ):
        table = {"ra": ra, "dec": [10.0, 10.0], "total_flux_source": flux}
        with pytest.raises(FileFormatError, match=match):
            to_canonical(pd.DataFrame(table), "racs")
    # an RA of -20 (the ±180 convention) is 340
    table = {"ra": [-20.0], "dec": [10.0], "total_flux_source": [1.0]}
    assert to_canonical(pd.DataFrame(table), "racs")["ra"].tolist() == [340.0]
    with pytest.raises(ConfigurationError):
        to_canonical(pd.DataFrame(), "sumss")
    with pytest.raises(FileFormatError):
        read_survey(tmp_path / "absent.csv", "nvss")
