"""Shared fixtures for the MS / zarr / UVH5 output tests: small in-memory datasets."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110 import schema
from dsa110.testing import PointSource, make_visibility_dataset


def _dataset(seed=0, n_time=3):
    rng = np.random.default_rng(seed)
    ds = make_visibility_dataset(
        sources=[PointSource(ra=5.3135, dec=0.5760, flux=3.0, spectral_index=-0.7)],
        n_time=n_time,
        n_chan_per_subband=4,
        subbands=range(4),
        noise_sigma=0.05,
        rng=rng,
    )
    autos = ds["antenna1"].values == ds["antenna2"].values
    ds["VISIBILITY"].values[:, autos] = (
        ds["VISIBILITY"].values[:, autos].real
    )  # autos are real
    shape = ds["FLAG"].shape
    ds["FLAG"].values[...] = rng.random(shape) < 0.05
    ds["WEIGHT"].values[...] = rng.uniform(0.5, 1.0, shape).astype(np.float32)
    ds["WEIGHT"].values[0, 0] = 0.0  # a zero-weight baseline: SIGMA must stay finite
    return ds


@pytest.fixture
def vis_ds():
    """Meridian-phased (a centre per integration), 8 antennas, 16 channels, 3 times."""
    return _dataset()


@pytest.fixture
def fixed_ds(vis_ds):
    """The same data rephased to one common centre."""
    from dsa110.phasing import rephase

    return rephase(vis_ds, "median_meridian").compute()


def _assert_dataset_equal(actual, expected, *, skip=()):
    """Every schema variable equal within the schema's own per-variable tolerances."""
    for name, spec in {**schema.DATA_VARS, **schema.COORDS}.items():
        if name in skip:
            continue
        a = np.asarray(actual[name].values)
        e = np.asarray(expected[name].values)
        assert a.shape == e.shape, name
        if e.dtype.kind in "UOSb" or spec.dtype == ("i",):
            assert_array_equal(a.astype(e.dtype), e, err_msg=name)
        else:
            assert_allclose(a, e, rtol=spec.rtol, atol=spec.atol, err_msg=name)


@pytest.fixture
def assert_dataset_equal():
    """Compare two visibility datasets within the schema's tolerances."""
    return _assert_dataset_equal
