"""write_ms / read_ms: round trips, layout options, pyuvdata agreement, atomicity."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110 import schema
from dsa110.errors import ConfigurationError, FileFormatError, OutputExistsError
from dsa110.io.ms import read_ms, write_ms
from dsa110.io.ms_reader import UnsupportedMSError
from dsa110.io.uvh5_writer import to_uvdata

tables = pytest.importorskip("casacore.tables")

SUBTABLES = [
    "ANTENNA",
    "FEED",
    "FIELD",
    "SPECTRAL_WINDOW",
    "POLARIZATION",
    "DATA_DESCRIPTION",
    "OBSERVATION",
    "STATE",
    "HISTORY",
    "POINTING",
    "SOURCE",
]


def _col(ms, col, table=""):
    with tables.table(f"{ms}{'::' + table if table else ''}", ack=False) as t:
        return t.getcol(col)


@pytest.mark.parametrize("spw", ["merged", "subband"])
def test_roundtrip_per_integration(assert_dataset_equal, vis_ds, tmp_path, spw):
    path = write_ms(
        vis_ds, tmp_path / "a.ms", fields="per_integration", spw=spw, n_chan_per_spw=4
    )
    back = read_ms(path)
    schema.validate(back)
    assert_dataset_equal(back, vis_ds)
    assert back.attrs == vis_ds.attrs
    n_spw = 1 if spw == "merged" else 4
    assert len(_col(path, "NUM_CHAN", "SPECTRAL_WINDOW")) == n_spw
    assert len(_col(path, "NAME", "FIELD")) == vis_ds.sizes["time"]


def test_roundtrip_single_field(assert_dataset_equal, fixed_ds, tmp_path):
    path = write_ms(fixed_ds, tmp_path / "a.ms")
    back = read_ms(path)
    assert_dataset_equal(back, fixed_ds)
    assert len(_col(path, "NAME", "FIELD")) == 1
    assert np.unique(_col(path, "SCAN_NUMBER")).tolist() == [1]


def test_single_field_rephases_meridian_data(
    assert_dataset_equal, vis_ds, fixed_ds, tmp_path
):
    path = write_ms(vis_ds, tmp_path / "a.ms", fields="single")
    back = read_ms(path).compute()
    # Same rephasing as the fixture; float64 phases, complex64 storage.
    assert_dataset_equal(back, fixed_ds)


def test_lazy_dask_input_streams(assert_dataset_equal, vis_ds, tmp_path):
    lazy = vis_ds.chunk({"time": 1, "frequency": 4})
    path = write_ms(lazy, tmp_path / "a.ms", fields="per_integration", time_chunk=1)
    back = read_ms(path, chunks={"time": 1})
    assert back["VISIBILITY"].data.numblocks[0] == vis_ds.sizes["time"]
    assert_dataset_equal(back, vis_ds)


@pytest.mark.parametrize("fields", ["per_integration", "single"])
def test_columns_match_pyuvdata_write_ms(vis_ds, fixed_ds, tmp_path, fields):
    ds = vis_ds if fields == "per_integration" else fixed_ds
    ours = write_ms(ds, tmp_path / "ours.ms", fields=fields)
    theirs = str(tmp_path / "theirs.ms")
    to_uvdata(ds).write_ms(theirs)
    for col in ("DATA", "FLAG", "ANTENNA1", "ANTENNA2", "FIELD_ID", "DATA_DESC_ID"):
        assert_array_equal(_col(ours, col), _col(theirs, col), err_msg=col)
    # MJD seconds; pyuvdata goes through a float64 JD, whose ulp is 40 µs.
    assert_allclose(_col(ours, "TIME"), _col(theirs, "TIME"), rtol=0, atol=1e-4)
    # The bound for UVW: 1 mm.
    assert_allclose(_col(ours, "UVW"), _col(theirs, "UVW"), rtol=0, atol=1e-3)
    assert_allclose(
        _col(ours, "WEIGHT_SPECTRUM"), _col(theirs, "WEIGHT_SPECTRUM"), rtol=0, atol=0
    )
    assert_allclose(
        _col(ours, "CHAN_FREQ", "SPECTRAL_WINDOW"),
        _col(theirs, "CHAN_FREQ", "SPECTRAL_WINDOW"),
        rtol=1e-12,
    )
    # Field directions: ICRS radians, 1e-9 rad = schema tolerance.
    assert_allclose(
        _col(ours, "PHASE_DIR", "FIELD"),
        _col(theirs, "PHASE_DIR", "FIELD"),
        rtol=0,
        atol=1e-9,
    )
    assert_allclose(
        _col(ours, "POSITION", "ANTENNA"),
        _col(theirs, "POSITION", "ANTENNA"),
        rtol=0,
        atol=1e-3,
    )
    assert_array_equal(
        _col(ours, "CORR_TYPE", "POLARIZATION"),
        _col(theirs, "CORR_TYPE", "POLARIZATION"),
    )


def test_reads_pyuvdata_written_ms(assert_dataset_equal, vis_ds, tmp_path):
    path = str(tmp_path / "theirs.ms")
    to_uvdata(vis_ds).write_ms(path)
    back = read_ms(path)
    schema.validate(back)
    assert_dataset_equal(back, vis_ds)
    assert back.attrs["telescope_name"] == vis_ds.attrs["telescope_name"]
    # pyuvdata stores the array centre; 1 mm-level geodetic round trip.
    assert_allclose(
        back.attrs["site_latitude"], vis_ds.attrs["site_latitude"], atol=1e-9
    )
    assert_allclose(back.attrs["site_height"], vis_ds.attrs["site_height"], atol=1e-3)


def test_pyuvdata_reads_our_ms(vis_ds, tmp_path):
    from pyuvdata import UVData

    path = write_ms(vis_ds, tmp_path / "ours.ms", fields="per_integration")
    uvd = UVData.from_file(str(path))
    n = vis_ds.sizes["time"] * vis_ds.sizes["baseline_id"]
    assert_allclose(
        uvd.data_array, vis_ds["VISIBILITY"].values.reshape(n, 16, 2), rtol=1e-6
    )
    assert_allclose(
        uvd.uvw_array, vis_ds["UVW"].values.reshape(n, 3), rtol=0, atol=1e-6
    )


def test_every_table_opens_with_measures(vis_ds, tmp_path):
    path = str(write_ms(vis_ds, tmp_path / "a.ms", fields="per_integration"))
    with tables.table(path, ack=False) as t:
        keywords = t.getkeywords()
        assert t.getcolkeyword("TIME", "MEASINFO")["Ref"] == "UTC"
        assert t.getcolkeyword("UVW", "MEASINFO")["type"] == "uvw"
        assert list(t.getcolkeyword("UVW", "QuantumUnits")) == ["m", "m", "m"]
    for name in SUBTABLES:
        assert name in keywords, name
        with tables.table(f"{path}::{name}", ack=False) as sub:
            sub.nrows()
    with tables.table(f"{path}::FIELD", ack=False) as t:
        assert t.getcolkeyword("PHASE_DIR", "MEASINFO")["Ref"] == "ICRS"
    with tables.table(f"{path}::ANTENNA", ack=False) as t:
        assert t.getcolkeyword("POSITION", "MEASINFO")["Ref"] == "ITRF"
        assert t.nrows() == 117
    assert _col(path, "TELESCOPE_NAME", "OBSERVATION")[0] == "OVRO_MMA"
    assert _col(path, "MEAS_FREQ_REF", "SPECTRAL_WINDOW")[0] == 5  # TOPO


def test_weight_and_sigma_columns(vis_ds, tmp_path):
    path = write_ms(
        vis_ds, tmp_path / "a.ms", fields="per_integration", sigma_spectrum=True
    )
    w = vis_ds["WEIGHT"].values.reshape(-1, 16, 2)
    wspec = _col(path, "WEIGHT_SPECTRUM")
    assert_array_equal(wspec, w)
    # float32 power: a few ulp.
    good = w > 0
    assert_allclose(_col(path, "SIGMA_SPECTRUM")[good], w[good] ** -0.5, rtol=1e-6)
    assert np.all(np.isfinite(_col(path, "SIGMA_SPECTRUM")))
    # WEIGHT is the channel mean (float64 sums, rounded to float32: one ulp).
    w_mean = w.astype(np.float64).mean(axis=1)
    assert_allclose(_col(path, "WEIGHT"), w_mean, rtol=2e-7)
    good = w_mean > 0
    assert_allclose(_col(path, "SIGMA")[good], w_mean[good] ** -0.5, rtol=1e-6)


@pytest.mark.parametrize("spw", ["merged", "subband"])
def test_weight_columns_by_default(vis_ds, tmp_path, spw):
    """Default: WEIGHT_SPECTRUM, no SIGMA_SPECTRUM; WEIGHT per window."""
    path = write_ms(vis_ds, tmp_path / "a.ms", fields="per_integration", spw=spw)
    with tables.table(str(path), ack=False) as t:
        cols = t.colnames()
    assert "WEIGHT_SPECTRUM" in cols
    assert "SIGMA_SPECTRUM" not in cols
    n_spw = 1 if spw == "merged" else 4
    w = vis_ds["WEIGHT"].values  # (time, baseline, 16 channels, 2)
    n_t, n_b = w.shape[:2]
    w = w.reshape(n_t, n_b, n_spw, 16 // n_spw, 2).transpose(0, 2, 1, 3, 4)
    w = w.reshape(-1, 16 // n_spw, 2)  # MS rows (time, spw, baseline)
    assert_array_equal(_col(path, "WEIGHT_SPECTRUM"), w)
    assert_allclose(_col(path, "WEIGHT"), w.astype(np.float64).mean(axis=1), rtol=2e-7)


def test_weight_spectrum_off(vis_ds, tmp_path):
    path = write_ms(
        vis_ds, tmp_path / "a.ms", fields="per_integration", weight_spectrum=False
    )
    with tables.table(str(path), ack=False) as t:
        cols = t.colnames()
    assert "WEIGHT_SPECTRUM" not in cols and "SIGMA_SPECTRUM" not in cols
    w = vis_ds["WEIGHT"].values.reshape(-1, 16, 2)
    assert_allclose(_col(path, "WEIGHT"), w.astype(np.float64).mean(axis=1), rtol=2e-7)
    with pytest.raises(ConfigurationError):
        write_ms(
            vis_ds,
            tmp_path / "b.ms",
            fields="per_integration",
            weight_spectrum=False,
            sigma_spectrum=True,
        )


def test_model_and_corrected_columns(vis_ds, tmp_path):
    ds = vis_ds.copy()
    ds["MODEL"] = ds["VISIBILITY"] * 2
    path = write_ms(
        ds,
        tmp_path / "a.ms",
        fields="per_integration",
        model_data="MODEL",
        corrected_data=ds["VISIBILITY"] * 3,
    )
    data = _col(path, "DATA")
    # Exact scaling of complex64 values by 2 and 3: float32 rounding only.
    assert_allclose(_col(path, "MODEL_DATA"), 2 * data, rtol=1e-6)
    assert_allclose(_col(path, "CORRECTED_DATA"), 3 * data, rtol=1e-6)
    back = read_ms(path, data_column="CORRECTED_DATA")
    assert_allclose(back["VISIBILITY"].values, 3 * ds["VISIBILITY"].values, rtol=1e-6)


def test_model_chunked_unlike_the_data(vis_ds, tmp_path):
    """A dask model chunked otherwise than the data is rechunked, not refused."""
    import xarray as xr

    model = xr.DataArray(
        vis_ds["VISIBILITY"].data * 2, dims=vis_ds["VISIBILITY"].dims
    ).chunk({"time": 1, "frequency": 5})
    path = write_ms(
        vis_ds, tmp_path / "a.ms", fields="per_integration", model_data=model
    )
    assert_allclose(_col(path, "MODEL_DATA"), 2 * _col(path, "DATA"), rtol=1e-6)


def test_refuses_existing_and_overwrites_atomically(vis_ds, fixed_ds, tmp_path):
    path = tmp_path / "a.ms"
    write_ms(vis_ds, path, fields="per_integration")
    with pytest.raises(OutputExistsError):
        write_ms(fixed_ds, path)
    write_ms(fixed_ds, path, overwrite=True)
    assert len(_col(path, "NAME", "FIELD")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ms"]


def test_failure_midway_leaves_old_product(vis_ds, fixed_ds, tmp_path, monkeypatch):
    import dsa110.io.ms as ms_module

    path = tmp_path / "a.ms"
    write_ms(vis_ds, path, fields="per_integration")

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(ms_module, "write_subtables", boom)
    with pytest.raises(RuntimeError, match="killed"):
        write_ms(fixed_ds, path, overwrite=True)
    with pytest.raises(RuntimeError, match="killed"):
        write_ms(fixed_ds, tmp_path / "b.ms")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ms"]
    assert len(_col(path, "NAME", "FIELD")) == vis_ds.sizes["time"]


def test_read_errors(vis_ds, tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(FileFormatError, match="junk"):
        read_ms(tmp_path / "junk")
    path = write_ms(vis_ds, tmp_path / "a.ms", fields="per_integration")
    with tables.table(str(path), readonly=False, ack=False) as t:
        t.putcell("ANTENNA1", 5, 116)  # a baseline present in one integration only
    with pytest.raises(UnsupportedMSError, match="baselines"):
        read_ms(path)


def test_bad_options(vis_ds, tmp_path):
    from dsa110.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="fields"):
        write_ms(vis_ds, tmp_path / "a.ms", fields="many")
    with pytest.raises(ConfigurationError, match="subband"):
        write_ms(
            vis_ds,
            tmp_path / "a.ms",
            fields="per_integration",
            spw="subband",
            n_chan_per_spw=5,
        )
    # Subbands of unequal sizes: the message names the options a user has (it
    # said "windows of None channels; pass n_chan_per_spw", which the CLI lacks).
    uneven = vis_ds.isel(frequency=slice(2, None))
    with pytest.raises(ConfigurationError, match=r"\[2, 4\].*--spw merged"):
        write_ms(uneven, tmp_path / "a.ms", fields="per_integration", spw="subband")
    assert not (tmp_path / "a.ms").exists()


def test_reads_baseline_major_ms(vis_ds, tmp_path):
    # A foreign MS with rows ordered baseline-major: read_ms sorts them by
    # (TIME, ANTENNA1, ANTENNA2); compare after putting ours in that order too.
    uvd = to_uvdata(vis_ds)
    uvd.reorder_blts(order="baseline")
    path = str(tmp_path / "blmajor.ms")
    uvd.write_ms(path)
    back = read_ms(path)
    order = np.lexsort((vis_ds["antenna2"].values, vis_ds["antenna1"].values))
    expected = vis_ds.isel(baseline_id=order)
    assert_array_equal(back["antenna1"].values, expected["antenna1"].values)
    assert_array_equal(back["VISIBILITY"].values, expected["VISIBILITY"].values)
    assert_array_equal(back["FLAG"].values, expected["FLAG"].values)
    # UVW goes through pyuvdata's float64 negation only: 1 µm.
    assert_allclose(back["UVW"].values, expected["UVW"].values, rtol=0, atol=1e-6)
