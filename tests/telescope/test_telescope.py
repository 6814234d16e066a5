"""The telescope model: antenna table, frequency plan, beam, offline IERS."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.errors import EarthOrientationWarning, FileFormatError
from dsa110.telescope import (
    ACTIVE_ANTENNAS,
    airy_beam,
    antenna_table,
    beam_fwhm,
    default_site,
    group_frequencies,
    read_station_csv,
    subband_frequencies,
    subband_of_frequency,
)

SHARED_CSV = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "DSA110_Station_Coordinates.csv"
)


def test_active_antennas():
    assert len(ACTIVE_ANTENNAS) == 96
    assert sum(1 for a in ACTIVE_ANTENNAS if a <= 51) == 47
    assert sum(1 for a in ACTIVE_ANTENNAS if 68 <= a <= 102) == 35
    assert sum(1 for a in ACTIVE_ANTENNAS if a >= 103) == 14
    assert not {10, 21, 22, 23} & set(ACTIVE_ANTENNAS)


def test_bundled_table_equals_observatory_csv():
    if not SHARED_CSV.exists():
        pytest.skip("observatory CSV not beside the repository")
    ref = read_station_csv(SHARED_CSV)
    table = antenna_table()
    assert_array_equal(table.numbers, np.arange(1, 118))
    assert_allclose(table.ecef, ref.ecef, rtol=0, atol=1e-6)
    assert table.height_filled.tolist() == ref.height_filled.tolist()


def test_antenna_geometry():
    table = antenna_table()
    enu = table.enu()
    # The E-W arm runs east-west: stations 1..51 share a latitude.
    ew = enu[:51]
    assert np.ptp(ew[:, 1]) < 1.0
    assert_allclose(np.diff(ew[:5, 0]), 5.75, atol=0.05)  # 5.75 m spacing
    # Longest baseline among active antennas ~ 2.5 km (outriggers).
    act = table.active
    pos = table.ecef[act]
    longest = np.max(np.linalg.norm(pos[:, None] - pos[None], axis=-1))
    assert 2000 < longest < 3000


def test_bad_station_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(",Station Number,Latitude\n,DSA-001,notanumber,1,2\n")
    with pytest.raises(FileFormatError, match="bad.csv"):
        read_station_csv(bad)
    (tmp_path / "empty.csv").write_text("nothing here\n")
    with pytest.raises(FileFormatError, match="no DSA-NNN"):
        read_station_csv(tmp_path / "empty.csv")


def test_frequency_plan():
    f0 = subband_frequencies(0)
    f15 = subband_frequencies(15)
    assert_allclose(
        [f0[0], f0[-1]], [1498.6431884765625e6, 1487.1685791015625e6], rtol=0, atol=1e-3
    )
    assert_allclose(
        [f15[0], f15[-1]],
        [1322.8619384765625e6, 1311.3873291015625e6],
        rtol=0,
        atol=1e-3,
    )
    g = group_frequencies()
    assert g.size == 768 and np.all(np.diff(g) > 0)
    assert_allclose(np.diff(g), 244140.625, rtol=0, atol=1e-6)
    assert_array_equal(subband_of_frequency(f15), 15)
    # Coarser small-simulation channels span the same subband.
    f4 = subband_frequencies(3, n_chan=4)
    assert_allclose(f4.mean(), subband_frequencies(3).mean(), rtol=0, atol=1e-3)
    with pytest.raises(ValueError):
        subband_frequencies(0, n_chan=5)


def test_airy_beam():
    fwhm = beam_fwhm(1.4e9)
    assert_allclose(np.degrees(fwhm), 2.715, atol=0.01)
    assert_allclose(airy_beam(fwhm / 2, 1.4e9), 0.5, atol=1e-3)
    assert_allclose(airy_beam(0.0, 1.4e9), 1.0)
    # First null at 1.2197 λ/D.
    assert_allclose(
        airy_beam(np.arcsin(1.21967 * 299792458 / 1.4e9 / 4.65), 1.4e9), 0.0, atol=1e-8
    )
    assert airy_beam(np.zeros((3, 1)), np.ones(4) * 1.4e9).shape == (3, 4)
    # nothing from behind the aperture (sin θ alone gave 180° the full response)
    assert_array_equal(airy_beam(np.radians([91.0, 117.0, 180.0]), 1.4e9), 0.0)


def test_offline_iers_beyond_table():
    # Far beyond astropy's bundled table: must work, warning once.
    from astropy.time import Time

    from dsa110.phasing import meridian_centers
    from dsa110.telescope import time as dtime

    dtime._warned = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ra, dec = meridian_centers(
            Time("2031-06-01T00:00:00").unix + np.arange(3) * 12.9,
            np.radians(33.0),
            default_site(),
        )
    assert np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))
    assert sum(issubclass(w.category, EarthOrientationWarning) for w in caught) == 1
    # The meridian at LST: RA of the meridian ≈ local sidereal time.
    lst = (
        Time("2031-06-01T00:00:00")
        .sidereal_time("apparent", longitude=default_site().earth_location.lon)
        .rad
    )
    assert_allclose(np.angle(np.exp(1j * (ra[0] - lst))), 0.0, atol=np.radians(0.5))
