"""Applying gains: the kernel against the same arithmetic as array expressions."""

import dask
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.calibration import dask as cdask
from dsa110.calibration.kernels import apply_gains


def _case(ctype, rng):
    n_ant, n_time, n_chan, n_pol = 4, 3, 5, 2
    a1, a2 = (a.astype(np.int64) for a in np.triu_indices(n_ant))
    shape = (n_time, a1.size, n_chan, n_pol)
    vis = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(ctype)
    flag = rng.random(shape) < 0.2
    gshape = (n_time, n_ant, n_chan, n_pol)
    gains = rng.uniform(0.5, 2.0, gshape) * np.exp(1j * rng.uniform(-3, 3, gshape))
    gain_flag = np.zeros(gshape, bool)
    gain_flag[1, 2, 3, 0] = True  # a flagged gain
    gains[2, 1, 0, 1] = 0.0  # a zero gain (unflagged)
    return vis, flag, a1, a2, gains, gain_flag


@pytest.mark.parametrize("ctype", [np.complex64, np.complex128])
def test_kernel_equals_the_expressions(ctype):
    vis, flag, a1, a2, gains, gain_flag = _case(ctype, np.random.default_rng(5))
    got, got_flag = apply_gains(vis, flag, a1, a2, gains, gain_flag)
    gij = gains[:, a1] * np.conj(gains[:, a2])
    bad = gain_flag[:, a1] | gain_flag[:, a2] | (gij == 0)
    assert bad.any() and (gij == 0).any()
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(bad, vis, vis / gij)
    assert got.dtype == ctype
    tol = 1e-6 if ctype == np.complex64 else 1e-14
    assert_allclose(got, want, rtol=tol, atol=0)
    assert_array_equal(got[bad], vis[bad])  # left as they were where flagged
    assert_array_equal(got_flag, flag | bad)


def test_applying_runs_the_kernel_once_per_chunk(monkeypatch):
    vis, flag, a1, a2, gains, gain_flag = _case(np.complex64, np.random.default_rng(6))
    calls = []

    def counting_block(*args, **kwargs):
        calls.append(1)
        return apply_gains(*args, **kwargs)

    monkeypatch.setattr(cdask, "np_apply_gains", counting_block)
    chunks = (1, -1, -1, -1)  # three chunks
    out_vis, out_flag = cdask.apply_gains(
        da.from_array(vis, chunks=chunks),
        da.from_array(flag, chunks=chunks),
        da.from_array(gains, chunks=chunks),
        da.from_array(gain_flag, chunks=chunks),
        a1,
        a2,
    )
    got, got_flag = dask.compute(out_vis, out_flag)
    assert len(calls) == 3
    want, want_flag = apply_gains(vis, flag, a1, a2, gains, gain_flag)
    assert_array_equal(got, want)
    assert_array_equal(got_flag, want_flag)
    assert got.dtype == vis.dtype and got_flag.dtype == bool
