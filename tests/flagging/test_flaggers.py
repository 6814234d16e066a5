"""Dataset-level flaggers: RFI recovery, dask == NumPy, flag combination, summaries."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110 import flagging
from dsa110.errors import ConfigurationError
from dsa110.flagging import dask as fdask
from dsa110.schema import SchemaError

UNEVEN = {
    "time": (5, 11, 8),
    "baseline_id": (7, 20, 9),
    "frequency": (30, 18, 48),
    "polarization": (1, 1),
}


def _cross(ds):
    return ds.antenna1.values != ds.antenna2.values


def test_flag_rfi_recovers_injected_rfi(rfi_dataset):
    ds, amp = rfi_dataset
    out = flagging.flag_rfi(ds)
    cross = _cross(ds)
    flags = out.FLAG.values[:, cross]
    amp = amp[:, cross]
    strong = amp > 5.0  # RFI amplitude above 5σ of the per-component noise
    clean = amp == 0.0
    assert strong.sum() > 1000, "the test data must hold RFI to find"
    assert flags[strong].mean() >= 0.95
    assert flags[clean].mean() <= 0.01
    # Autocorrelations are flagged by the default strategy.
    assert out.FLAG.values[:, ~cross].all()


def test_flag_rfi_dask_equals_numpy_on_uneven_chunks(rfi_dataset):
    ds, _ = rfi_dataset
    ds = ds.copy()
    flags = np.zeros(ds.FLAG.shape, bool)
    flags[3, 4, 5, 0] = True
    ds["FLAG"] = (ds.FLAG.dims, flags)
    eager = flagging.flag_rfi(ds)
    lazy = flagging.flag_rfi(ds.chunk(UNEVEN))
    assert isinstance(lazy.FLAG.data, da.Array)
    assert lazy.FLAG.data.chunks == ds.chunk(UNEVEN).FLAG.data.chunks
    assert_array_equal(lazy.FLAG.values, eager.FLAG.values)


@pytest.mark.parametrize(
    "func, kwargs",
    [
        (flagging.flag_invalid, {}),
        (flagging.flag_autocorrelations, {}),
        (flagging.flag_amplitude, {"threshold": 12.0}),
        (flagging.flag_sumthreshold, {}),
        (flagging.flag_mad, {"sigma": 5.0}),
        (flagging.extend_flags, {"time_fraction": 0.3, "frequency_fraction": 0.3}),
        (flagging.flag_dead_antennas, {"fraction": 0.5}),
    ],
)
def test_each_flagger_dask_equals_numpy_and_keeps_old_flags(rfi_dataset, func, kwargs):
    ds, _ = rfi_dataset
    rng = np.random.default_rng(7)
    ds = ds.copy()
    vis = ds.VISIBILITY.values.copy()
    vis[0, 1, 2, 0] = np.nan
    vis[1, 2, 3, 1] = 0
    old = rng.random(ds.FLAG.shape) < 0.05
    ant = ds.antenna2.values[3]
    of_ant = (ds.antenna1.values == ant) | (ds.antenna2.values == ant)
    old[:, of_ant] |= rng.random(old[:, of_ant].shape) < 0.8  # a mostly-flagged antenna
    ds["VISIBILITY"] = (ds.VISIBILITY.dims, vis)
    ds["FLAG"] = (ds.FLAG.dims, old)
    eager = func(ds, **kwargs)
    lazy = func(ds.chunk(UNEVEN), **kwargs)
    assert isinstance(lazy.FLAG.data, da.Array)
    got = lazy.FLAG.values
    assert_array_equal(got, eager.FLAG.values)
    assert got[old].all(), "flags combine with the data's own"
    assert got.sum() > old.sum(), "each flagger must add flags on this data"


def test_flag_dead_antennas_flags_every_baseline_of_a_dead_antenna(rfi_dataset):
    ds, _ = rfi_dataset
    a1, a2 = ds.antenna1.values, ds.antenna2.values
    dead = a1[5]
    flags = np.zeros(ds.FLAG.shape, bool)
    cross_of_dead = ((a1 == dead) | (a2 == dead)) & (a1 != a2)
    flags[:, cross_of_dead] = True
    flags[0, np.nonzero(cross_of_dead)[0][0], 0, 0] = False  # 99.9% flagged
    ds = ds.assign(FLAG=(ds.FLAG.dims, flags))
    out = flagging.flag_dead_antennas(ds, fraction=0.95).FLAG.values
    of_dead = (a1 == dead) | (a2 == dead)
    assert out[:, of_dead].all()
    assert not out[:, ~of_dead].any()


def test_flag_rfi_is_lazy(rfi_dataset):
    ds, _ = rfi_dataset
    calls = []

    def counting(x):
        calls.append(1)
        return x

    vis = da.from_array(ds.VISIBILITY.values, chunks=(24, 9, 48, 2)).map_blocks(
        counting, meta=np.empty((0,) * 4, np.complex64)
    )
    lazy = ds.assign(VISIBILITY=(ds.VISIBILITY.dims, vis))
    with dask.config.set(scheduler="sync"):
        out = flagging.flag_rfi(lazy)
        assert calls == []
        out.FLAG.compute()
    assert calls


def test_plane_flaggers_refuse_partial_planes():
    vis = da.zeros((4, 3, 8, 2), chunks=(2, 3, 8, 2), dtype=np.complex64)
    flags = da.zeros((4, 3, 8, 2), chunks=(2, 3, 8, 2), dtype=bool)
    with pytest.raises(ValueError, match="whole time axis"):
        fdask.mad_clip(vis, flags, sigma=7.0)
    (v2, f2) = fdask.to_planes(vis, flags)
    assert v2.chunks[0] == (4,) and f2.chunks[2] == (8,)


def test_flag_fractions_match_direct_counts(rfi_dataset):
    ds, _ = rfi_dataset
    rng = np.random.default_rng(3)
    flags = rng.random(ds.FLAG.shape) < 0.3
    ds = ds.assign(FLAG=(ds.FLAG.dims, flags)).chunk({"time": 10, "baseline_id": 11})
    frac = flagging.flag_fractions(ds)
    # Ratios of integer counts: exact up to float64 division round-off.
    assert_allclose(frac.time_fraction, flags.mean(axis=(1, 2, 3)), rtol=1e-12)
    assert_allclose(frac.frequency_fraction, flags.mean(axis=(0, 1, 3)), rtol=1e-12)
    assert_allclose(frac.baseline_fraction, flags.mean(axis=(0, 2, 3)), rtol=1e-12)
    assert_allclose(frac.polarization_fraction, flags.mean(axis=(0, 1, 2)), rtol=1e-12)
    assert_allclose(frac.attrs["total_fraction"], flags.mean(), rtol=1e-12)
    a1, a2 = ds.antenna1.values, ds.antenna2.values
    for k, ant in enumerate(frac.antenna_number.values):
        sel = (a1 == ant) | (a2 == ant)
        assert_allclose(
            frac.antenna_fraction.values[k], flags[:, sel].mean(), rtol=1e-12
        )
    names = dict(zip(a1, ds.baseline_antenna1_name.values))
    assert list(frac.antenna.values) == [names[a] for a in frac.antenna_number.values]


def test_strategies_and_errors(rfi_dataset):
    ds, _ = rfi_dataset
    basic = flagging.flag_rfi(ds, strategy="basic").FLAG.values
    assert_array_equal(basic.any(axis=(0, 2, 3)), ~_cross(ds))
    custom = flagging.get_strategy({"base": "basic", "mad_sigma": 3.0})
    assert custom.mad_sigma == 3.0 and not custom.sumthreshold
    with pytest.raises(ConfigurationError, match="unknown flag strategy"):
        flagging.flag_rfi(ds, strategy="nope")
    with pytest.raises(ConfigurationError, match="unknown option"):
        flagging.get_strategy({"sigma": 3})
    with pytest.raises(ConfigurationError, match="mad_sigma"):
        flagging.FlagStrategy(mad_sigma=-1.0)
    with pytest.raises(SchemaError, match="FLAG"):
        flagging.flag_rfi(ds.drop_vars("FLAG"))


class _FakeCupyArray(np.ndarray):
    """Stands in for cupy.ndarray: a NumPy array that claims to be on a device."""

    def get(self):
        return np.asarray(self).view(np.ndarray)


def test_cupy_chunks_dispatch_through_host(monkeypatch, rfi_dataset):
    import sys
    import types

    fake = types.ModuleType("cupy")
    fake.ndarray = _FakeCupyArray
    fake.asarray = lambda a: np.asarray(a).view(_FakeCupyArray)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    ds, _ = rfi_dataset
    vis = da.from_array(ds.VISIBILITY.values, chunks=(24, 12, 96, 2)).map_blocks(
        fake.asarray, meta=np.empty((0,) * 4, np.complex64).view(_FakeCupyArray)
    )
    flags = da.zeros(vis.shape, chunks=vis.chunks, dtype=bool).map_blocks(
        fake.asarray, meta=np.empty((0,) * 4, bool).view(_FakeCupyArray)
    )
    got = fdask.sumthreshold(
        vis,
        flags,
        threshold=6.0,
        rho=1.5,
        max_window=64,
        n_iter=3,
        threshold_step=2.0,
        sigma_time=2.5,
        sigma_frequency=5.0,
    )
    block = got.blocks[0, 0, 0, 0].compute()
    assert isinstance(block, _FakeCupyArray), "CuPy chunks come back as CuPy"
    expected = flagging.flag_sumthreshold(ds).FLAG.values[:, :12]
    assert_array_equal(np.asarray(block), expected)
