from fractions import Fraction

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.errors import FileFormatError
from dsa110.variability import METRIC_NAMES, MetricState, StateError, batch_metrics
from dsa110.variability.kernels import STATE_FIELDS

# The requirement: incremental == batch to 1e-12 relative.
RTOL = 1e-12


@st.composite
def lightcurves(draw, max_n=60):
    """Random light curves: any offset up to 1e6 times the spread, wide errors."""
    n = draw(st.integers(2, max_n))
    unit = hnp.arrays(np.float64, n, elements=st.floats(-1, 1, width=64))
    offset = draw(st.floats(-1e6, 1e6))
    scale = draw(st.floats(1e-3, 1e3))
    u = draw(unit)
    flux = offset * scale + scale * u
    err = scale * draw(hnp.arrays(np.float64, n, elements=st.floats(1e-2, 1e2)))
    time = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 30).map(round)))
    return time + 60000.0, flux, err


def _incremental(time, flux, err, order=None):
    state = MetricState()
    order = np.arange(flux.size) if order is None else order
    for i in order:
        state.update([7], time[i : i + 1], flux[i : i + 1], err[i : i + 1])
    return state.metrics().loc[7]


def _compare(inc, ref, flux):
    fscale = np.max(np.abs(flux))
    assert inc["n"] == ref["n"]
    # means: relative to the flux scale (the mean itself may be ~0)
    for name in ("mean_flux", "weighted_mean_flux"):
        assert_allclose(inc[name], ref[name], rtol=RTOL, atol=RTOL * fscale)
    spread = np.max(flux) - np.min(flux)
    # spreads: relative, with an absolute floor of 1e-12 of the data range for
    # light curves whose spread is a few ulp
    assert_allclose(inc["std_flux"], ref["std_flux"], rtol=RTOL, atol=RTOL * spread)
    for name in ("eta", "chi2_nu", "sigma_dev"):
        assert_allclose(inc[name], ref[name], rtol=RTOL, atol=0)
    # V = s / mean: the mean's error relative to the flux scale is amplified by
    # fscale / |mean|
    mean = abs(ref["mean_flux"])
    amp = max(1.0, fscale / mean) if mean > 0 else np.inf
    if np.isfinite(amp):
        assert_allclose(inc["v"], ref["v"], rtol=RTOL * amp, atol=0)
    # pairs: the same floating-point operations on the same inputs
    for name in ("vs_newest", "m_newest", "vs_extreme", "m_extreme"):
        assert_array_equal(inc[name], ref[name])


@settings(max_examples=200, deadline=None)
@given(lightcurves())
def test_incremental_equals_batch(lc):
    time, flux, err = lc
    _compare(_incremental(time, flux, err), batch_metrics(time, flux, err), flux)


@settings(max_examples=100, deadline=None)
@given(lightcurves(), st.randoms(use_true_random=False))
def test_incremental_is_order_independent(lc, rnd):
    time, flux, err = lc
    order = list(range(flux.size))
    rnd.shuffle(order)
    inc = _incremental(time, flux, err, order=np.array(order))
    ref = batch_metrics(time, flux, err)
    # shuffling changes only the shift (first value) and summation order
    for name in ("eta", "chi2_nu", "sigma_dev"):
        assert_allclose(inc[name], ref[name], rtol=RTOL)
    # the newest pair depends on time only (ties broken by arrival, so
    # compare only where the two latest times are distinct and unique)
    t_sorted = np.sort(time)
    if flux.size > 2 and t_sorted[-1] > t_sorted[-2] > t_sorted[-3]:
        assert_array_equal(inc["vs_newest"], ref["vs_newest"])


def _exact(flux, err):
    f = [Fraction(x) for x in flux]
    w = [1 / Fraction(e) ** 2 for e in err]
    n = len(f)
    wmean = sum(wi * fi for wi, fi in zip(w, f)) / sum(w)
    mean = sum(f) / n
    eta = sum(wi * (fi - wmean) ** 2 for wi, fi in zip(w, f)) / (n - 1)
    # eta written as in Mooley et al. (2016), in exact arithmetic
    mwf2 = sum(wi * fi * fi for wi, fi in zip(w, f)) / n
    mwf = sum(wi * fi for wi, fi in zip(w, f)) / n
    eta_mooley = Fraction(n, n - 1) * (mwf2 - mwf**2 / (sum(w) / n))
    assert eta == eta_mooley
    var = sum((fi - mean) ** 2 for fi in f) / (n - 1)
    return {"eta": float(eta), "var": float(var), "mean_flux": float(mean)}


@settings(max_examples=60, deadline=None)
@given(lightcurves(max_n=25))
def test_batch_and_incremental_against_exact_arithmetic(lc):
    time, flux, err = lc
    exact = _exact(flux, err)
    inc = _incremental(time, flux, err)
    ref = batch_metrics(time, flux, err)
    for got in (inc, ref):
        assert_allclose(got["eta"], exact["eta"], rtol=RTOL)
        assert_allclose(
            got["std_flux"] ** 2,
            exact["var"],
            rtol=RTOL,
            atol=RTOL * (np.max(flux) - np.min(flux)) ** 2,
        )
        assert_allclose(
            got["mean_flux"],
            exact["mean_flux"],
            rtol=0,
            atol=RTOL * np.max(np.abs(flux)),
        )


def test_analytic_values():
    # two epochs: eta = chi2 = (f2 - f1)^2 / (s1^2 + s2^2) = Vs^2
    time = np.array([1.0, 2.0])
    flux = np.array([1.0, 3.0])
    err = np.array([0.5, 1.0])
    m = _incremental(time, flux, err)
    assert_allclose(m["eta"], 4.0 / 1.25, rtol=1e-15)
    assert_allclose(m["vs_newest"], 2.0 / np.sqrt(1.25), rtol=1e-15)
    assert_allclose(m["vs_newest"] ** 2, m["chi2_nu"], rtol=1e-15)
    assert_allclose(m["m_newest"], 1.0, rtol=1e-15)  # 2*2/(1+3)
    assert_allclose(m["v"], np.sqrt(2.0) / 2.0, rtol=1e-15)
    # two points: each is 1 sample-std... |f - mean| = 1, s = sqrt(2)
    assert_allclose(m["sigma_dev"], 1 / np.sqrt(2.0), rtol=1e-15)
    # a constant light curve has no variability
    c = _incremental(np.arange(5.0), np.full(5, 2.5), np.full(5, 0.1))
    assert c["eta"] == 0 and c["std_flux"] == 0 and c["m_extreme"] == 0


def test_fewer_than_two_measurements_give_nan():
    state = MetricState()
    state.update(["a", "b"], [1.0, 1.0], [2.0, 3.0], [0.1, 0.1])
    m = state.metrics()
    assert m.loc["a", "n"] == 1
    assert_allclose(m.loc["a", "mean_flux"], 2.0, rtol=0)
    for name in METRIC_NAMES[3:]:
        assert np.isnan(m.loc["a", name])


def test_vectorised_epochs_equal_batch_per_source():
    rng = np.random.default_rng(5)
    n_src, n_ep = 300, 40
    flux = rng.lognormal(0, 1, (n_src, 1)) * (
        1 + 0.1 * rng.standard_normal((n_src, n_ep))
    )
    err = rng.uniform(0.01, 0.2, (n_src, n_ep))
    time = 60000.0 + np.arange(n_ep)
    ids = np.array([f"src{i}" for i in range(n_src)])
    state = MetricState()
    for e in rng.permutation(n_ep):  # epochs arrive out of order
        keep = rng.uniform(size=n_src) > 0.1  # some sources missing per epoch
        state.update(
            ids[keep], np.full(keep.sum(), time[e]), flux[keep, e], err[keep, e]
        )
    got = state.metrics()
    assert got.index.tolist()[:3] != []
    for i in rng.choice(n_src, 20, replace=False):
        sid = ids[i]
        n = got.loc[sid, "n"]
        assert 0 < n <= n_ep
    # rebuild the per-source light curves from the same random draws
    rng = np.random.default_rng(5)
    _ = rng.lognormal(0, 1, (n_src, 1)), rng.standard_normal((n_src, n_ep))
    _ = rng.uniform(0.01, 0.2, (n_src, n_ep))
    seen = np.zeros((n_src, n_ep), dtype=bool)
    for e in rng.permutation(n_ep):
        seen[:, e] = rng.uniform(size=n_src) > 0.1
    for i in range(0, n_src, 7):
        ref = batch_metrics(time[seen[i]], flux[i, seen[i]], err[i, seen[i]])
        for name in ("eta", "chi2_nu", "sigma_dev", "std_flux", "vs_newest"):
            assert_allclose(got.loc[ids[i], name], ref[name], rtol=RTOL)


def test_memory_is_independent_of_epochs():
    rng = np.random.default_rng(1)
    state = MetricState(np.arange(1000))
    sizes = []
    for e in range(200):
        state.update(
            np.arange(1000),
            np.full(1000, 60000.0 + e),
            rng.normal(1, 0.1, 1000),
            np.full(1000, 0.1),
        )
        if e in (9, 199):
            sizes.append(state.nbytes)
    assert sizes[0] == sizes[1]
    assert state.state.shape == (len(STATE_FIELDS), 1000)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    state = MetricState()
    state.update(
        rng.integers(0, 50, 500),
        rng.uniform(0, 10, 500),
        rng.normal(1, 0.1, 500),
        rng.uniform(0.05, 0.2, 500),
    )
    state.save(tmp_path / "m.npz")
    back = MetricState.load(tmp_path / "m.npz")
    assert back.source_ids == state.source_ids
    assert_array_equal(back.metrics().to_numpy(), state.metrics().to_numpy())
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(FileFormatError, match="bad.npz"):
        MetricState.load(tmp_path / "bad.npz")


def test_bad_updates_raise():
    state = MetricState()
    with pytest.raises(StateError, match="flux_err"):
        state.update([1], [0.0], [1.0], [0.0])
    with pytest.raises(StateError, match="non-finite"):
        state.update([1], [0.0], [np.nan], [1.0])
    with pytest.raises(StateError, match="equally long"):
        state.update([1, 2], [0.0], [1.0, 2.0], [1.0, 1.0])
    with pytest.raises(StateError, match="unique"):
        MetricState([1, 1])
