"""write_uvh5 (read back by pyuvdata and by our reader) and write_zarr/open_zarr."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110 import schema
from dsa110.errors import OutputExistsError
from dsa110.io.uvh5_writer import write_uvh5
from dsa110.io.zarr_store import open_zarr, write_zarr


def test_uvh5_readable_by_pyuvdata(vis_ds, tmp_path):
    from pyuvdata import UVData

    path = write_uvh5(vis_ds.chunk({"time": 1}), tmp_path / "a.uvh5", time_chunk=2)
    uvd = UVData.from_file(str(path))
    n_t, n_bl = vis_ds.sizes["time"], vis_ds.sizes["baseline_id"]
    shape = (n_t * n_bl, vis_ds.sizes["frequency"], 2)
    # complex64 values stored as written (pyuvdata may store complex128).
    assert_allclose(
        uvd.data_array, vis_ds["VISIBILITY"].values.reshape(shape), rtol=1e-6
    )
    assert_array_equal(uvd.flag_array, vis_ds["FLAG"].values.reshape(shape))
    assert_allclose(uvd.nsample_array, vis_ds["WEIGHT"].values.reshape(shape), rtol=0)
    assert_allclose(
        uvd.uvw_array, vis_ds["UVW"].values.reshape(-1, 3), rtol=0, atol=1e-6
    )
    assert_array_equal(uvd.ant_1_array, np.tile(vis_ds["antenna1"].values, n_t))
    assert_allclose(uvd.freq_array, vis_ds["frequency"].values, rtol=1e-12)
    # Time-major: each integration's JD repeated over baselines; JD ulp ~ 40 µs.
    unix = (uvd.time_array - 2440587.5) * 86400.0
    assert_allclose(unix, np.repeat(vis_ds["time"].values, n_bl), rtol=0, atol=1e-4)
    # One catalog entry per integration centre.
    ra = [
        uvd.phase_center_catalog[i]["cat_lon"]
        for i in uvd.phase_center_id_array[::n_bl]
    ]
    assert_allclose(ra, vis_ds["phase_center_ra"].values, rtol=0, atol=1e-12)


def test_uvh5_refuses_existing(vis_ds, tmp_path):
    write_uvh5(vis_ds, tmp_path / "a.uvh5")
    with pytest.raises(OutputExistsError):
        write_uvh5(vis_ds, tmp_path / "a.uvh5")
    write_uvh5(vis_ds, tmp_path / "a.uvh5", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["a.uvh5"]


def test_zarr_roundtrip_lazy(vis_ds, tmp_path, assert_dataset_equal):
    import dask.array as da

    store = write_zarr(
        vis_ds.chunk({"time": 1}),
        tmp_path / "a.zarr",
        chunks={"time": 2, "frequency": 4},
    )
    back = open_zarr(store)
    assert isinstance(back["VISIBILITY"].data, da.Array)
    assert back["VISIBILITY"].data.chunks[2] == (4, 4, 4, 4)
    schema.validate(back)
    assert_dataset_equal(back, vis_ds)
    assert back.attrs == vis_ds.attrs


def test_zarr_readable_by_xarray_conventions(vis_ds, tmp_path):
    import zarr

    store = write_zarr(vis_ds, tmp_path / "a.zarr")
    root = zarr.open_consolidated(str(store), mode="r")
    assert root["VISIBILITY"].attrs["_ARRAY_DIMENSIONS"] == list(
        schema.DATA_VARS["VISIBILITY"].dims
    )
    assert root["time"].attrs["units"] == "s"


def test_zarr_refuses_existing(vis_ds, tmp_path):
    write_zarr(vis_ds, tmp_path / "a.zarr")
    with pytest.raises(OutputExistsError):
        write_zarr(vis_ds, tmp_path / "a.zarr")
