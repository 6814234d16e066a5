"""The simulator writes files exactly in the correlator's layout."""

import datetime as dt
import re
import warnings

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.phasing import baseline_uvw, meridian_centers, uvw_basis
from dsa110.simulate import (
    SimulationConfig,
    integration_times,
    load_truth,
    simulate_observation,
    unix_to_jd,
)
from dsa110.simulate.config import INTEGRATION_TIME_S, SMALL_ANTENNAS
from dsa110.telescope import (
    antenna_table,
    channel_width,
    default_site,
    subband_frequencies,
)
from tests.simulate.conftest import START

NAME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)_sb(\d\d)\.hdf5")


def _name_time(path):
    m = NAME.fullmatch(path.name)
    assert m, path.name
    return dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)


def test_file_names_count_and_jitter(small_run):
    outdir, tiles = small_run
    hdf5 = sorted(outdir.glob("*.hdf5"))
    assert len(hdf5) == 32  # 2 tiles × 16 subbands, nothing else (no temporaries)
    assert not list(outdir.glob(".*"))
    assert len(list(outdir.glob("*_truth.npz"))) == 2
    start = dt.datetime.fromisoformat(START).replace(tzinfo=dt.UTC)
    tile_s = 6 * INTEGRATION_TIME_S
    for tile in tiles:
        assert [int(NAME.fullmatch(p.name).group(2)) for p in tile.files] == list(
            range(16)
        )
        t0 = start + dt.timedelta(seconds=tile.index * tile_s)
        offsets = np.array([(_name_time(p) - t0).total_seconds() for p in tile.files])
        # jitter U(0, 40) s rounded to whole seconds, from the (fractional) tile start
        assert np.all(offsets >= -1) and np.all(offsets <= 41)
        assert np.unique(offsets).size > 4  # really jittered, not one timestamp


def test_time_array_identical_across_group_and_centred(small_run):
    _, tiles = small_run
    for tile in tiles:
        times = []
        for p in tile.files:
            with h5py.File(p) as f:
                times.append(f["Header/time_array"][:])
        for t in times[1:]:
            assert_array_equal(t, times[0])
        expected = unix_to_jd(
            integration_times(START, SimulationConfig.preset("small"), tile.index)
        )
        # one time per blt, time-major; JD float64 resolution is ~40 µs
        assert_allclose(np.unique(times[0]), expected, rtol=0, atol=1e-9)
        assert times[0].size == 6 * 78


def test_header_fields_and_shapes(small_run):
    _, tiles = small_run
    site = default_site()
    n_bl, n_t, n_f = 78, 6, 4
    with h5py.File(tiles[0].files[3]) as f:
        h, d = f["Header"], f["Data"]
        assert_allclose(h["latitude"][()], np.degrees(site.latitude_rad), rtol=1e-15)
        assert_allclose(h["longitude"][()], np.degrees(site.longitude_rad), rtol=1e-15)
        assert_allclose(h["altitude"][()], site.height_m, rtol=1e-15)
        for key, value in {
            "telescope_name": b"OVRO_MMA",
            "instrument": b"DSA",
            "phase_type": b"drift",
            "vis_units": b"uncalib",
        }.items():
            assert h[key][()] == value and h[key].dtype.kind == "S"
        ints = {
            "Nants_data": 12,
            "Nants_telescope": 117,
            "Nbls": n_bl,
            "Nblts": n_bl * n_t,
            "Nfreqs": n_f,
            "Npols": 2,
            "Ntimes": n_t,
            "Nspws": 1,
        }
        for key, value in ints.items():
            assert int(h[key][()]) == value, key
        assert h["uvw_array"].dtype == np.float32 and h["uvw_array"].shape == (
            n_bl * n_t,
            3,
        )
        assert h["time_array"].dtype == np.float64
        assert_allclose(h["integration_time"][:], INTEGRATION_TIME_S, rtol=1e-15)
        assert h["freq_array"].shape == (1, n_f)
        assert_allclose(h["channel_width"][()], channel_width(4), rtol=1e-15)
        assert_array_equal(h["spw_array"][:], [1])
        assert_array_equal(h["polarization_array"][:], [-5, -6])
        assert_array_equal(h["antenna_numbers"][:], np.arange(117))
        assert [n.decode() for n in h["antenna_names"][:]] == [
            str(i) for i in range(1, 118)
        ]
        assert_allclose(
            h["antenna_positions"][:],
            antenna_table().relative_ecef(site),
            rtol=0,
            atol=1e-9,
        )
        assert_allclose(h["antenna_diameters"][:], 4.65, rtol=1e-15)
        ek = h["extra_keywords"]
        assert_allclose(ek["phase_center_dec"][()], np.radians(33.0), rtol=1e-15)
        assert ek["ha_phase_center"][()] == 0.0
        assert ek["phase_center_epoch"][()] == b"HADEC"
        assert ek["fs_table"].dtype.kind == "S"
        delays = np.array(ek["applied_delays_ns"][()].decode().split()).astype(int)
        assert delays.reshape(-1, 2).shape == (117, 2)
        assert d["visdata"].dtype == np.complex64
        assert d["visdata"].shape == (n_bl * n_t, 1, n_f, 2)
        assert d["flags"].dtype == np.bool_ and d["nsamples"].dtype == np.float32
        # every per-blt dataset is resizable, auto-chunked and uncompressed
        for ds in (
            d["visdata"],
            d["flags"],
            d["nsamples"],
            h["uvw_array"],
            h["time_array"],
            h["ant_1_array"],
            h["ant_2_array"],
            h["integration_time"],
        ):
            assert ds.maxshape[0] is None and ds.chunks is not None
            assert ds.compression is None


def test_baseline_order_and_frequencies(small_run):
    _, tiles = small_run
    expected = [
        (i - 1, j - 1)
        for jj, j in enumerate(SMALL_ANTENNAS)
        for i in SMALL_ANTENNAS[: jj + 1]
    ]
    for sb, path in enumerate(tiles[0].files):
        with h5py.File(path) as f:
            a1, a2 = f["Header/ant_1_array"][:], f["Header/ant_2_array"][:]
            freqs = f["Header/freq_array"][0]
        pairs = list(zip(a1[:78].tolist(), a2[:78].tolist()))
        assert pairs == expected  # correlator order, autos included
        assert_array_equal(a1.reshape(6, 78), np.tile(a1[:78], (6, 1)))  # time-major
        assert_allclose(freqs, subband_frequencies(sb, n_chan=4), rtol=1e-15)
        assert np.all(np.diff(freqs) < 0)


def test_stored_uvw_is_first_integrations_meridian_uvw(small_run):
    _, tiles = small_run
    truth = load_truth(tiles[1].truth_path)
    site = default_site()
    t0 = truth.time_unix[:1]
    ra, dec = meridian_centers(t0, np.radians(33.0), site)
    basis = uvw_basis(ra, dec, t0, site)
    pos = antenna_table().relative_ecef(site)
    expected = baseline_uvw(pos, truth.ant1 - 1, truth.ant2 - 1, basis)[0]
    with h5py.File(tiles[1].files[0]) as f:
        uvw = f["Header/uvw_array"][:]
    # float32 storage of baselines up to ~2.5 km: ~1e-4 m rounding
    assert_allclose(
        uvw.reshape(6, 78, 3), np.broadcast_to(expected, (6, 78, 3)), rtol=0, atol=5e-4
    )


def test_pyuvdata_reads_each_file_and_the_group(small_run):
    pyuvdata = pytest.importorskip("pyuvdata")
    _, tiles = small_run
    uvs = []
    for path in tiles[0].files:
        uvd = pyuvdata.UVData()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyuvdata's own informational warnings
            uvd.read(str(path), file_type="uvh5", run_check=False)
            uvd.uvw_array = uvd.uvw_array.astype(float)
            assert uvd.check(strict_uvw_antpos_check=False)
        assert uvd.Nbls == 78 and uvd.Ntimes == 6 and uvd.Npols == 2
        assert uvd.telescope.name == "OVRO_MMA"
        uvs.append(uvd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = uvs[0].fast_concat(uvs[1:], axis="freq", inplace=False, run_check=False)
        assert group.check(strict_uvw_antpos_check=False)
    assert group.Nfreqs == 64
    with h5py.File(tiles[0].files[5]) as f:
        raw = f["Data/visdata"][:]
    assert_array_equal(uvs[5].data_array, raw[:, 0])


def test_consecutive_tiles_continue_in_time(small_run):
    _, tiles = small_run
    t0, t1 = (load_truth(t.truth_path) for t in tiles)
    # unix seconds ~1.8e9 in float64 resolve ~0.2 µs
    assert_allclose(
        t1.time_unix - t0.time_unix, 6 * INTEGRATION_TIME_S, rtol=0, atol=1e-6
    )
    assert_allclose(
        np.diff(np.concatenate([t0.time_unix, t1.time_unix])),
        INTEGRATION_TIME_S,
        rtol=0,
        atol=1e-6,
    )
    # the meridian moves east at the sidereal rate: ~15.04 arcsec/s of RA
    d_ra = np.degrees(
        np.unwrap(np.concatenate([t0.phase_center_ra, t1.phase_center_ra]))
    )
    assert_allclose(np.diff(d_ra) * 3600 / INTEGRATION_TIME_S, 15.041, rtol=2e-3)
    # the same sky: population sources near both tiles' meridians are shared
    shared = np.intersect1d(
        t0.source_ra[t0.source_population], t1.source_ra[t1.source_population]
    )
    assert shared.size > 10


def test_overwrite_refused(tmp_path, tiny_config):
    from dsa110.errors import OutputExistsError

    simulate_observation(tmp_path, config=tiny_config, population=False, seed=1)
    with pytest.raises(OutputExistsError):
        simulate_observation(tmp_path, config=tiny_config, population=False, seed=1)
    simulate_observation(
        tmp_path, config=tiny_config, population=False, seed=1, overwrite=True
    )
