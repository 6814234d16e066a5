"""Fixtures and references shared by the io tests."""

import numpy as np
import pytest

import dsa110.telescope  # noqa: F401  (offline IERS before pyuvdata computes LSTs)

#: pyuvdata's default frame position angle uses a ±0.5° finite difference, which
#: differs from the exact ICRS-north direction by ~9e-6 rad (2 cm on a 2.6 km
#: baseline). With a 1e-5 rad step it agrees with ours to < 0.02 mm, so the
#: reference below uses that step.
PYUVDATA_PA_OFFSET = 1e-5


def pyuvdata_uvw(ds):
    """UVW of every integration toward its phase centre, computed by pyuvdata.

    Parameters
    ----------
    ds : xarray.Dataset
        A visibility dataset.

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, 3)`` float64.
    """
    from astropy import units as u
    from astropy.coordinates import EarthLocation
    from pyuvdata.utils import phasing
    from pyuvdata.utils.times import get_lst_for_time

    loc = EarthLocation.from_geodetic(
        lon=ds.attrs["site_longitude"] * u.rad,
        lat=ds.attrs["site_latitude"] * u.rad,
        height=ds.attrs["site_height"] * u.m,
    )
    site_xyz = np.array([loc.x.value, loc.y.value, loc.z.value])
    rel = ds.antenna_position.values - site_xyz
    numbers = ds.antenna_number.values
    jd = ds.time.values / 86400.0 + 2440587.5
    n_bl = ds.sizes["baseline_id"]
    out = np.empty((jd.size, n_bl, 3))
    lst = get_lst_for_time(jd, telescope_loc=loc)
    for t in range(jd.size):
        app_ra, app_dec = phasing.calc_app_coords(
            lon_coord=ds.phase_center_ra.values[[t]],
            lat_coord=ds.phase_center_dec.values[[t]],
            coord_frame="icrs",
            time_array=jd[[t]],
            telescope_loc=loc,
        )
        pa = phasing.calc_frame_pos_angle(
            time_array=jd[[t]],
            app_ra=app_ra,
            app_dec=app_dec,
            telescope_loc=loc,
            ref_frame="icrs",
            offset_pos=PYUVDATA_PA_OFFSET,
        )
        ones = np.zeros(n_bl, dtype=int)
        out[t] = phasing.calc_uvw(
            app_ra=app_ra[ones],
            app_dec=app_dec[ones],
            frame_pa=pa[ones],
            lst_array=lst[[t] * n_bl],
            use_ant_pos=True,
            antenna_positions=rel,
            antenna_numbers=numbers,
            ant_1_array=ds.antenna1.values,
            ant_2_array=ds.antenna2.values,
            telescope_lat=loc.lat.rad,
            telescope_lon=loc.lon.rad,
        )
    return out


@pytest.fixture
def uvw_reference():
    return pyuvdata_uvw


@pytest.fixture(scope="session")
def small_group(tmp_path_factory):
    """One small simulated DSA-110 group (12 antennas, 16 × 4 channels, 6
    integrations) with noise, gains and RFI; returns the list of its files."""
    from dsa110.simulate import simulate_observation

    out = tmp_path_factory.mktemp("small_group")
    (tile,) = simulate_observation(out, preset="small", seed=7, rfi=True)
    return sorted(tile.files)


@pytest.fixture
def group_copy(small_group, tmp_path):
    """A private copy of the small group that a test may damage."""
    import shutil

    paths = []
    for p in small_group:
        dst = tmp_path / p.name
        shutil.copy2(p, dst)
        paths.append(dst)
    return paths
