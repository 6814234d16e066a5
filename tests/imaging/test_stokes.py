"""The Stokes I kernel against the same arithmetic written as array expressions."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.imaging.stokes import stokes_i_arrays, stokes_i_block


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
    got_vis = stokes_i_block(vis, flag, weight, cross, ix=0, iy=3, product="vis")
    got_wgt = stokes_i_block(vis, flag, weight, cross, ix=0, iy=3, product="weight")
    assert got_vis.dtype == ctype and got_wgt.dtype == np.float32
    assert_array_equal(got_wgt, want_wgt)  # the same float32 sums
    tol = 1e-6 if ctype == np.complex64 else 1e-14
    assert_allclose(got_vis, want_vis, rtol=tol, atol=0)
    assert np.all(np.isfinite(got_vis))
    assert not got_wgt[:, 0].any() and not got_vis[:, 0].any()
    assert got_wgt[0, 5, 0] == 0 and got_vis[0, 5, 0] == 0
    # the NaN in XX leaves YY alone
    assert got_vis[0, 1, 2] == vis[0, 1, 2, 3] or flag[0, 1, 2, 3]
