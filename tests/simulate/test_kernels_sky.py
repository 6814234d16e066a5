"""Kernels, sky model and configuration of the simulator, against direct references."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.errors import ConfigurationError
from dsa110.simulate import SimulationConfig, SkyModel, default_sefd, population_counts
from dsa110.simulate.kernels import antenna_phasors, assemble_visibilities
from dsa110.simulate.observation import correlator_baselines
from dsa110.simulate.sky import airy_envelope, angular_separation, draw_population
from dsa110.telescope import SPEED_OF_LIGHT, airy_beam, subband_frequencies


@pytest.mark.parametrize("uniform", [True, False])
def test_antenna_phasors_against_direct_exp(rng, uniform):
    pos = rng.normal(0, 1000, (7, 3))
    delta = rng.normal(0, 0.02, (5, 3))
    freqs = subband_frequencies(3)
    if not uniform:
        freqs = np.sort(rng.uniform(1.3e9, 1.5e9, 48))
    out = antenna_phasors(pos, delta, freqs, out=np.empty((48, 7, 5), np.complex128))
    expected = np.exp(
        2j
        * np.pi
        * np.einsum("ix,kx->ik", pos, delta)[None]
        * freqs[:, None, None]
        / SPEED_OF_LIGHT
    )
    # complex128 recurrence over 48 channels of phases up to ~1e3 rad: ~1e-12
    assert_allclose(out, expected, rtol=0, atol=1e-10)


def test_assemble_against_numpy_reference(rng):
    n_ant, n_freq = 5, 6
    a1, a2 = correlator_baselines(n_ant)
    m = rng.normal(size=(n_freq, n_ant, n_ant)) + 1j * rng.normal(
        size=(n_freq, n_ant, n_ant)
    )
    model = (m + np.conj(np.swapaxes(m, 1, 2))).astype(np.complex64)  # Hermitian
    model[:, np.arange(n_ant), np.arange(n_ant)] = model.real[
        :, np.arange(n_ant), np.arange(n_ant)
    ]
    gains = (
        rng.uniform(0.5, 1.5, (n_ant, n_freq, 2))
        * np.exp(1j * rng.uniform(-3, 3, (n_ant, n_freq, 2)))
    ).astype(np.complex64)
    noise = rng.standard_normal((a1.size, n_freq, 2, 2), dtype=np.float32)
    rfi_amp = np.where(np.arange(n_freq) == 2, 40.0, 0.0)
    resp = np.exp(1j * rng.uniform(-3, 3, n_ant))
    sefd, sigma, scale = 5800.0, 2.3, 1e-3
    out = assemble_visibilities(
        model,
        gains,
        noise,
        rfi_amp,
        resp,
        a1,
        a2,
        sefd=sefd,
        sigma=sigma,
        auto_scale=scale,
    )
    g = gains.astype(np.complex128)
    for b, (i, j) in enumerate(zip(a1, a2)):
        v = model[:, i, j].astype(np.complex128) + rfi_amp * np.conj(resp[i]) * resp[j]
        for p in range(2):
            if i == j:
                exp = (
                    np.abs(g[i, :, p]) ** 2
                    * (v.real + sefd)
                    * (1 + noise[b, :, p, 0] * scale)
                )
            else:
                n = sigma * (noise[b, :, p, 0] + 1j * noise[b, :, p, 1])
                exp = g[i, :, p] * np.conj(g[j, :, p]) * (v + n)
            # complex64 inputs and output: float32 rounding relative to the largest
            # term (values can nearly cancel), ~1e-7 of it
            size = np.abs(g[i, :, p] * g[j, :, p]) * (
                np.abs(v) + sefd * (i == j) + 10 * sigma
            )
            assert_allclose(out[b, 0, :, p], exp, rtol=0, atol=1e-6 * size.max())


def test_correlator_baselines_order():
    a1, a2 = correlator_baselines(4)
    expected = [(i, j) for j in range(4) for i in range(j + 1)]
    assert list(zip(a1.tolist(), a2.tolist())) == expected
    assert correlator_baselines(96)[0].size == 4656


def test_airy_envelope_bounds_the_beam():
    theta = np.radians(np.linspace(0, 15, 20001))
    for f in (1.31e9, 1.4e9, 1.5e9):
        env, beam = airy_envelope(theta, f), airy_beam(theta, f)
        assert np.all(env >= beam * (1 - 1e-12))
        assert np.all(
            np.diff(env) <= 1e-15
        )  # non-increasing: safe to bound by min offset


def test_population_counts_normalisation():
    config = SimulationConfig.preset("small")
    density, sample = population_counts(config)

    def n_above(s):  # integral counts per unit k: γ1 = 2 below 1 Jy, γ2 = 2.5 above
        return s**-1.0 - 1.0 + 1.0 / 1.5 if s < 1.0 else s**-1.5 / 1.5

    smin, smax = config.population_min_flux_jy, config.population_max_flux_jy
    # 50 per deg² above 2.5 mJy (NVSS), less the few above the 20 Jy cap
    assert_allclose(density, 50.0 * (1 - n_above(smax) / n_above(smin)), rtol=1e-9)
    flux = sample(np.random.default_rng(1).random(400_000))
    assert flux.min() >= smin * (1 - 1e-9) and flux.max() <= smax * (1 + 1e-9)
    for s in (0.025, 0.25, 2.0):
        expected = (n_above(s) - n_above(smax)) / (n_above(smin) - n_above(smax))
        frac = np.mean(flux > s)
        # binomial standard error sqrt(p/N) ≤ 5e-4 absolute; allow 5σ
        assert_allclose(frac, expected, rtol=0, atol=5 * np.sqrt(expected / flux.size))


def test_draw_population_density(rng):
    config = SimulationConfig.preset("small")
    sky = draw_population(
        rng,
        config,
        ra_range=(1.0, np.radians(20)),
        dec_center=np.radians(40),
        radius=np.radians(10),
    )
    area = (
        np.radians(20)
        * (np.sin(np.radians(50)) - np.sin(np.radians(30)))
        * (180 / np.pi) ** 2
    )
    # Poisson: relative error 1/sqrt(N) ≈ 0.5 %; allow 5σ
    assert_allclose(len(sky), 50 * area, rtol=5 / np.sqrt(50 * area))
    assert np.all((sky.dec >= np.radians(30)) & (sky.dec <= np.radians(50)))
    assert_allclose(np.mean(sky.spectral_index), -0.7, atol=0.02)


def test_angular_separation_small_and_large():
    assert_allclose(angular_separation(0.0, 0.0, 1e-9, 0.0), 1e-9, rtol=1e-9)
    assert_allclose(angular_separation(0.0, 0.5, np.pi, 0.5), np.pi - 1.0, rtol=1e-12)


def test_default_sefd_value():
    # 2 k 25 K / (0.7 π 2.325²) = 5806 Jy
    assert_allclose(default_sefd(), 5806, rtol=1e-3)


def test_config_validation():
    with pytest.raises(ConfigurationError, match="preset"):
        SimulationConfig.preset("huge")
    with pytest.raises(ConfigurationError, match="n_chan"):
        SimulationConfig.preset("small", n_chan=5)
    with pytest.raises(ConfigurationError, match="antennas"):
        SimulationConfig(antennas=(5, 3))
    with pytest.raises(ConfigurationError, match="unknown"):
        SimulationConfig.preset("small", n_antennas=3)
    cfg = SimulationConfig.preset("small", n_times=2)
    assert SimulationConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ConfigurationError, match="dec"):
        SkyModel.from_degrees([0.0], [95.0], [1.0])


def test_gain_model_matches_its_formula():
    from dsa110.simulate.instrument import draw_gains

    config = SimulationConfig.preset("small")
    model = draw_gains(
        np.random.default_rng(3),
        config,
        freq_min_hz=1.31e9,
        freq_max_hz=1.50e9,
        t0_unix=1.79e9,
    )
    times = 1.79e9 + np.array([0.0, 600.0, 7200.0])
    freqs = np.array([1.31e9, 1.4e9, 1.5e9])
    g = model.evaluate(times, freqs)
    assert g.shape == (3, 12, 3, 2) and g.dtype == np.complex64
    fc, half = 1.405e9, 0.095e9
    for a in range(12):
        for p in range(2):
            x = (freqs - fc) / half
            t2, t3 = 2 * x**2 - 1, 4 * x**3 - 3 * x
            c = model.bandpass_coeffs[a, p]
            amp = model.amplitude[a, p] * (1 + c[0] * x + c[1] * t2 + c[2] * t3)
            q = model.bandpass_phase_coeffs[a, p]
            phase_f = (
                model.phase0[a, p]
                + 2 * np.pi * model.delay_s[a, p] * (freqs - fc)
                + q[0] * t2
                + q[1] * t3
            )
            drift = model.drift_amplitude[a, p] * np.sin(
                2 * np.pi * (times - 1.79e9) / model.drift_period_s[a, p]
                + model.drift_phase[a, p]
            )
            expected = amp[None] * np.exp(1j * (phase_f[None] + drift[:, None]))
            # complex64 output
            assert_allclose(g[:, a, :, p], expected, rtol=1e-6, atol=0)
