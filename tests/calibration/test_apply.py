"""Applying gains: the kernel against the same arithmetic as array expressions."""

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
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


# --- a solution table against the data it is applied to -----------------------


@pytest.fixture(scope="module")
def solved(calibrator_tile):
    """``(ds, solutions)``: the calibrator tile and its bandpass and gains."""
    from dsa110.calibration import solve_calibration

    ds, _, src, _ = calibrator_tile
    return ds, solve_calibration(ds, src)


def _applied(ds, sol):
    from dsa110.calibration import apply_calibration

    out = apply_calibration(ds, sol)
    cross = ds.antenna1.values != ds.antenna2.values
    return out.VISIBILITY.values[:, cross], out.FLAG.values[:, cross]


def test_table_rows_are_matched_by_antenna_number(solved):
    """A table of the data's antennas only, or in another order, gives the same.

    It was indexed by row: a 14-row table read past its end (51 % and 64 %
    flagged on two identical runs, the rest wrong by 100 %).
    """
    ds, sol = solved
    want, want_flag = _applied(ds, sol)
    assert not want_flag.all()
    ants = np.unique(np.r_[ds.antenna1.values, ds.antenna2.values])
    for table in (sol.sel(antenna=ants), sol.isel(antenna=slice(None, None, -1))):
        got, got_flag = _applied(ds, table)
        assert_array_equal(got_flag, want_flag)
        assert_allclose(got, want, rtol=1e-6)
    # an antenna the table lacks is flagged, its baselines only
    got, got_flag = _applied(ds, sol.sel(antenna=ants[1:]))
    lost = (ds.antenna1.values == ants[0]) | (ds.antenna2.values == ants[0])
    lost = lost[ds.antenna1.values != ds.antenna2.values]
    assert got_flag[:, lost].all()
    assert_array_equal(got_flag[:, ~lost], want_flag[:, ~lost])


def test_solutions_that_are_not_finite_are_flagged(solved):
    """NaN or infinite terms flag their antenna's data instead of making it NaN."""
    ds, sol = solved
    a1 = ds.antenna1.values[ds.antenna1.values != ds.antenna2.values]
    a2 = ds.antenna2.values[ds.antenna1.values != ds.antenna2.values]
    ant = int(a1[0])
    on_ant = (a1 == ant) | (a2 == ant)
    bad_bandpass = sol.copy(deep=True)
    bad_bandpass["BANDPASS"][dict(antenna=ant, frequency=2)] = np.nan
    bad_gain = sol.copy(deep=True)
    bad_gain["GAIN"][dict(antenna=ant)] = np.inf
    delay = xr.Dataset(  # solve_delay's own NaN for an unsolved antenna
        {"DELAY": (("antenna", "polarization"), np.zeros((117, 2)))},
        coords={"antenna": np.arange(117), "polarization": sol.polarization.values},
    )
    delay["DELAY"][dict(antenna=ant)] = np.nan
    for table, where in (
        (bad_bandpass, (slice(None), on_ant, 2)),
        (bad_gain, (slice(None), on_ant)),
        (delay, (slice(None), on_ant)),
    ):
        got, flag = _applied(ds, table)
        assert np.isfinite(got).all()
        assert flag[where].all()
        assert not flag[:, ~on_ant].all()


def test_a_bandpass_of_another_band_is_refused_and_gaps_flagged(solved):
    from dsa110.errors import ConfigurationError

    ds, sol = solved
    shifted = sol.assign_coords(frequency=sol.frequency.values + 500e6)
    with pytest.raises(ConfigurationError, match="none of the data's"):
        _applied(ds, shifted)
    # the fixture's subbands 0, 7, 15: the table without subband 7 has no
    # solution for its channels (they took subband 0's or 15's edge channel)
    freq = sol.frequency.values
    middle = (freq > freq[3]) & (freq < freq[-4])
    got, flag = _applied(ds, sol.isel(frequency=np.flatnonzero(~middle)))
    assert flag[:, :, middle].all()
    want, want_flag = _applied(ds, sol)
    assert_array_equal(flag[:, :, ~middle], want_flag[:, :, ~middle])
