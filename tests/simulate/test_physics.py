"""The simulated visibilities match the ground truth and independent evaluations."""

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.phasing import meridian_centers, source_directions
from dsa110.simulate import (
    SimulationConfig,
    SkyModel,
    integration_times,
    load_truth,
    noise_sigma,
    simulate_observation,
)
from dsa110.telescope import SPEED_OF_LIGHT, airy_beam, antenna_table, default_site
from tests.simulate.conftest import START

DEC = np.radians(33.0)


def _read(path):
    with h5py.File(path) as f:
        return (
            f["Data/visdata"][:, 0],
            f["Header/ant_1_array"][:],
            f["Header/ant_2_array"][:],
            f["Header/freq_array"][0],
            int(f["Header/Nbls"][()]),
        )


def _active_index(truth, numbers):
    """Index into truth's antenna axis of antenna numbers (station − 1)."""
    return np.searchsorted(truth.antennas, numbers + 1)


@pytest.mark.parametrize("gains", [True, False])
def test_point_source_at_phase_centre(tmp_path, tiny_config, gains):
    t_idx = 1
    times = integration_times(START, tiny_config)
    ra_c, dec_c = meridian_centers(times, DEC, default_site())
    flux = 7.5
    sky = SkyModel(
        ra_c[t_idx : t_idx + 1], dec_c[t_idx : t_idx + 1], [flux], [0.0], [False]
    )
    (tile,) = simulate_observation(
        tmp_path,
        config=tiny_config,
        start=START,
        dec_deg=33.0,
        sources=sky,
        population=False,
        noise=False,
        gains=gains,
        seed=3,
    )
    truth = load_truth(tile.truth_path)
    assert_allclose(truth.source_offset[0, t_idx], 0.0, rtol=0, atol=1e-12)
    beam = truth.source_apparent_flux[0, t_idx] / flux
    assert_allclose(beam, 1.0, rtol=1e-12)
    for path in tile.files:
        vis, a1, a2, freqs, n_bl = _read(path)
        v = vis[t_idx * n_bl : (t_idx + 1) * n_bl]
        fi = np.searchsorted(truth.frequency, freqs)
        g = truth.gains[t_idx][:, fi, :]  # (antenna, freq, pol), file order
        gi, gj = g[_active_index(truth, a1[:n_bl])], g[_active_index(truth, a2[:n_bl])]
        if not gains:
            assert_array_equal(g, 1.0)
        expected = flux * beam * gi * np.conj(gj)
        auto = a1[:n_bl] == a2[:n_bl]
        expected[auto] = np.abs(gi[auto]) ** 2 * (flux + truth.sefd_jy)
        # complex64 storage: a few float32 ulps of each value
        assert_allclose(v, expected, rtol=2e-6, atol=0)
        assert_array_equal(v[auto].imag, 0.0)


def test_off_centre_source_phase_matches_direct_evaluation(tmp_path, tiny_config, rng):
    times = integration_times(START, tiny_config)
    site = default_site()
    ra_c, dec_c = meridian_centers(times, DEC, site)
    ra_s, dec_s = ra_c[0] + np.radians(0.6), dec_c[0] - np.radians(0.4)
    flux, alpha = 3.0, -0.8
    sky = SkyModel([ra_s], [dec_s], [flux], [alpha], [False])
    (tile,) = simulate_observation(
        tmp_path,
        config=tiny_config,
        start=START,
        dec_deg=33.0,
        sources=sky,
        population=False,
        noise=False,
        gains=False,
        seed=4,
    )
    pos = antenna_table().relative_ecef(site)
    vis, a1, a2, freqs, n_bl = _read(tile.files[1])
    for _ in range(12):
        t = int(rng.integers(len(times)))
        b = int(rng.integers(n_bl))
        if a1[b] == a2[b]:
            continue
        d = source_directions(ra_s, dec_s, times[t : t + 1], site)[0]
        s = source_directions(ra_c[t], dec_c[t], times[t : t + 1], site)[0]
        theta = np.arccos(np.clip(d @ s, -1, 1))
        bvec = pos[a2[b]] - pos[a1[b]]
        expected = (
            flux
            * (freqs / 1.4e9) ** alpha
            * airy_beam(theta, freqs)
            * np.exp(2j * np.pi * (bvec @ (d - s)) * freqs / SPEED_OF_LIGHT)
        )
        # float32 phasors and storage; arccos vs chord offset differ by ~1e-8 rad
        assert_allclose(vis[t * n_bl + b, :, 0], expected, rtol=2e-5, atol=0)
        assert_allclose(vis[t * n_bl + b, :, 1], expected, rtol=2e-5, atol=0)


def test_noise_sigma_matches_radiometer_equation(tmp_path):
    config = SimulationConfig.preset("small")
    (tile,) = simulate_observation(
        tmp_path, config=config, population=False, gains=False, noise=True, seed=11
    )
    truth = load_truth(tile.truth_path)
    sigma = noise_sigma(config.sefd_jy, 96 * 30517.578125, config.integration_time_s)
    assert_allclose(truth.sigma_jy, sigma, rtol=1e-12)
    cross, autos = [], []
    for path in tile.files:
        vis, a1, a2, _, _ = _read(path)
        cross.append(vis[a1 != a2].ravel())
        autos.append(vis[a1 == a2].ravel())
    cross, autos = np.concatenate(cross), np.concatenate(autos)
    n = cross.size  # 50688 complex samples
    # the sample std of N Gaussians has relative error 1/sqrt(2N) ≈ 0.3 %: allow ~4.5σ
    tol = 4.5 / np.sqrt(2 * n)
    assert_allclose(cross.real.std(), sigma, rtol=tol)
    assert_allclose(cross.imag.std(), sigma, rtol=tol)
    assert_allclose(cross.real.mean(), 0.0, atol=4.5 * sigma / np.sqrt(n))
    auto_sigma = config.sefd_jy / np.sqrt(96 * 30517.578125 * config.integration_time_s)
    m = autos.size
    assert_allclose(
        autos.real.mean(), config.sefd_jy, rtol=0, atol=4.5 * auto_sigma / np.sqrt(m)
    )
    assert_allclose(autos.real.std(), auto_sigma, rtol=4.5 / np.sqrt(2 * m))


def test_rfi_mask_marks_exactly_the_strong_data(tmp_path, tiny_config):
    (tile,) = simulate_observation(
        tmp_path,
        config=tiny_config,
        population=False,
        gains=False,
        noise=True,
        rfi=True,
        seed=5,
    )
    truth = load_truth(tile.truth_path)
    assert truth.rfi_mask.shape == (3, 78, 12, 2)
    assert truth.rfi_mask.any() and not truth.rfi_mask.all()
    for path in tile.files:
        vis, a1, a2, freqs, n_bl = _read(path)
        fi = np.searchsorted(truth.frequency, freqs)
        mask = truth.rfi_mask[:, :, fi, :].reshape(-1, freqs.size, 2)
        cross = a1 != a2
        # RFI ≥ 30σ × 0.8 × 0.7² ≈ 12σ; noise beyond 8σ has probability e^-32
        strong = np.abs(vis) > 8 * truth.sigma_jy
        assert_array_equal(strong[cross], mask[cross])


def test_seed_reproducible_and_independent_of_threads(tmp_path, tiny_config):
    kw = dict(config=tiny_config, population=False, noise=True, rfi=True, seed=9)
    (a,) = simulate_observation(tmp_path / "a", nthreads=1, **kw)
    (b,) = simulate_observation(tmp_path / "b", nthreads=3, **kw)
    assert [p.name for p in a.files] == [p.name for p in b.files]
    for pa, pb in zip(a.files, b.files):
        assert_array_equal(_read(pa)[0], _read(pb)[0])
    (c,) = simulate_observation(tmp_path / "c", **{**kw, "seed": 10})
    assert not np.array_equal(_read(a.files[0])[0], _read(c.files[0])[0])


def test_gains_are_smooth_and_drift_slowly(small_run):
    _, tiles = small_run
    truth = load_truth(tiles[0].truth_path)
    g = truth.gains.astype(np.complex128)  # (time, antenna, freq, pol)
    amp = np.abs(g)
    assert amp.min() > 0.5 and amp.max() < 1.5
    # drift over one 77 s tile is well under a degree per integration
    dphi = np.angle(g[1:] * np.conj(g[:-1]))
    assert np.degrees(np.abs(dphi)).max() < 1.0
    assert np.degrees(np.abs(dphi)).max() > 0.0
    # the instrument is the same in consecutive tiles: gains continue smoothly
    nxt = load_truth(tiles[1].truth_path).gains.astype(np.complex128)
    step = np.angle(nxt[0] * np.conj(g[-1]))
    assert np.degrees(np.abs(step)).max() < 1.0


def test_gaussian_source_matches_direct_evaluation(tmp_path, tiny_config):
    times = integration_times(START, tiny_config)
    site = default_site()
    ra_c, dec_c = meridian_centers(times, DEC, site)
    fwhm = np.radians(60.0 / 3600)  # 1 arcmin: resolved by the outriggers
    ra_s, dec_s, flux = ra_c[2] - np.radians(0.3), dec_c[2] + np.radians(0.2), 4.0
    sky = SkyModel([ra_s], [dec_s], [flux], [0.0], [False], [fwhm])
    (tile,) = simulate_observation(
        tmp_path,
        config=tiny_config,
        start=START,
        dec_deg=33.0,
        sources=sky,
        population=False,
        noise=False,
        gains=False,
        seed=6,
    )
    truth = load_truth(tile.truth_path)
    assert_allclose(truth.source_size, [fwhm], rtol=1e-15)
    pos = antenna_table().relative_ecef(site)
    vis, a1, a2, freqs, n_bl = _read(tile.files[2])
    t = 2
    d = source_directions(ra_s, dec_s, times[t : t + 1], site)[0]
    s = source_directions(ra_c[t], dec_c[t], times[t : t + 1], site)[0]
    beam = airy_beam(np.arccos(np.clip(d @ s, -1, 1)), freqs)
    bvec = pos[a2[:n_bl]] - pos[a1[:n_bl]]
    u_perp = (
        np.linalg.norm(bvec - np.outer(bvec @ d, d), axis=1)[:, None]
        * freqs
        / SPEED_OF_LIGHT
    )
    taper = np.exp(-((np.pi * fwhm * u_perp) ** 2) / (4 * np.log(2)))
    phase = np.exp(2j * np.pi * (bvec @ (d - s))[:, None] * freqs / SPEED_OF_LIGHT)
    expected = flux * beam * taper * phase
    auto = a1[:n_bl] == a2[:n_bl]
    expected[auto] += truth.sefd_jy
    got = vis[t * n_bl : (t + 1) * n_bl, :, 0]
    assert taper.min() < 0.5  # really resolved on the long baselines
    # float32 storage; atol for the SEFD-dominated autocorrelations' rounding
    assert_allclose(got, expected, rtol=2e-5, atol=1e-3)


def test_population_threshold_drops_only_faint_sources(small_run):
    from dsa110.simulate.observation import _Population
    from dsa110.simulate.sky import angular_separation

    _, tiles = small_run
    truth = load_truth(tiles[0].truth_path)
    config = truth.config
    radius = 3 * 1.2197 * SPEED_OF_LIGHT / (truth.frequency[0] * 4.65)
    pop = _Population(7, config, truth.pointing_dec, radius)
    cand = pop.around(truth.phase_center_ra.min(), truth.phase_center_ra.max())
    assert len(cand) == truth.n_population_drawn
    kept = np.isin(cand.ra, truth.source_ra[truth.source_population])
    assert kept.sum() == truth.source_population.sum()
    sep = angular_separation(
        cand.ra[:, None],
        cand.dec[:, None],
        truth.phase_center_ra[None],
        truth.phase_center_dec[None],
    )  # (source, time), ICRS: within ~1e-4 relative of the apparent offsets
    dropped = ~kept
    freqs = truth.frequency
    spec = (freqs[None, :] / config.reference_frequency_hz) ** cand.spectral_index[
        dropped, None
    ]
    worst = np.zeros(dropped.sum())
    for t in range(sep.shape[1]):
        beam = airy_beam(sep[dropped, t, None], freqs[None, :])
        worst = np.maximum(
            worst, np.max(cand.flux[dropped, None] * spec * beam, axis=1)
        )
    # every dropped source stays below the threshold at every integration and channel
    # (1 % margin for the ICRS-vs-apparent offset approximation of this check)
    assert worst.max() < config.population_threshold_jy * 1.01
    # and the kept ones include every source that is actually bright in the beam
    bright = truth.source_apparent_flux[truth.source_population].max(axis=1)
    assert np.sum(bright > config.population_threshold_jy) > 3


def test_source_drifts_through_the_beam_across_tiles(tmp_path):
    config = SimulationConfig.preset("small", subbands=(5,), n_times=4)
    n_tiles = 5
    times = np.concatenate(
        [integration_times(START, config, k) for k in range(n_tiles)]
    )
    ra_c, dec_c = meridian_centers(times, DEC, default_site())
    mid = times.size // 2  # the source transits in the middle tile
    sky = SkyModel([ra_c[mid]], [dec_c[mid]], [10.0], [0.0], [False])
    tiles = simulate_observation(
        tmp_path,
        config=config,
        start=START,
        n_tiles=n_tiles,
        sources=sky,
        population=False,
        noise=False,
        gains=False,
        seed=2,
    )
    apparent = np.concatenate(
        [load_truth(t.truth_path).source_apparent_flux[0] for t in tiles]
    )
    assert np.argmax(apparent) == mid
    assert_allclose(apparent[mid], 10.0, rtol=1e-12)
    # ±129 s of drift at δ = 33°: ±0.45° on the sky, A ≈ 0.93 of the 2.7° FWHM beam
    assert apparent[0] < 0.95 * apparent[mid] and apparent[-1] < 0.95 * apparent[mid]
    assert np.all(np.diff(apparent[: mid + 1]) > 0) and np.all(
        np.diff(apparent[mid:]) < 0
    )
    # the data follow: the autocorrelations carry SEFD + S·A(θ(t), f)
    autos = []
    for tile in tiles:
        vis, a1, a2, freqs, n_bl = _read(tile.files[0])
        autos.append(vis[a1 == a2, 0, 0].real.reshape(config.n_times, -1)[:, 0])
    sky_power = np.concatenate(autos) - config.sefd_jy
    offsets = np.concatenate([load_truth(t.truth_path).source_offset[0] for t in tiles])
    # float32 storage of SEFD + S·A ≈ 5.8e3: ~5e-4 Jy rounding
    assert_allclose(sky_power, 10.0 * airy_beam(offsets, freqs[0]), rtol=0, atol=2e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dec_deg=95.0), "dec_deg"),
        (dict(n_tiles=0), "n_tiles"),
        (dict(preset="medium"), "preset"),
        (dict(sources=[(1.0, 2.0, 3.0)]), "sources"),
        (dict(start="yesterday"), "start"),
    ],
)
def test_bad_options_raise_configuration_error(tmp_path, kwargs, match):
    from dsa110.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=match):
        simulate_observation(tmp_path, **kwargs)
