"""Analytic and brute-force checks of the Numba flagging kernels."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.flagging import kernels

ST_KW = dict(
    threshold=6.0,
    rho=1.5,
    max_window=64,
    n_iter=3,
    threshold_step=2.0,
    sigma_time=2.5,
    sigma_frequency=5.0,
)


def _noise(shape, rng, offset=5.0):
    return (
        offset + rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    ).astype(np.complex64)


def _sumthreshold_1d_reference(values, flags, window, threshold):
    """Direct definition: every run of `window` samples, summed from scratch."""
    out = flags.copy()
    n_row, n = values.shape
    for r in range(n_row):
        for i0 in range(n - window + 1):
            sel = slice(i0, i0 + window)
            good = ~flags[r, sel] & np.isfinite(values[r, sel])
            if good.sum() and values[r, sel][good].sum() > threshold * good.sum():
                out[r, sel] = True
    return out


def test_flag_invalid_flags_nan_inf_zero_and_keeps_old_flags():
    rng = np.random.default_rng(1)
    vis = _noise((3, 4, 5, 2), rng)
    vis[0, 0, 0, 0] = np.nan
    vis[1, 1, 1, 1] = complex(np.inf, 0)
    vis[2, 2, 2, 0] = complex(1.0, -np.inf)
    vis[0, 3, 4, 1] = 0
    flags = np.zeros(vis.shape, bool)
    flags[2, 0, 3, 1] = True
    out = kernels.flag_invalid(vis, flags)
    expected = flags.copy()
    for idx in [(0, 0, 0, 0), (1, 1, 1, 1), (2, 2, 2, 0), (0, 3, 4, 1)]:
        expected[idx] = True
    assert_array_equal(out, expected)
    assert not flags[0, 0, 0, 0], "input flags must not be modified"


def test_flag_amplitude_threshold_is_inclusive_and_flags_nan():
    vis = np.array([1.0, 2.0, 2.0001, np.nan], dtype=np.complex64).reshape(1, 1, 4, 1)
    out = kernels.flag_amplitude(vis, np.zeros(vis.shape, bool), threshold=2.0)
    assert_array_equal(out.ravel(), [False, False, True, True])


def test_flag_baselines():
    flags = np.zeros((2, 4, 3, 2), bool)
    out = kernels.flag_baselines(flags, np.array([False, True, False, True]))
    assert_array_equal(out.all(axis=(0, 2, 3)), [False, True, False, True])
    assert_array_equal(out.any(axis=(0, 2, 3)), [False, True, False, True])


@pytest.mark.parametrize("window", [1, 2, 3, 4, 8, 17])
def test_sumthreshold_1d_equals_direct_definition(window):
    rng = np.random.default_rng(window)
    values = rng.standard_normal((6, 40))
    values[0, 5] = 8.0
    values[2, 10:20] += 1.5
    values[3, 7] = np.nan
    flags = rng.random(values.shape) < 0.15
    threshold = 2.5 / 1.5 ** np.log2(window)
    out = kernels.sumthreshold_1d(values, flags, window=window, threshold=threshold)
    assert_array_equal(
        out, _sumthreshold_1d_reference(values, flags, window, threshold)
    )


def test_sumthreshold_1d_run_detected_only_by_long_window():
    # A run of 8 samples at 2.0 with χ_1 = 6: window 1 (χ=6) misses it,
    # window 8 (χ = 6 / 1.5^3 ≈ 1.78) flags exactly the run.
    values = np.zeros((1, 32))
    values[0, 10:18] = 2.0
    flags = np.zeros(values.shape, bool)
    assert not kernels.sumthreshold_1d(values, flags, window=1, threshold=6.0).any()
    out = kernels.sumthreshold_1d(values, flags, window=8, threshold=6.0 / 1.5**3)
    expected = np.zeros(32, bool)
    expected[10:18] = True
    assert_array_equal(out[0], expected)


def test_masked_gaussian_smooth_against_direct_normalised_convolution():
    rng = np.random.default_rng(5)
    values = rng.standard_normal((9, 15))
    flags = rng.random(values.shape) < 0.2
    values[0, 0] = np.nan
    st, sf = 1.2, 2.0
    out = kernels.masked_gaussian_smooth(
        values, flags, sigma_time=st, sigma_frequency=sf
    )
    w = (~flags & np.isfinite(values)).astype(float)
    x = np.where(w > 0, values, 0.0)
    ht, hf = int(np.ceil(3 * st)), int(np.ceil(3 * sf))
    ref = np.zeros_like(values)
    for i in range(9):
        for j in range(15):
            num = den = 0.0
            for di in range(-ht, ht + 1):
                for dj in range(-hf, hf + 1):
                    k, m = i + di, j + dj
                    if 0 <= k < 9 and 0 <= m < 15:
                        g = np.exp(-0.5 * (di / st) ** 2) * np.exp(
                            -0.5 * (dj / sf) ** 2
                        )
                        num += g * w[k, m] * x[k, m]
                        den += g * w[k, m]
            ref[i, j] = num / den
    # Same sums in a different order: float64 round-off only.
    assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def _one_plane_flags(vis, **kw):
    return kernels.sumthreshold(vis, np.zeros(vis.shape, bool), **{**ST_KW, **kw})


def test_sumthreshold_single_spike_flagged():
    rng = np.random.default_rng(11)
    vis = _noise((24, 2, 96, 2), rng)
    vis[7, 1, 40, 0] += 15.0
    out = _one_plane_flags(vis)
    assert out[7, 1, 40, 0]
    assert out.sum() <= 0.01 * out.size


def test_sumthreshold_narrow_band_line_flagged():
    # 2σ per sample in one channel for all 24 integrations: invisible sample
    # by sample, found by the long windows along time.
    rng = np.random.default_rng(12)
    vis = _noise((24, 2, 96, 2), rng)
    vis[:, 0, 30, :] += 2.0
    out = _one_plane_flags(vis)
    assert out[:, 0, 30, :].mean() >= 0.9
    clean = np.ones(vis.shape, bool)
    clean[:, 0, 30, :] = False
    assert out[clean].mean() <= 0.01


def test_sumthreshold_broadband_burst_flagged():
    rng = np.random.default_rng(13)
    vis = _noise((24, 2, 96, 2), rng)
    vis[12, :, :, :] += 2.0
    out = _one_plane_flags(vis)
    assert out[12].mean() >= 0.9
    clean = np.ones(vis.shape, bool)
    clean[12] = False
    assert out[clean].mean() <= 0.01


def test_sumthreshold_and_mad_on_clean_noise_flag_at_most_one_percent():
    rng = np.random.default_rng(14)
    vis = _noise((24, 8, 96, 2), rng)
    assert _one_plane_flags(vis).mean() <= 0.01
    assert kernels.mad_clip(vis, np.zeros(vis.shape, bool), sigma=7.0).mean() <= 0.01


def test_sumthreshold_nan_inf_flagged_and_all_nan_plane():
    rng = np.random.default_rng(15)
    vis = _noise((24, 2, 48, 2), rng)
    vis[3, 0, 5, 0] = np.nan
    vis[4, 0, 6, 1] = complex(np.inf, 1.0)
    vis[:, 1, :, 0] = np.nan
    vis[10, 0, 20, 0] += 20.0
    out = _one_plane_flags(vis)
    assert out[3, 0, 5, 0] and out[4, 0, 6, 1] and out[10, 0, 20, 0]
    assert out[:, 1, :, 0].all()
    assert out[:, 1, :, 1].mean() <= 0.01


def test_sumthreshold_noise_free_constant_data_gives_no_flags():
    vis = np.full((8, 1, 16, 1), 3 + 4j, dtype=np.complex64)
    assert not _one_plane_flags(vis).any()


def test_mad_clip_threshold_in_robust_sigma():
    rng = np.random.default_rng(16)
    amp = 10.0 + rng.standard_normal((24, 1, 96, 1))
    amp[5, 0, 5, 0] = 10.0 + 12.0  # 12σ: flagged
    amp[6, 0, 6, 0] = 10.0 + 4.0  # 4σ: kept
    vis = amp.astype(np.complex64)
    out = kernels.mad_clip(vis, np.zeros(vis.shape, bool), sigma=7.0)
    assert out[5, 0, 5, 0] and not out[6, 0, 6, 0]
    med = np.median(amp)
    s = kernels.MAD_TO_SIGMA * np.median(np.abs(amp - med))
    assert_array_equal(out, np.abs(amp - med) > 7.0 * s)


def test_mad_clip_on_a_full_plane_takes_m_and_s_from_every_third_sample():
    rng = np.random.default_rng(17)
    amp = 10.0 + rng.standard_normal((24, 2, 768, 1))
    amp[:, :, 100:400] += 3.0  # a step: the subsample's statistics differ
    amp[3, :, 7, 0] = 60.0
    vis = amp.astype(np.complex64)
    flags = rng.random(vis.shape) < 0.1
    out = kernels.mad_clip(vis, flags, sigma=5.0)
    for b in range(2):
        a = np.abs(vis[:, b, :, 0]).astype(float)  # as the kernel: float64 |V|
        sub = a.ravel()[::3][~flags[:, b, :, 0].ravel()[::3]]
        med = np.median(sub)
        s = kernels.MAD_TO_SIGMA * np.median(np.abs(sub - med))
        assert_array_equal(
            out[:, b, :, 0], flags[:, b, :, 0] | (np.abs(a - med) > 5 * s)
        )
    assert out[3, :, 7, 0].all()


def test_mad_clip_ignores_flagged_samples_and_nan():
    vis = np.ones((4, 1, 8, 1), dtype=np.complex64)
    vis += np.arange(32).reshape(4, 1, 8, 1) * 1e-3
    vis[0, 0, 0, 0] = np.nan
    vis[1, 0, 1, 0] = 1e6
    flags = np.zeros(vis.shape, bool)
    flags[1, 0, 1, 0] = True
    out = kernels.mad_clip(vis, flags, sigma=7.0)
    assert out[0, 0, 0, 0] and out[1, 0, 1, 0]
    assert out.sum() == 2


def test_extend_flags_polarization_time_frequency():
    flags = np.zeros((4, 2, 6, 2), bool)
    flags[0, 0, 0, 1] = True  # → both polarizations
    flags[:3, 1, 2, 0] = True  # channel 2 flagged in 3/4 > 0.5 of times
    flags[2, 0, :4, 0] = True  # integration 2 flagged in 4/6 > 0.5 of channels
    out = kernels.extend_flags(
        flags, polarization=True, time_fraction=0.5, frequency_fraction=0.5
    )
    expected = flags.copy()
    expected[0, 0, 0, :] = True
    expected[:, 1, 2, :] = True
    expected[2, 0, :, :] = True
    assert_array_equal(out, expected)
    off = kernels.extend_flags(
        flags, polarization=False, time_fraction=1.0, frequency_fraction=1.0
    )
    assert_array_equal(off, flags)


@pytest.mark.parametrize(
    "st, mad, ext",
    [
        (True, 7.0, (True, 0.5, 0.5)),
        (True, 0.0, (False, 1.0, 1.0)),
        (False, 5.0, (True, 0.3, 0.4)),
        (True, 7.0, (False, 0.2, 1.0)),
    ],
)
def test_flag_planes_equals_the_three_kernels_in_turn(st, mad, ext):
    rng = np.random.default_rng(21)
    vis = _noise((24, 5, 96, 2), rng)
    vis[:, 0, 30, :] += 3.0  # a line
    vis[12, 1, :, 0] += 4.0  # a burst in one polarization
    vis[5, 2, 7, 1] = np.nan
    vis[:, 3, :10, :] += 40.0  # a strong block
    flags = rng.random(vis.shape) < 0.02
    pol, tf, ff = ext
    vis[2, 4, 3, 0] = 0  # a zero, and an Inf where the flags do not reach
    vis[3, 4, 5, 1] = complex(1.0, np.inf)
    invalid = mad != 5.0
    want = kernels.flag_invalid(vis, flags) if invalid else flags
    if st:
        want = kernels.sumthreshold(vis, want, **ST_KW)
    if mad > 0:
        want = kernels.mad_clip(vis, want, sigma=mad)
    want = kernels.extend_flags(
        want, polarization=pol, time_fraction=tf, frequency_fraction=ff
    )
    options = dict(
        invalid=invalid,
        sumthreshold=st,
        **ST_KW,
        mad_sigma=mad,
        polarization=pol,
        time_fraction=tf,
        frequency_fraction=ff,
    )
    got = kernels.flag_planes(vis, flags, **options)
    assert_array_equal(got, want)
    assert want.sum() > flags.sum() + 24
    # flag_rfi hands the kernels |V| (float32, half the bytes to rechunk): zeros
    # and non-finite samples stay so, and the flags are the same
    amp = np.abs(vis)
    assert amp.dtype == np.float32
    assert_array_equal(kernels.flag_planes(amp, flags, **options), want)


def test_flag_planes_mad_clip_flags_inf_on_a_plane_with_zero_mad():
    # MAD = 0 (a constant plane): no clip, but non-finite samples are still
    # flagged, as mad_clip does (flag_planes once let +Inf through here).
    vis = np.full((6, 1, 16, 1), 2.0 + 0j, dtype=np.complex64)
    vis[2, 0, 5, 0] = complex(np.inf, 0.0)
    flags = np.zeros(vis.shape, dtype=bool)
    want = kernels.mad_clip(vis, flags, sigma=7.0)
    got = kernels.flag_planes(
        vis,
        flags,
        invalid=False,
        sumthreshold=False,
        **ST_KW,
        mad_sigma=7.0,
        polarization=False,
        time_fraction=1.0,
        frequency_fraction=1.0,
    )
    assert want[2, 0, 5, 0] and want.sum() == 1
    assert_array_equal(got, want)
