"""`dsa110 flag` on a simulated tile: UVH5 → flag product, zarr store, MS."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from dsa110 import flagging
from dsa110.cli import main
from dsa110.errors import OutputExistsError
from dsa110.flagging.products import open_flag_product


@pytest.fixture(scope="module")
def tile(tmp_path_factory):
    from dsa110.simulate import load_truth, simulate_observation

    out = tmp_path_factory.mktemp("tile") / "group"
    tiles = simulate_observation(
        out, preset="small", seed=5, rfi=True, population=False
    )
    return out, load_truth(tiles[0].truth_path)


def test_flag_uvh5_group_writes_product_matching_truth(tile, tmp_path, capsys):
    from dsa110.io import open_observation

    group, truth = tile
    product = tmp_path / "tile.flags.zarr"
    assert main(["flag", str(group), "--out", str(product)]) == 0
    report = capsys.readouterr().out
    assert "per antenna" in report and "per time" in report and "per channel" in report
    # No command reads the product: the report says how to use it.
    assert "no dsa110 command reads it" in report and "open_flag_product" in report
    flags = open_flag_product(product).FLAG.values
    ds = open_observation(group)
    assert_array_equal(
        ds.assign(FLAG=open_flag_product(product).FLAG.variable).FLAG.values, flags
    )
    assert flags.shape == ds.FLAG.shape
    cross = ds.antenna1.values != ds.antenna2.values
    rfi = np.broadcast_to(truth.rfi_amplitude[:, None, :, None], flags.shape)[:, cross]
    f = flags[:, cross]
    strong = rfi > 5 * truth.sigma_jy
    assert strong.any()
    assert f[strong].mean() >= 0.95
    assert f[rfi == 0].mean() <= 0.01
    # The raw files are untouched and a second run refuses to overwrite.
    assert not open_observation(group).FLAG.values[:, cross].any()
    capsys.readouterr()
    assert main(["flag", str(group), "--out", str(product)]) == 1
    # ... telling a command-line user of --overwrite, not only of overwrite=True
    assert "--overwrite" in capsys.readouterr().err
    assert (
        main(
            [
                "flag",
                str(group),
                "--out",
                str(product),
                "--overwrite",
                "--strategy",
                "basic",
            ]
        )
        == 0
    )
    basic = open_flag_product(product).FLAG.values
    assert_array_equal(basic.any(axis=(0, 2, 3)), ~cross)


def test_flag_zarr_store_in_place(tile, tmp_path, capsys):
    from dsa110.io import open_observation
    from dsa110.io.zarr_store import open_zarr, write_zarr

    group, _ = tile
    store = write_zarr(open_observation(group), tmp_path / "vis.zarr")
    expected = flagging.flag_rfi(open_zarr(store)).FLAG.values
    assert main(["flag", str(store), "--csv", str(tmp_path / "rep")]) == 0
    assert_array_equal(open_zarr(store).FLAG.values, expected)
    assert (tmp_path / "rep_antenna.csv").exists()
    # Flagging again only adds (the flags combine with the stored ones).
    assert main(["flag", str(store)]) == 0
    assert open_zarr(store).FLAG.values[expected].all()


def test_flag_measurement_set_column(tile, tmp_path):
    pytest.importorskip("casacore")
    from dsa110.io import open_observation
    from dsa110.io.ms import write_ms
    from dsa110.io.ms_reader import read_ms

    group, _ = tile
    ms = write_ms(
        open_observation(group), tmp_path / "vis.ms", spw="subband", n_chan_per_spw=4
    )
    expected = flagging.flag_rfi(read_ms(ms)).FLAG.values
    assert main(["flag", str(ms)]) == 0
    assert_array_equal(read_ms(ms).FLAG.values, expected)


def test_flag_product_refuses_existing(tile, tmp_path):
    from dsa110.flagging.products import write_flag_product
    from dsa110.io import open_observation

    group, _ = tile
    ds = open_observation(group)
    write_flag_product(ds, tmp_path / "p.zarr")
    with pytest.raises(OutputExistsError):
        write_flag_product(ds, tmp_path / "p.zarr")


def test_flagging_killed_mid_write_is_undone_by_the_rerun(tile, tmp_path, monkeypatch):
    """A run killed while replacing an MS's flags (after the first window) or
    a zarr store's (between its two renames) leaves the old flags to put back:
    the rerun reads and writes what a clean run would."""
    pytest.importorskip("casacore")
    from casacore import tables

    from dsa110.flagging import products
    from dsa110.io import open_observation
    from dsa110.io.ms import write_ms
    from dsa110.io.ms_reader import read_ms
    from dsa110.io.zarr_store import open_zarr, write_zarr

    group, _ = tile
    ms = write_ms(
        open_observation(group), tmp_path / "vis.ms", spw="subband", n_chan_per_spw=4
    )
    expected = flagging.flag_rfi(read_ms(ms)).FLAG.values
    real_putcol = tables.table.putcol
    calls = []

    def putcol_then_die(self, column, *args, **kwargs):
        calls.append(column)
        if calls.count("FLAG") == 2:  # the first window written, the second not
            raise KeyboardInterrupt("killed")
        return real_putcol(self, column, *args, **kwargs)

    monkeypatch.setattr(tables.table, "putcol", putcol_then_die)
    with pytest.raises(KeyboardInterrupt):
        main(["flag", str(ms)])
    monkeypatch.setattr(tables.table, "putcol", real_putcol)
    assert products._flag_backup_path(ms).exists()
    assert main(["flag", str(ms)]) == 0
    assert_array_equal(read_ms(ms).FLAG.values, expected)
    assert not products._flag_backup_path(ms).exists()

    store = write_zarr(open_observation(group), tmp_path / "vis.zarr")
    real_rename = products.os.rename
    renames = []

    def rename_then_die(src, dst):
        renames.append(src)
        if len(renames) == 2:  # the old FLAG aside, the new one not yet in
            raise KeyboardInterrupt("killed")
        return real_rename(src, dst)

    monkeypatch.setattr(products.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        main(["flag", str(store)])
    monkeypatch.setattr(products.os, "rename", real_rename)
    assert not (store / "FLAG").exists()
    assert main(["flag", str(store)]) == 0
    assert_array_equal(open_zarr(store).FLAG.values, expected)
