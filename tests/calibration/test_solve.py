"""Simulate → corrupt → solve → compare, against the thermal-noise bound.

Bound: for antenna p, channel (or interval) cell c, linearising the
least-squares solution around the truth gives a per-part variance

    var_p = σ² / D_p,   D_p = Σ_{q≠p} Σ_{t,ν ∈ c} w |g_q|² |M_pq|²,

(the Cramér–Rao bound with the other antennas' gains known, exact to
O(1/N_baselines)). Referencing to refant r rotates each solution by the refant's
estimated phase, whose error has variance var_r / |g_r|², so the complex error of
a non-reference antenna has E|Δ_p|² = 2 var_p + |g_p|² var_r / |g_r|², and of
the refant itself var_r. With unit gains and N_b baselines over N_t times this
is the familiar σ / (|S| sqrt(N_b N_t)) per part.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.calibration import (
    CalibrationError,
    apply_calibration,
    predict_model,
    solve_bandpass,
    solve_gains,
    uv_weights,
)
from dsa110.testing import make_visibility_dataset

K_SIGMA = 5.5  # per-sample bound: P(|z| > 5.5σ) over a few hundred samples is < 1e-4


def _expected_var(ds, sky, gains, sigma, *, per_channel):
    """Per-part variance of each antenna's solution (cells × antenna × pol)."""
    m = np.abs(predict_model(ds, sky).values) ** 2  # (t, b, f)
    w = uv_weights(ds).values > 0  # (t, b, f, p)
    a1, a2 = ds["antenna1"].values, ds["antenna2"].values
    g2 = np.abs(gains) ** 2  # (t, ant, f, p)
    n_ant = gains.shape[1]
    contrib_i = w * m[..., None] * g2[:, a2]  # for p = antenna1
    contrib_j = w * m[..., None] * g2[:, a1]
    axis = (0,) if per_channel else (0, 2)
    shape = (n_ant, ds.sizes["frequency"], 2) if per_channel else (n_ant, 2)
    d = np.zeros(shape)
    ci = contrib_i.sum(axis=axis)  # (b, f, p) or (b, p)
    cj = contrib_j.sum(axis=axis)
    np.add.at(d, a1, ci)
    np.add.at(d, a2, cj)
    with np.errstate(divide="ignore"):
        return sigma**2 / d


def _check_against_bound(est, flag, truth, var, ref):
    """est/truth/var: (antenna, ..., pol) over the solved antennas."""
    truth_ref = truth * np.conj(truth[ref]) / np.abs(truth[ref])
    err2 = np.abs(est - truth_ref) ** 2
    expect = 2 * var + np.abs(truth) ** 2 * var[ref] / np.abs(truth[ref]) ** 2
    expect[ref] = var[ref]
    assert not flag.any()
    z2 = err2 / expect
    # Every sample within the k-sigma bound...
    assert np.all(z2 < K_SIGMA**2), np.sqrt(z2.max())
    # ...and the mean squared error equals the bound: z2 has mean 1; over
    # >= 300 samples its standard error is < 0.06, so rtol 0.25 is > 4 s.e.
    assert_allclose(z2.mean(), 1.0, rtol=0.25)


def test_bandpass_within_thermal_bound(calibrator_tile, sim):
    ds, truth, src, sigma = calibrator_tile
    bp = solve_bandpass(ds, src, solnorm=False)
    assert bp.attrs["refant"] == "103"
    ants = np.array(sim.ANTENNAS)
    ref = sim.ANTENNAS.index(102)
    var = _expected_var(
        ds,
        src,
        np.broadcast_to(truth, (ds.sizes["time"],) + truth.shape[1:]),
        sigma,
        per_channel=True,
    )
    _check_against_bound(
        bp.BANDPASS.values[ants],
        bp.BANDPASS_FLAG.values[ants],
        truth[0][ants],
        var[ants],
        ref,
    )
    # The reported SNR is |g| / σ_g with σ_g estimated from the residuals.
    snr_expected = np.abs(truth[0][ants]) / np.sqrt(var[ants])
    # 15% : σ is estimated from ~ 4 x 76 residual samples per cell (s.e. ~ 4%).
    assert_allclose(bp.BANDPASS_SNR.values[ants], snr_expected, rtol=0.15)
    # Antennas without data are flagged.
    others = np.setdiff1d(np.arange(117), ants)
    assert bp.BANDPASS_FLAG.values[others].all()


def test_gains_per_interval_within_bound(sim):
    rng = np.random.default_rng(7)
    src = sim.transit_source(flux=20.0)
    ds = make_visibility_dataset(
        sources=[src],
        antennas=sim.ANTENNAS,
        n_time=6,
        n_chan_per_subband=2,
        subbands=[2, 9],
    )
    sigma = sim.noise_sigma(ds)
    n_int = 3  # 6 integrations of 12.9 s, solint 25.8 s → 3 intervals of 2
    g_int = (1 + 0.1 * rng.standard_normal((n_int, 117, 1, 2))) * np.exp(
        1j * rng.uniform(-np.pi, np.pi, (n_int, 117, 1, 2))
    )
    g_t = np.repeat(g_int, 2, axis=0) * np.ones((1, 1, ds.sizes["frequency"], 1))
    dsc = sim.corrupt(ds, g_t, sigma=sigma, rng=rng)
    sol = solve_gains(dsc, src, solint=2 * 12.884901888 + 1e-3)
    assert sol.sizes["gain_time"] == n_int
    assert_allclose(
        sol.gain_time.values, ds.time.values.reshape(3, 2).mean(axis=1), atol=1e-6
    )
    ants = np.array(sim.ANTENNAS)
    ref = sim.ANTENNAS.index(102)
    for k in range(n_int):
        sub = dsc.isel(time=slice(2 * k, 2 * k + 2))
        var = _expected_var(sub, src, g_t[2 * k : 2 * k + 2], sigma, per_channel=False)
        est = sol.GAIN.values[k][ants]
        truth = g_int[k, :, 0][ants]
        truth_ref = truth * np.conj(truth[ref]) / np.abs(truth[ref])
        expect = (
            2 * var[ants]
            + np.abs(truth) ** 2 * var[ants][ref] / np.abs(truth[ref]) ** 2
        )
        expect[ref] = var[ants][ref]
        z2 = np.abs(est - truth_ref) ** 2 / expect
        assert np.all(z2 < K_SIGMA**2)


def test_phase_only_gains_have_unit_amplitude(calibrator_tile, sim):
    ds, truth, src, sigma = calibrator_tile
    bp = solve_bandpass(ds, src)
    sol = solve_gains(ds, src, mode="p", bandpass=bp, solint="int")
    ants = np.array(sim.ANTENNAS)
    # Phase-only: |g| = 1 to float32 precision.
    assert_allclose(np.abs(sol.GAIN.values[:, ants]), 1.0, rtol=1e-6)
    # After the bandpass, the residual gain phases are pure noise: < k σ_phase.
    snr = sol.GAIN_SNR.values[:, ants]
    assert np.all(np.abs(np.angle(sol.GAIN.values[:, ants])) < K_SIGMA * 2 / snr)


def test_apply_makes_point_source_constant(calibrator_tile, sim):
    """Calibrated visibilities equal the model within the thermal noise σ/|g_i g_j|."""
    ds, truth, src, sigma = calibrator_tile
    bp = solve_bandpass(ds, src, solnorm=False)
    cal = apply_calibration(ds, bp)
    assert hasattr(cal.VISIBILITY.data, "dask")  # lazy
    model = predict_model(ds, src).values[..., None]
    a1, a2 = ds.antenna1.values, ds.antenna2.values
    cross = a1 != a2
    resid = (cal.VISIBILITY.values - model)[:, cross]
    noise = sigma / np.abs(truth[:, a1] * truth[:, a2])[:, cross]
    z = resid / noise
    # Per part the normalised residual has unit variance, plus the (small)
    # solution error: σ_g/|g| ~ 1/sqrt(N_b N_t) ~ 0.15 of the per-sample noise.
    assert_allclose(np.std(z.real), 1.0, rtol=0.1)
    assert_allclose(np.std(z.imag), 1.0, rtol=0.1)
    assert not cal.FLAG.values[:, cross].any()


def test_refant_fallback_and_auto(calibrator_tile, sim):
    ds, truth, src, sigma = calibrator_tile
    no103 = ds.copy()
    bad = (ds.antenna1.values == 102) | (ds.antenna2.values == 102)
    flag = ds.FLAG.values.copy()
    flag[:, bad] = True
    no103["FLAG"] = (ds.FLAG.dims, flag)
    bp = solve_bandpass(no103, src)
    assert bp.attrs["refant"] == "104"
    assert bp.BANDPASS_FLAG.values[102].all()
    ref = 103
    assert_allclose(np.angle(bp.BANDPASS.values[ref]), 0.0, atol=1e-6)
    auto = solve_bandpass(ds, src, refant="auto")
    assert auto.attrs["refant"] in [str(a + 1) for a in sim.ANTENNAS]
    with pytest.raises(CalibrationError):
        solve_bandpass(no103, src, refant="103", min_snr=1e9)


def test_min_baselines_and_uv_cut(calibrator_tile, sim):
    ds, truth, src, sigma = calibrator_tile
    # Antenna 1 (number 0) keeps only 3 of its baselines: it must be flagged.
    a1, a2 = ds.antenna1.values, ds.antenna2.values
    mine = np.flatnonzero(((a1 == 0) | (a2 == 0)) & (a1 != a2))
    flag = ds.FLAG.values.copy()
    flag[:, mine[3:]] = True
    dsf = ds.copy()
    dsf["FLAG"] = (ds.FLAG.dims, flag)
    bp = solve_bandpass(dsf, src, min_baselines=4)
    assert bp.BANDPASS_FLAG.values[0].all()
    assert not bp.BANDPASS_FLAG.values[sim.ANTENNAS[1:]].any()
    # The uv cut removes exactly the baselines shorter than uvmin.
    w = uv_weights(ds, uvmin_lambda=2000.0).values
    uv = np.hypot(ds.UVW.values[..., 0], ds.UVW.values[..., 1])
    uvl = uv[..., None] * ds.frequency.values / 299_792_458.0
    assert_array_equal(w[..., 0] > 0, (uvl >= 2000.0) & (a1 != a2)[None, :, None])


def test_low_snr_flagged_and_gap_fill(calibrator_tile, sim):
    ds, truth, src, sigma = calibrator_tile
    flag = ds.FLAG.values.copy()
    flag[:, :, 5:7] = True  # two dead channels
    dsf = ds.copy()
    dsf["FLAG"] = (ds.FLAG.dims, flag)
    bp = solve_bandpass(dsf, src, fill_gaps=0)
    ants = np.array(sim.ANTENNAS)
    assert bp.BANDPASS_FLAG.values[ants][:, 5:7].all()
    filled = solve_bandpass(dsf, src, fill_gaps=2)
    assert not filled.BANDPASS_FLAG.values[ants].any()
    g = filled.BANDPASS.values[ants]
    assert_allclose(g[:, 5], (2 * g[:, 4] + g[:, 7]) / 3, rtol=1e-5)
    too_short = solve_bandpass(dsf, src, fill_gaps=1)
    assert too_short.BANDPASS_FLAG.values[ants][:, 5:7].all()
    # An absurd SNR threshold flags everything and leaves no reference antenna.
    with pytest.raises(CalibrationError):
        solve_bandpass(ds, src, min_snr=1e6)


def test_chunked_equals_unchunked(calibrator_tile, sim):
    ds, truth, src, sigma = calibrator_tile
    one = solve_bandpass(ds, src)
    many = solve_bandpass(ds.chunk({"frequency": 5, "time": 3}), src)
    # Same arithmetic, different grouping of the sums: float64 round-off only.
    assert_allclose(many.BANDPASS.values, one.BANDPASS.values, rtol=1e-5, atol=1e-6)
    g1 = solve_gains(ds, src, bandpass=one)
    g2 = solve_gains(ds.chunk({"frequency": 5}), src, bandpass=one)
    assert_allclose(g2.GAIN.values, g1.GAIN.values, rtol=1e-5, atol=1e-6)


def test_precomputed_model_gives_the_same_solutions(calibrator_tile):
    """``model=``: one prediction shared by several solves (solve_calibration's)."""
    from dsa110.calibration import solve_calibration
    from dsa110.errors import ConfigurationError

    ds, truth, src, sigma = calibrator_tile
    lazy = predict_model(ds.chunk({"frequency": 5}), src)
    model = predict_model(ds.chunk({"frequency": 5}), src, persist=True)
    assert model.dtype == np.result_type(ds.VISIBILITY.dtype, np.complex64)
    # complex64 values of the same DFT
    expected = lazy.values
    assert_allclose(model.values, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    bp = solve_bandpass(ds, src)
    bp_m = solve_bandpass(ds, src, model=model)
    # the model's float32 rounding only (solutions agree to the data's precision)
    assert_allclose(bp_m.BANDPASS.values, bp.BANDPASS.values, rtol=1e-5, atol=1e-6)
    g = solve_gains(ds, src, bandpass=bp)
    g_m = solve_gains(ds, src, bandpass=bp, model=model.values)
    assert_allclose(g_m.GAIN.values, g.GAIN.values, rtol=1e-5, atol=1e-6)
    # the model given is the one used: twice the sky, gains 1/√2 as large
    g_2 = solve_gains(ds, src, bandpass=bp, model=2 * model.values)
    assert_allclose(
        np.abs(g_2.GAIN.values),
        np.abs(g.GAIN.values) / np.sqrt(2),
        rtol=1e-5,
        atol=1e-6,
    )
    both = solve_calibration(ds, src)
    assert_allclose(both.BANDPASS.values, bp.BANDPASS.values, rtol=1e-5, atol=1e-6)
    assert_allclose(both.GAIN.values, g.GAIN.values, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigurationError, match="model: expected shape"):
        solve_bandpass(ds, src, model=model.values[:, :, :-1])


def test_solnorm(calibrator_tile, sim):
    ds, truth, src, sigma = calibrator_tile
    bp = solve_bandpass(ds, src, solnorm=True)
    ants = np.array(sim.ANTENNAS)
    # Mean amplitude over channels is 1 per antenna and polarization (float32).
    assert_allclose(np.abs(bp.BANDPASS.values[ants]).mean(axis=1), 1.0, rtol=1e-6)


def test_delay_solve_recovers_delays(sim):
    from dsa110.calibration import solve_calibration, solve_delay

    rng = np.random.default_rng(11)
    src = sim.transit_source(flux=30.0)
    ds = make_visibility_dataset(
        sources=[src],
        antennas=sim.ANTENNAS,
        n_time=2,
        n_chan_per_subband=8,
        subbands=range(0, 16, 3),
    )
    freq = ds.frequency.values
    tau = rng.uniform(-2e-9, 2e-9, (117, 2))  # ±2 ns: < half a turn per channel step
    g = np.exp(2j * np.pi * tau[:, None, :] * freq[None, :, None])[None]
    dsc = sim.corrupt(ds, g, sigma=sim.noise_sigma(ds), rng=rng)
    k = solve_delay(dsc, src)
    ants = np.array(sim.ANTENNAS)
    rel = tau[ants] - tau[102]
    got = k.DELAY.values[ants]
    # Per-channel phase noise ~ 1/SNR ~ 0.02 rad over a 190 MHz lever arm:
    # delay noise ~ 0.02 / (2π · 55 MHz rms spread) ~ 6e-11 s; 5 ps-level k-σ margin.
    bandpass_snr = np.median(solve_bandpass(dsc, src).BANDPASS_SNR.values[ants])
    sigma_tau = (
        np.sqrt(2) / bandpass_snr / (2 * np.pi * np.std(freq) * np.sqrt(freq.size))
    )
    assert np.all(np.abs(got - rel) < K_SIGMA * sigma_tau)
    # With delays solved first, the bandpass that remains is flat in phase.
    sol = solve_calibration(dsc, src, delay=True)
    assert "DELAY" in sol
    cal = apply_calibration(dsc, sol)
    model = predict_model(dsc, src).values[..., None]
    cross = dsc.antenna1.values != dsc.antenna2.values
    ratio = cal.VISIBILITY.values[:, cross] / model[:, cross]
    assert_allclose(np.median(np.angle(ratio)), 0.0, atol=0.01)
    assert_allclose(np.median(np.abs(ratio)), 1.0, rtol=0.01)


def _total_gain_error(sol, truth, ref):
    """Largest |bandpass × gain − truth| over antennas, channels and pols (truth
    referenced to the solutions' reference antenna)."""
    bp = sol["BANDPASS"].values  # (antenna, frequency, pol)
    g = sol["GAIN"].values[0]  # (antenna, pol)
    est = bp * g[:, None, :]
    t = truth[0]  # (antenna, frequency, pol)
    t_ref = t * np.conj(t[ref]) / np.abs(t[ref])
    ok = ~sol["BANDPASS_FLAG"].values
    return np.abs(est - t_ref)[ok].max()


def test_field_sources_in_the_model_remove_the_gain_bias(sim):
    """A calibrator solved against its own point model takes the rest of the
    field into the gains; with the field's sources in the model the noise-free
    solutions are exact."""
    from dsa110.calibration import PointSource, solve_calibration

    cal = sim.transit_source(flux=15.0, spectral_index=-0.8)
    field = [
        PointSource(cal.ra + np.radians(0.8), cal.dec + np.radians(0.3), 1.2),
        PointSource(cal.ra - np.radians(0.5), cal.dec - np.radians(0.9), 0.7, -0.7),
        PointSource(cal.ra + np.radians(0.2), cal.dec - np.radians(1.4), 0.9),
    ]
    ds = make_visibility_dataset(
        sources=[cal, *field],
        antennas=sim.ANTENNAS,
        n_time=4,
        n_chan_per_subband=4,
        subbands=[0, 7, 15],
    )
    rng = np.random.default_rng(7)
    truth = sim.random_bandpass(rng, ds.sizes["frequency"])
    ds = sim.corrupt(ds, truth, sigma=0.0, rng=rng)
    ref = 102  # antenna "103" (solutions and truth span all 117 antennas)
    alone = solve_calibration(ds, cal, min_snr=0.0)
    modelled = solve_calibration(ds, [cal, *field], min_snr=0.0)
    err_alone = _total_gain_error(alone, truth, ref)
    err_modelled = _total_gain_error(modelled, truth, ref)
    # the field (2.8 Jy before the beam) against 15 Jy biases the gains by
    # percents; modelled, only the complex64 storage of the data remains
    assert err_alone > 5e-3, err_alone
    assert err_modelled < 1e-4, err_modelled


def test_field_sources_selects_by_apparent_flux():
    import pandas as pd

    from dsa110.calibration import field_sources
    from dsa110.catalogs import get_calibrator
    from dsa110.telescope import airy_beam

    cal = get_calibrator("3C48")
    ra0, dec0 = np.degrees(cal.ra), np.degrees(cal.dec)
    cat = pd.DataFrame(
        {
            # 3C48 itself (as NVSS lists it), a bright source near the centre, a
            # bright one in the beam's first null, a faint one, one with an index
            "ra": [ra0 + 1e-3, ra0 + 0.3, ra0, ra0 - 0.2, ra0 + 0.1],
            "dec": [dec0, dec0, dec0 + 3.3, dec0 + 0.2, dec0 - 0.5],
            "flux_int": [16.0, 0.5, 5.0, 0.01, 0.8],
            "alpha": [np.nan, np.nan, np.nan, np.nan, -0.9],
        }
    )
    got = field_sources(
        cat, cal.ra, cal.dec, 1.4e9, min_apparent_jy=0.02, exclude=[cal]
    )
    assert [round(np.degrees(s.ra) - ra0, 6) for s in got] == [0.1, 0.3]
    assert got[0].spectral_index == -0.9 and got[1].spectral_index == 0.0
    assert got[1].flux == 0.5
    # the null's source is there at a lower cut (its apparent flux is tiny, not 0)
    null = 5.0 * airy_beam(np.radians(3.3), 1.4e9)
    more = field_sources(cat, cal.ra, cal.dec, 1.4e9, min_apparent_jy=null * 0.99)
    assert len(more) == 5  # nothing excluded, the 10 mJy source above the cut too
    assert (
        field_sources(cat.iloc[:0], cal.ra, cal.dec, 1.4e9, min_apparent_jy=0.02) == []
    )


def test_refant_that_is_no_antenna_warns_and_falls_back():
    """A reference antenna name the data do not have (a typo in the
    configuration) is said, not silently replaced by a fallback."""
    from dsa110.calibration.solve import choose_refant
    from dsa110.errors import DSA110Warning

    ok = np.ones((2, 4, 2), bool)
    snr = np.ones((2, 4, 2))
    names = np.array(["101", "102", "103", "104"])
    assert choose_refant(ok, snr, names, refant="103") == 2
    with pytest.warns(DSA110Warning, match="refant='999'"):
        assert choose_refant(ok, snr, names, refant="999", fallback=("104",)) == 3


def test_a_calibrator_outside_the_beam_is_refused(calibrator_tile):
    """3C286 on a tile of another declination gave unflagged |g| ≈ 2000."""
    from dsa110.calibration import CalibrationError, solve_calibration
    from dsa110.calibration.solve import solve_gains
    from dsa110.catalogs import get_calibrator

    ds, _, src, _ = calibrator_tile
    far = get_calibrator("3C286")  # the tile transits at +33°, 3C286 at +30.5°
    with pytest.raises(CalibrationError, match="calibrator 3C286.*not in the field"):
        solve_calibration(ds, far)
    with pytest.raises(CalibrationError, match="not in the field"):
        solve_gains(ds, [far])


@pytest.mark.parametrize(
    "case, expected",
    [
        ("zero", "visibilities inside the uv range 1000–inf λ are all zero"),
        ("flagged", "100% of the cross-correlations are flagged"),
        ("uv cut", r"uv range 1e\+09–inf λ \(0% of the cross-correlations are flagged"),
    ],
    ids=["zero", "flagged", "uv cut"],
)
def test_no_usable_data_is_reported_as_such(calibrator_tile, case, expected):
    ds, truth, src, sigma = calibrator_tile
    kwargs = {"uvmin_lambda": 1e9} if case == "uv cut" else {}
    if case == "zero":
        ds = ds.assign(VISIBILITY=ds.VISIBILITY * 0)
    elif case == "flagged":
        ds = ds.assign(FLAG=ds.FLAG | True)
    # Not "reference antenna 103 and its fallbacks have no solutions".
    with pytest.raises(CalibrationError, match=f"no data to solve on.*{expected}"):
        solve_bandpass(ds, src, **kwargs)


def test_no_usable_data_with_a_flagged_bandpass_names_it(calibrator_tile):
    ds, truth, src, sigma = calibrator_tile
    bp = solve_bandpass(ds, src)
    bp["BANDPASS_FLAG"] = bp.BANDPASS_FLAG | True
    with pytest.raises(CalibrationError, match="unflagged in the bandpass applied"):
        solve_gains(ds, src, bandpass=bp)
