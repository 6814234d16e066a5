"""The Stokes I kernel against the same arithmetic written as array expressions."""

import dask
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.imaging import imager
from dsa110.imaging.stokes import stokes_i_arrays, stokes_i_block
from dsa110.testing import make_visibility_dataset


@pytest.mark.parametrize("ctype", [np.complex64, np.complex128])
def test_kernel_equals_the_expressions(ctype):
    rng = np.random.default_rng(4)
    shape = (3, 6, 5, 4)  # XX at 0, YY at 3 (XY, YX between)
    vis = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(ctype)
    flag = rng.random(shape) < 0.2
    weight = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    vis[0, 1, 2, 0] = np.nan  # a NaN in XX: YY alone
    vis[1, 2, 3, 3] = complex(1.0, np.inf)
    weight[2, 3, 4, 0] = np.nan
    weight[2, 4, 1, 3] = -1.0
    weight[0, 5, 0, :] = 0.0  # both weights zero: zero visibility and weight
    cross = np.array([False, True, True, True, True, True])  # baseline 0: an auto
    want_vis, want_wgt = stokes_i_arrays(vis, flag, weight, cross, 0, 3)
    got_vis, got_wgt = stokes_i_block(vis, flag, weight, cross, ix=0, iy=3)
    assert got_vis.dtype == ctype and got_wgt.dtype == np.float32
    assert_array_equal(got_wgt, want_wgt)  # the same float32 sums
    tol = 1e-6 if ctype == np.complex64 else 1e-14
    assert_allclose(got_vis, want_vis, rtol=tol, atol=0)
    assert np.all(np.isfinite(got_vis))
    assert not got_wgt[:, 0].any() and not got_vis[:, 0].any()
    assert got_wgt[0, 5, 0] == 0 and got_vis[0, 5, 0] == 0
    # the NaN in XX leaves YY alone
    assert got_vis[0, 1, 2] == vis[0, 1, 2, 3] or flag[0, 1, 2, 3]


def test_stokes_i_runs_the_kernel_once_per_chunk(monkeypatch):
    ds = make_visibility_dataset(
        n_time=2, n_chan_per_subband=8, subbands=range(2), noise_sigma=1.0
    )
    ds = ds.chunk({"time": 1})  # two chunks
    calls = []

    def counting_block(*args, **kwargs):
        calls.append(1)
        return stokes_i_block(*args, **kwargs)

    monkeypatch.setattr(imager, "stokes_i_block", counting_block)
    vis, wgt = imager.stokes_i(ds)
    got_vis, got_wgt = dask.compute(vis, wgt)
    assert len(calls) == 2
    xx_yy = ds["VISIBILITY"].values  # (XX, YY)
    cross = ds["antenna1"].values != ds["antenna2"].values
    # the test dataset's weights are equal and unflagged: I = (XX + YY) / 2
    assert_allclose(got_vis[:, cross], xx_yy[:, cross].mean(-1), rtol=1e-6, atol=1e-7)
    assert got_wgt.dtype == np.float32 and np.all(got_wgt[:, cross] > 0)
    assert not got_wgt[:, ~cross].any()
