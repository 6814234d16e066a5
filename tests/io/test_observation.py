"""open_observation on simulated DSA-110 groups: equality with pyuvdata, errors,
missing subbands, pickling to a distributed cluster, the xarray engine."""

import pickle
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal

from dsa110 import schema
from dsa110.errors import (
    CorruptFileError,
    DuplicateSubbandError,
    FrequencyOrderError,
    InconsistentGroupError,
    MissingSubbandError,
    NotUVH5Error,
    UnsupportedLayoutError,
)
from dsa110.io import load_observation, open_observation, parse_subband_filename
from dsa110.telescope import subband_frequencies


def _by_subband(paths):
    return {parse_subband_filename(p).subband: p for p in paths}


def test_schema_and_laziness(small_group):
    ds = open_observation(small_group)
    schema.validate(ds, check_values=True)
    import dask.array as da

    for var in ("VISIBILITY", "FLAG", "WEIGHT", "UVW"):
        assert isinstance(ds[var].data, da.Array)
    # One chunk per subband file along frequency, all integrations and baselines.
    assert len(ds.VISIBILITY.chunks[2]) == 16
    assert ds.VISIBILITY.chunks[0] == (ds.sizes["time"],)
    assert ds.attrs["subbands"] == list(range(16))
    assert np.all(np.diff(ds.frequency.values) > 0)
    assert_array_equal(ds.subband.values, np.repeat(np.arange(16)[::-1], 4))


# pyuvdata expects zenith (ENU) UVW for drift data; the correlator stores the
# meridian UVW at the pointing declination, so its check warns (as on real files).
@pytest.mark.filterwarnings("ignore:The uvw_array does not match")
def test_equals_pyuvdata(small_group, uvw_reference):
    pytest.importorskip("pyuvdata")
    from pyuvdata import UVData

    ds = open_observation(small_group)
    # As the observatory reads its files: each with run_check=False (the
    # correlator's UVW is float32), then combined along frequency.
    parts = []
    for p in small_group:
        part = UVData.from_file(str(p), file_type="uvh5", run_check=False)
        part.uvw_array = part.uvw_array.astype(np.float64)
        parts.append(part)
    uvd = parts[0].fast_concat(parts[1:], axis="freq", run_check=False)
    nt, nbl, nf, npol = uvd.Ntimes, uvd.Nbls, uvd.Nfreqs, uvd.Npols
    order = np.argsort(uvd.freq_array)

    # pyuvdata orders blts as the files do (time-major, the correlator's order).
    def reorder(a):
        return a.reshape(nt, nbl, nf, npol)[:, :, order]

    assert_array_equal(ds.VISIBILITY.values, reorder(uvd.data_array))
    assert_array_equal(ds.FLAG.values, reorder(uvd.flag_array))
    assert_array_equal(ds.WEIGHT.values, reorder(uvd.nsample_array))
    assert_allclose(ds.frequency.values, uvd.freq_array[order], rtol=0, atol=0)
    assert_allclose(ds.channel_width.values, uvd.channel_width[order], rtol=0, atol=0)
    # JD → unix seconds: float64 JD resolves ~40 µs.
    assert_allclose(
        ds.time.values,
        (np.unique(uvd.time_array) - 2440587.5) * 86400,
        rtol=0,
        atol=1e-4,
    )
    assert_allclose(
        ds.integration_time.values, uvd.integration_time[::nbl], rtol=0, atol=0
    )
    assert_array_equal(ds.antenna1.values, uvd.ant_1_array[:nbl])
    assert_array_equal(ds.antenna2.values, uvd.ant_2_array[:nbl])
    assert_array_equal(ds.antenna_name.values, uvd.telescope.antenna_names)
    assert_array_equal(ds.antenna_number.values, uvd.telescope.antenna_numbers)
    assert_allclose(
        ds.antenna_position.values,
        uvd.telescope.antenna_positions + uvd.telescope._location.xyz(),
        rtol=0,
        atol=1e-6,
    )
    assert list(ds.polarization.values) == ["XX", "YY"]
    assert uvd.extra_keywords["phase_center_dec"] == ds.attrs["pointing_dec"]
    # UVW: ours per integration against pyuvdata's calc_uvw for the same centres
    # (1 mm, the schema tolerance) ...
    assert_allclose(ds.UVW.values, uvw_reference(ds), rtol=0, atol=1e-3)
    # ... and the correlator's stored float32 UVW (computed once, for the first
    # integration): equal there to float32 rounding on ≤ 2.6 km (0.3 mm).
    stored = uvd.uvw_array.reshape(nt, nbl, 3)
    assert_allclose(ds.UVW.values[0], stored[0], rtol=0, atol=1e-3)
    # pyuvdata's check passes on what it read, once UVW is float64.
    uvd.check(strict_uvw_antpos_check=False)


def test_compute_reads_only_requested_integrations(small_group):
    ds = open_observation(small_group, chunks={"time": 2})
    full = open_observation(small_group).VISIBILITY.values
    assert ds.VISIBILITY.chunks[0] == (2, 2, 2)
    assert_array_equal(ds.VISIBILITY.isel(time=slice(2, 4)).values, full[2:4])
    assert_array_equal(
        ds.VISIBILITY.isel(time=5, frequency=slice(3, 9)).values, full[5, :, 3:9]
    )


def test_xarray_engine(small_group):
    one = small_group[3]
    ds = xr.open_dataset(one, engine="dsa110")
    ref = open_observation(
        [one], expected_subbands=[parse_subband_filename(one).subband]
    )
    assert_array_equal(ds.VISIBILITY.values, ref.VISIBILITY.values)
    assert_array_equal(
        ds.VISIBILITY[2, 5:9, ::2].values, ref.VISIBILITY.values[2, 5:9, ::2]
    )
    # guess_can_open works on the HDF5 signature.
    assert xr.open_dataset(one).sizes["frequency"] == 4
    group = xr.open_dataset(one.parent, engine="dsa110")
    assert group.sizes["frequency"] == 64


def test_missing_subband(group_copy):
    sb = _by_subband(group_copy)
    sb[5].unlink()
    sb[12].unlink()
    paths = [p for p in group_copy if p.exists()]
    with pytest.raises(MissingSubbandError, match="sb05, sb12") as info:
        open_observation(paths)
    # Names the option for library and CLI users.
    assert "missing='flag'" in str(info.value) and "--missing flag" in str(info.value)
    assert info.value.missing == (5, 12)
    ds = open_observation(paths, missing="flag")
    full = np.sort(
        np.concatenate([subband_frequencies(s, n_chan=4) for s in range(16)])
    )
    assert_allclose(ds.frequency.values, full, rtol=0, atol=1e-3)
    assert ds.attrs["missing_subbands"] == [5, 12]
    filled = np.isin(ds.subband.values, [5, 12])
    assert ds.FLAG.values[:, :, filled].all()
    assert not np.any(ds.VISIBILITY.values[:, :, filled])
    skipped = open_observation(paths, missing="skip")
    assert skipped.sizes["frequency"] == 56


def test_duplicate_subband(group_copy, tmp_path):
    sb = _by_subband(group_copy)
    dup = tmp_path / "2026-11-24T00:00:59_sb03.hdf5"
    shutil.copy2(sb[3], dup)
    with pytest.raises(DuplicateSubbandError, match="sb03"):
        open_observation([*group_copy, dup])


def _edit(path, name, func):
    with h5py.File(path, "r+") as fh:
        data = fh[name][()]
        del fh[name]
        fh[name] = func(data)


@pytest.mark.parametrize(
    ("name", "func", "field"),
    [
        ("Header/time_array", lambda a: a + 30.0 / 86400, "time_array"),
        (
            "Header/polarization_array",
            lambda a: np.array([-7, -8]),
            "polarization_array",
        ),
        (
            "Header/extra_keywords/phase_center_dec",
            lambda a: a + 0.1,
            "phase_center_dec",
        ),
        ("Header/antenna_positions", lambda a: a + 1.0, "antenna_positions"),
        ("Header/channel_width", lambda a: a / 2, "channel_width"),
    ],
)
def test_inconsistent_subbands(group_copy, name, func, field):
    target = _by_subband(group_copy)[9]
    _edit(target, name, func)
    with pytest.raises(InconsistentGroupError, match=field) as info:
        open_observation(group_copy)
    assert target.name in str(info.value)


def test_a_subband_with_another_channel_count(group_copy):
    # It was accepted: a band with a 2-channel subband among 4-channel ones.
    from pyuvdata import UVData

    target = _by_subband(group_copy)[5]
    uvd = UVData.from_file(str(target), file_type="uvh5", run_check=False)
    uvd.uvw_array = uvd.uvw_array.astype(np.float64)
    uvd.frequency_average(2)
    target.unlink()
    uvd.write_uvh5(str(target), run_check=False)
    with pytest.raises(InconsistentGroupError, match="Nfreqs") as info:
        open_observation(group_copy)
    assert target.name in str(info.value)


def test_inconsistent_baselines(group_copy):
    target = _by_subband(group_copy)[2]

    def swap(a):
        b = a.copy()
        n = b.size // 6
        b[:n][[1, 2]] = b[:n][[2, 1]]  # (a0, a1), (a1, a1) -> ant_1 differs
        b[n:] = np.tile(b[:n], 5)
        return b

    _edit(target, "Header/ant_1_array", swap)
    with pytest.raises(InconsistentGroupError, match="ant_1_array"):
        open_observation(group_copy)


def test_overlapping_frequencies(group_copy):
    sb = _by_subband(group_copy)
    with h5py.File(sb[4], "r") as fh:
        freq4 = fh["Header/freq_array"][()]
    _edit(sb[7], "Header/freq_array", lambda a: freq4 - 1e3)
    with pytest.raises(FrequencyOrderError, match="overlap"):
        open_observation(group_copy)


def test_non_monotonic_frequencies(group_copy):
    target = _by_subband(group_copy)[1]
    _edit(target, "Header/freq_array", lambda a: a[:, [1, 0, 2, 3]])
    with pytest.raises(UnsupportedLayoutError, match="monotonic") as info:
        open_observation(group_copy)
    assert target.name in str(info.value) and "freq_array" in str(info.value)


def test_truncated_file(group_copy):
    target = _by_subband(group_copy)[6]
    size = target.stat().st_size
    with open(target, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(CorruptFileError, match=target.name):
        ds = open_observation(group_copy)
        ds.VISIBILITY.values  # noqa: B018 - a damaged file may only fail on read


def _hdf5_structures(path):
    """Byte offsets of a file's HDF5 structures: every object header, and every
    symbol-table node, B-tree (group or chunk index) and local heap."""
    raw = path.read_bytes()
    starts = [
        m.start() for sig in (b"SNOD", b"TREE", b"HEAP") for m in re.finditer(sig, raw)
    ]
    with h5py.File(path, "r") as fh:
        fh.visit(lambda name: starts.append(h5py.h5o.get_info(fh[name].id).addr))
    return sorted(set(starts))


def test_damaged_hdf5_structures_raise_corrupt_file_error(group_copy, tmp_path):
    # Garbage in any of them made h5py raise RuntimeError, KeyError or (through
    # a link it could not open) TypeError, as a traceback not naming the file.
    source = _by_subband(group_copy)[5]
    raw = source.read_bytes()
    garbage = np.random.default_rng(1).integers(0, 256, 16, dtype=np.uint8).tobytes()
    n_failed = 0
    for k, start in enumerate(_hdf5_structures(source)):
        damaged = tmp_path / f"d{k}" / source.name
        damaged.parent.mkdir()
        damaged.write_bytes(raw[:start] + garbage + raw[start + len(garbage) :])
        try:
            load_observation(open_observation([damaged], missing="skip"))
        except CorruptFileError as exc:
            assert str(damaged) in str(exc)
            n_failed += 1
    assert n_failed > 20


def test_short_data_set(group_copy):
    target = _by_subband(group_copy)[6]
    with h5py.File(target, "r+") as fh:
        fh["Data/visdata"].resize(fh["Data/visdata"].shape[0] - 10, axis=0)
    with pytest.raises(CorruptFileError, match="visdata"):
        open_observation(group_copy)


def test_missing_header_field(group_copy):
    target = _by_subband(group_copy)[0]
    with h5py.File(target, "r+") as fh:
        del fh["Header/ant_2_array"]
    with pytest.raises(CorruptFileError, match="ant_2_array"):
        open_observation(group_copy)


def test_not_uvh5(group_copy, tmp_path):
    text = tmp_path / "2026-11-24T00:00:01_sb00.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(NotUVH5Error, match="signature"):
        open_observation([text])
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as fh:
        fh["x"] = np.arange(3)
    with pytest.raises(NotUVH5Error, match="Header"):
        open_observation([other])


def test_pickle_and_distributed(small_group):
    distributed = pytest.importorskip("distributed")
    ds = open_observation(small_group, chunks={"time": 3})
    expected = ds.VISIBILITY.values
    restored = pickle.loads(pickle.dumps(ds))
    assert_array_equal(restored.VISIBILITY.values, expected)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        total = client.compute(
            ds.VISIBILITY.sum(dim=("baseline_id", "polarization"))
        ).result()
        weights = client.compute(ds.WEIGHT).result()
    assert_allclose(total.values, expected.sum(axis=(1, 3)), rtol=1e-5)
    assert_array_equal(weights.values, ds.WEIGHT.values)


def test_open_is_fast(small_group):
    import time

    open_observation(small_group)  # warm imports
    start = time.perf_counter()
    open_observation(small_group)
    # Metadata only; the full-size figure is in benchmarks/RESULTS.md.
    assert time.perf_counter() - start < 2.0


def test_info_cli(small_group, capsys):
    from dsa110.cli import main

    assert main(["info", str(small_group[0].parent)]) == 0
    out = capsys.readouterr().out
    assert "pointing dec    : +33.0000 deg" in out
    assert "12 with data of 117" in out
    assert "missing         : none" in out
    # A library error is printed, not raised.
    assert main(["info", str(small_group[0].parent / "nope")]) == 1


@pytest.mark.parametrize(
    "layout",
    [
        {"chunks": (5, 1, 3, 2)},  # several pols per chunk, ragged edges
        {"chunks": (7, 1, 4, 1), "ascending": True},  # no flip
        {"chunks": None},  # contiguous: h5py fallback
        {"chunks": (16, 1, 4, 2), "compression": "gzip"},  # filtered: fallback
        {"chunks": (16, 1, 4, 2), "dtype": {"WEIGHT": np.float64}},  # other stored type
        {"chunks": (9, 4, 2), "no_spw_axis": True},  # current UVH5 shapes
    ],
)
def test_chunk_copy_and_fallback_agree_with_h5py(small_group, tmp_path, layout):
    """The memory-map chunk copy and the h5py fallback give h5py's values, flipped."""
    from dsa110.io.uvh5 import DATA_FIELDS, UVH5DataArray, read_uvh5_meta

    target = tmp_path / "one.hdf5"
    shutil.copy(small_group[2], target)
    expected = {}
    with h5py.File(target, "r+") as fh:
        if layout.get("ascending"):
            fh["Header/freq_array"][...] = fh["Header/freq_array"][()][:, ::-1]
        for var, (dname, dtype) in DATA_FIELDS.items():
            data = fh[dname][()]
            if layout.get("ascending"):
                data = data[:, :, ::-1]
            if layout.get("no_spw_axis"):
                data = data[:, 0]
            del fh[dname]
            stored = layout.get("dtype", {}).get(var, data.dtype)
            fh.create_dataset(
                dname,
                data=data.astype(stored),
                chunks=layout["chunks"],
                compression=layout.get("compression"),
                maxshape=None if layout["chunks"] is None else (None, *data.shape[1:]),
            )
            flat = data.reshape(data.shape[0], *data.shape[-2:]).astype(dtype)
            expected[var] = flat if layout.get("ascending") else flat[:, ::-1]
    meta = read_uvh5_meta(target)
    n_bl = meta.n_baseline
    for var, want in expected.items():
        arr = UVH5DataArray(meta, var)
        plain = layout["chunks"] is not None and "compression" not in layout
        assert (arr.handle.chunk_layout(DATA_FIELDS[var][0]) is not None) == plain
        want = want.reshape(meta.n_time, n_bl, *want.shape[1:])
        got = arr[1:4]
        assert got.flags.c_contiguous and got.dtype == np.dtype(DATA_FIELDS[var][1])
        assert_array_equal(got, want[1:4])
        assert_array_equal(arr[:], want)
        assert_array_equal(arr[5, 2:7], want[5, 2:7])


@pytest.mark.parametrize("chunks", [None, {"time": 4}])
def test_load_observation_equals_dask(group_copy, chunks):
    from dsa110.io.observation import load_observation

    sb = _by_subband(group_copy)
    sb[9].unlink()  # a missing subband filled with flagged zeros
    paths = [p for p in group_copy if p.exists()]
    ds = open_observation(paths, missing="flag", chunks=chunks)
    out = load_observation(ds, nthreads=2)
    for var in ("VISIBILITY", "FLAG", "WEIGHT"):
        assert isinstance(out[var].data, np.ndarray)
        assert out[var].data.flags.c_contiguous and out[var].dtype == ds[var].dtype
        assert_array_equal(out[var].values, ds[var].values)
    assert out.FLAG.values[:, :, ds.subband.values == 9].all()
    assert_array_equal(out.UVW.values, ds.UVW.values)
    # A selection is no longer the opened array: loaded through dask instead.
    sel = ds.isel(time=slice(1, 3), frequency=slice(5, 40))
    part = load_observation(sel, ["VISIBILITY"])
    assert_array_equal(part.VISIBILITY.values, ds.VISIBILITY.values[1:3, :, 5:40])


def test_replaced_file_is_read_afresh(tmp_path):
    # A file rewritten at the same path (a re-simulation, a re-copied group)
    # must not be served from a handle cached on the old file.
    from dsa110.simulate import point_source, simulate_observation

    out = tmp_path / "g"
    sky = dict(
        preset="small",
        seed=3,
        population=False,
        noise=False,
        gains=False,
        sources=point_source(0.0, 0.0, 0.0),
    )
    (tile,) = simulate_observation(out, **sky)
    before = open_observation(tile.files).VISIBILITY.values
    (tile2,) = simulate_observation(out, **sky, rfi=True, overwrite=True)
    after = open_observation(tile2.files).VISIBILITY.values
    assert np.abs(after - before).max() > 1.0  # the RFI of the new files is seen


@pytest.mark.parametrize("chunks", [{"frequency": -1}, {"frequency": -1, "time": 4}])
def test_whole_band_chunks_equal_file_chunks(group_copy, chunks):
    """Whole-band chunks (read from every file into one buffer) = the default layout."""
    from dsa110.io.observation import load_observation

    sb = _by_subband(group_copy)
    sb[9].unlink()  # a missing subband filled with flagged zeros
    paths = [p for p in group_copy if p.exists()]
    ref = open_observation(paths, missing="flag")
    ds = open_observation(paths, missing="flag", chunks=chunks)
    n_time = ds.sizes["time"]
    t_chunk = chunks.get("time", n_time)  # default: ~64 MB, here all integrations
    for var in ("VISIBILITY", "FLAG", "WEIGHT"):
        data = ds[var].data
        assert data.chunks[2] == (ds.sizes["frequency"],)
        assert data.chunks[0][0] == min(t_chunk, n_time)
        assert_array_equal(data.compute(), ref[var].values)
        # Any sub-block (dask slices a chunk after reading it).
        assert_array_equal(
            data[1:3, 2:9, 5:40, 1:].compute(), ref[var].values[1:3, 2:9, 5:40, 1:]
        )
    assert ds.FLAG.values[:, :, ds.subband.values == 9].all()
    loaded = load_observation(ds, nthreads=2)
    assert_array_equal(loaded.VISIBILITY.values, ref.VISIBILITY.values)
    with pytest.raises(ValueError, match="frequency chunks"):
        open_observation(paths, missing="flag", chunks={"frequency": 8})


def _open_descriptors(paths):
    """How many of this process's file descriptors point at ``paths``."""
    import os

    targets = {str(p.resolve()) for p in paths}
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") in targets
        except OSError:
            pass
    return n


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_close_files_releases_descriptors_and_reads_reopen(group_copy):
    """A long-running worker lets go of a group's files; later reads reopen them."""
    from dsa110.io.h5handle import close_files

    ref = open_observation(group_copy).VISIBILITY.values
    whole = open_observation(group_copy, chunks={"frequency": -1}).VISIBILITY.values
    assert_array_equal(whole, ref)
    assert _open_descriptors(group_copy) >= len(group_copy)  # cached for later tasks
    close_files(group_copy)
    assert _open_descriptors(group_copy) == 0
    again = open_observation(group_copy, chunks={"frequency": -1}).VISIBILITY.values
    assert_array_equal(again, ref)
    close_files(group_copy)
    assert _open_descriptors(group_copy) == 0
