"""The reader against pyuvdata on UVH5 files that pyuvdata itself writes."""

import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal

import dsa110.telescope  # noqa: F401  (offline IERS before pyuvdata computes LSTs)
from dsa110.errors import UnsupportedLayoutError
from dsa110.io import open_observation, read_uvh5_meta

pyuvdata = pytest.importorskip("pyuvdata")


def _hera_like(tmp_path, *, phased=False, descending=False, n_time=3, seed=0):
    """A small HERA-style drift-scan (or sidereal-phased) file written by pyuvdata."""
    from astropy import units as u
    from astropy.coordinates import EarthLocation
    from astropy.time import Time
    from pyuvdata import Telescope, UVData

    rng = np.random.default_rng(seed)
    loc = EarthLocation.from_geodetic(
        lon=21.4283 * u.deg, lat=-30.7215 * u.deg, height=1051.7 * u.m
    )
    n_ant = 5
    enu = rng.uniform(-150, 150, size=(n_ant, 3)) * [1, 1, 0.01]
    from pyuvdata.utils import ECEF_from_ENU

    ecef = ECEF_from_ENU(enu, center_loc=loc)
    tel = Telescope.new(
        name="HERA",
        location=loc,
        antenna_positions=ecef - np.array(loc.itrs.cartesian.xyz.to_value("m")),
        antenna_names=[f"HH{i}" for i in range(n_ant)],
        antenna_numbers=np.arange(n_ant) + 10,
        instrument="HERA",
        antenna_diameters=np.full(n_ant, 14.0),
        mount_type="fixed",
    )
    freqs = np.linspace(150e6, 160e6, 16)
    if descending:
        freqs = freqs[::-1]
    times = Time("2026-10-01T03:00:00").jd + np.arange(n_time) * 10.0 / 86400
    antpairs = [(10 + i, 10 + j) for i in range(n_ant) for j in range(i, n_ant)]
    uvd = UVData.new(
        freq_array=freqs,
        polarization_array=["xx", "yy"],
        antpairs=antpairs,
        times=times,
        telescope=tel,
        do_blt_outer=True,
        time_axis_faster_than_bls=False,
        integration_time=10.0,
        channel_width=np.abs(freqs[1] - freqs[0]),
        empty=True,
    )
    shape = uvd.data_array.shape
    uvd.data_array = (
        rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    ).astype(np.complex64)
    autos = uvd.ant_1_array == uvd.ant_2_array
    uvd.data_array[autos] = np.abs(uvd.data_array[autos]) + 10.0
    uvd.flag_array = rng.random(shape) < 0.1
    uvd.nsample_array = rng.uniform(0.5, 1.0, shape).astype(np.float32)
    if phased:
        uvd.phase(ra=np.radians(30.0), dec=np.radians(-30.0), cat_name="target")
    path = tmp_path / ("hera_phased.uvh5" if phased else "hera.uvh5")
    uvd.write_uvh5(str(path))
    return path


def _pyuvdata_read(path):
    from pyuvdata import UVData

    uvd = UVData()
    uvd.read(str(path))
    return uvd


@pytest.mark.parametrize("descending", [False, True])
def test_hera_style_drift_equals_pyuvdata(tmp_path, descending):
    path = _hera_like(tmp_path, descending=descending)
    uvd = _pyuvdata_read(path)
    ds = open_observation(path)
    nt, nbl = uvd.Ntimes, uvd.Nbls
    order = np.argsort(uvd.freq_array)
    ref = uvd.data_array.reshape(nt, nbl, uvd.Nfreqs, uvd.Npols)[:, :, order]
    assert_array_equal(ds.VISIBILITY.values, ref)  # same bytes, reordered
    assert_array_equal(ds.FLAG.values, uvd.flag_array.reshape(ref.shape)[:, :, order])
    assert_array_equal(
        ds.WEIGHT.values, uvd.nsample_array.reshape(ref.shape)[:, :, order]
    )
    assert_allclose(ds.frequency.values, np.sort(uvd.freq_array), rtol=0, atol=0)
    # JD → unix seconds: float64 JD resolves ~40 µs.
    assert_allclose(
        ds.time.values,
        (np.unique(uvd.time_array) - 2440587.5) * 86400,
        rtol=0,
        atol=1e-4,
    )
    assert_array_equal(ds.antenna1.values, uvd.ant_1_array[:nbl])
    assert_array_equal(ds.antenna2.values, uvd.ant_2_array[:nbl])
    assert list(ds.polarization.values) == ["XX", "YY"]
    assert_allclose(
        ds.antenna_position.values,
        uvd.telescope.antenna_positions + uvd.telescope._location.xyz(),
        rtol=0,
        atol=1e-6,
    )
    assert ds.attrs["phase_center_type"] == "meridian"
    # zenith drift: pointing = latitude
    assert_allclose(
        ds.attrs["pointing_dec"], uvd.telescope.location.lat.rad, rtol=0, atol=1e-12
    )


def test_hera_style_engine(tmp_path):
    path = _hera_like(tmp_path)
    ds = xr.open_dataset(path, engine="dsa110")
    ref = open_observation(path)
    assert_array_equal(ds.VISIBILITY.values, ref.VISIBILITY.values)
    assert_array_equal(
        ds.VISIBILITY[1, 2:5, ::3].values, ref.VISIBILITY.values[1, 2:5, ::3]
    )
    chunked = xr.open_dataset(path, engine="dsa110", chunks={"time": 1})
    assert_array_equal(chunked.FLAG.values, ref.FLAG.values)


def test_sidereal_phased_uvw_matches_pyuvdata(tmp_path, uvw_reference):
    path = _hera_like(tmp_path, phased=True)
    uvd = _pyuvdata_read(path)
    ds = open_observation(path)
    assert ds.attrs["phase_center_type"] == "fixed"
    assert_allclose(ds.phase_center_ra.values, np.radians(30.0), rtol=0, atol=1e-12)
    # pyuvdata's calc_uvw for the same centre and times (exact frame PA, see
    # conftest): the schema's 1 mm UVW tolerance.
    assert_allclose(ds.UVW.values, uvw_reference(ds), rtol=0, atol=1e-3)
    # The file's own UVW used pyuvdata's 0.5° finite-difference frame PA, which
    # rotates u, v by < 1e-5 rad: compare with that angular tolerance.
    stored = uvd.uvw_array.reshape(uvd.Ntimes, uvd.Nbls, 3)
    length = np.linalg.norm(stored, axis=-1, keepdims=True)
    assert_allclose(ds.UVW.values, stored, rtol=0, atol=1e-5 * length.max() + 1e-6)
    assert_array_equal(
        ds.VISIBILITY.values,
        uvd.data_array.reshape(uvd.Ntimes, uvd.Nbls, uvd.Nfreqs, uvd.Npols),
    )


def _two_centres(tmp_path, first):
    """The HERA-style file phased to (0.5, -0.5) where ``first(uvd)`` and
    to (0.7, -0.5) elsewhere: two catalog entries."""
    path = _hera_like(tmp_path)
    uvd = _pyuvdata_read(path)
    mask = first(uvd)
    uvd.phase(ra=0.5, dec=-0.5, cat_name="a", select_mask=mask)
    uvd.phase(ra=0.7, dec=-0.5, cat_name="b", select_mask=~mask)
    out = tmp_path / "multi.uvh5"
    uvd.write_uvh5(str(out))
    return out


def test_a_phase_centre_per_integration_is_read(tmp_path, uvw_reference):
    path = _two_centres(tmp_path, lambda uvd: uvd.time_array == uvd.time_array[0])
    ds = open_observation(path)
    assert ds.attrs["phase_center_type"] == "per_integration"
    assert_allclose(ds.phase_center_ra.values, [0.5, 0.7, 0.7], rtol=0, atol=1e-12)
    assert_allclose(ds.phase_center_dec.values, -0.5, rtol=0, atol=1e-12)
    assert_allclose(ds.UVW.values, uvw_reference(ds), rtol=0, atol=1e-3)


def test_phase_centres_that_change_within_an_integration_are_refused(tmp_path):
    path = _two_centres(tmp_path, lambda uvd: uvd.ant_1_array == 10)
    with pytest.raises(UnsupportedLayoutError, match="one integration"):
        read_uvh5_meta(path)


def test_baseline_major_order_is_refused(tmp_path):
    path = _hera_like(tmp_path)
    uvd = _pyuvdata_read(path)
    uvd.reorder_blts(order="baseline")
    out = tmp_path / "blmajor.uvh5"
    uvd.write_uvh5(str(out))
    with pytest.raises(UnsupportedLayoutError, match="time-major"):
        read_uvh5_meta(out)
