"""The fast plane kernels against direct (slow, obvious) NumPy evaluations.

:mod:`dsa110.flagging.plane` computes the background with running sums, the
median/MAD by binned selection and each SumThreshold window from prefix sums,
skipping rows that cannot trigger. The references build the same quantities
from scratch: box sums by ``numpy.convolve`` in a normalised convolution (the
boxes one after the other, each truncated at the plane's edges, for numerator
and denominator alike), ``numpy.median``, and the 1-D SumThreshold pass of
:func:`dsa110.flagging.kernels.sumthreshold_1d` (the kernel the GPU version is
tested against) applied window by window, time pass before frequency pass.
Flags must be identical: only the float64 summation order differs, so a
decision could flip only within ~1e-12 of a threshold.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.flagging import kernels, plane

MAD = 1.482602218505602
#: The "dsa110" strategy's SumThreshold parameters.
STRATEGY = dict(
    threshold=6.0,
    rho=1.5,
    max_window=64,
    n_iter=3,
    threshold_step=2.0,
    sigma_time=2.5,
    sigma_frequency=5.0,
)


@pytest.mark.parametrize("sigma", [0.0, 0.5, 1.0, 2.5, 5.0, 7.3, 12.0])
def test_box_widths_match_the_gaussian_variance(sigma):
    w = plane.box_widths(sigma)
    assert w.shape == (3,) and np.all(w % 2 == 1)
    var = np.sum((w.astype(float) ** 2 - 1) / 12)
    if sigma == 0:
        assert_array_equal(w, 1)
    else:
        # Kovesi: widths w and w + 2 mixed so the variance is within one step.
        assert abs(var - sigma**2) <= (4 * w.max() + 4) / 12 / 2 + 1e-9


def _same(row, width):
    """Box sums of ``width`` centred on each sample, zero beyond the ends."""
    full = np.convolve(row, np.ones(width))
    start = (width - 1) // 2
    return full[start : start + row.size]


def _smooth_reference(values, flags, st, sf, linear=True):
    """Sums over D integrations of the moments of a weighted line fit in time
    (coarse units from the middle), boxed along time on the coarse rows; each
    coarse bin's value on its line at the bin's centre (the window's mean
    without ``linear``, or where its samples spread less than 1e-6); ``Σw·v``
    and ``Σw`` boxed along
    frequency; their ratio interpolated linearly between the coarse bin
    centres, and extrapolated along the last two beyond them."""
    w = (~flags & np.isfinite(values)).astype(float)
    x = np.where(w > 0, values, 0.0)
    n_t = values.shape[0]
    d = plane.background_factor(st)
    n_g = -(-n_t // d)
    c = (np.arange(n_g) - (n_g - 1) / 2)[:, None]  # bin centres, coarse units
    t = (np.arange(n_t) - (d - 1) / 2) / d - (n_g - 1) / 2  # each integration's
    t = t[:, None]

    def boxes(a, widths, axis):
        for width in widths:
            a = np.apply_along_axis(_same, axis, a, int(width))
        return a

    def coarse_time_boxes(a):
        a = np.add.reduceat(a, np.arange(0, n_t, d), axis=0)
        return boxes(a, plane.box_widths(plane.coarse_sigma(st, d)), 0)

    s0, t0 = coarse_time_boxes(w), coarse_time_boxes(x)
    safe = np.where(s0 > 0, s0, 1.0)
    v = t0 / safe
    if linear:
        mean_t = coarse_time_boxes(w * t) / safe
        spread = coarse_time_boxes(w * t * t) / safe - mean_t**2
        cov = coarse_time_boxes(x * t) / safe - mean_t * v
        line = spread > 1e-6
        v = v + np.where(line, cov / np.where(line, spread, 1.0), 0.0) * (c - mean_t)
    num = boxes(np.where(s0 > 0, s0 * v, 0.0), plane.box_widths(sf), 1)
    den = boxes(s0, plane.box_widths(sf), 1)
    has = den > 0
    ratio = np.where(has, num / np.where(has, den, 1.0), 0.0)
    out = np.zeros(values.shape)
    for i in range(n_t):
        u = (i - (d - 1) / 2) / d
        if n_g == 1:
            out[i] = ratio[0]
            continue
        k0 = 0 if u < 0 else min(int(np.floor(u)), n_g - 2)
        a = u - k0
        both = has[k0] & has[k0 + 1]
        out[i] = np.where(
            both,
            ratio[k0] + a * (ratio[k0 + 1] - ratio[k0]),
            np.where(has[k0], ratio[k0], ratio[k0 + 1]),
        )
    return out


@pytest.mark.parametrize("sigma", [0.5, 2.5, 3.0, 4.0, 7.5])
def test_coarse_time_kernel_keeps_the_gaussian_variance(sigma):
    # Sum over D, boxes of the coarse σ, linear interpolation back: σ_t².
    d = plane.background_factor(sigma)
    assert d == max(1, int(sigma / 1.25)) if sigma >= 2.5 else d == 1
    sc = plane.coarse_sigma(sigma, d)
    if d == 1:
        assert sc == sigma
        return
    total = (d * d - 1) / 12 + d * d * sc**2 + d * d / 6
    assert_allclose(total, sigma**2, rtol=1e-12)
    # The variance the Kovesi boxes actually give, in integrations², within
    # one width step of the Gaussian's.
    w = plane.box_widths(sc).astype(float)
    got = (d * d - 1) / 12 + d * d * np.sum((w**2 - 1) / 12) + d * d / 6
    assert abs(got - sigma**2) <= d * d * (4 * w.max() + 4) / 12 / 2 + 1e-9


@pytest.mark.parametrize("linear", [True, False])
@pytest.mark.parametrize("n_t", [24, 23])
def test_masked_box_smooth_equals_normalised_convolution(n_t, linear):
    # 23 integrations: the last coarse bin holds one integration only.
    rng = np.random.default_rng(3)
    values = rng.standard_normal((n_t, 200)) + 3
    values += 0.3 * np.arange(n_t)[:, None]  # a source drifting through the beam
    flags = rng.random(values.shape) < 0.3
    flags[:, 50:80] = True  # a gap wider than the kernel: background 0 there
    flags[-3:, 120:130] = True  # the lines' ends extrapolated
    values[2, 3] = np.nan
    out = plane.masked_box_smooth(
        values, flags, sigma_time=2.5, sigma_frequency=5.0, linear=linear
    )
    ref = _smooth_reference(values, flags, 2.5, 5.0, linear=linear)
    assert_allclose(out, ref, rtol=1e-10, atol=1e-10)
    assert np.any(out[:, 60:70] == 0)
    assert_array_equal(out == 0, ref == 0)


@pytest.mark.parametrize("n_t", [24, 23, 6])
def test_a_line_in_time_is_its_own_background(n_t):
    """The background of a source drifting through the beam follows it to the
    plane's edges: a mean over the window cut there was 2.1 below the last of
    a noiseless ramp 0…23, and SumThreshold flagged the tile's last
    integrations wherever a bright source's amplitude rose or fell."""
    ramp = 2.0 + 0.7 * np.arange(n_t, dtype=float)[:, None] * np.ones((1, 64))
    flags = np.zeros(ramp.shape, bool)
    r = 2 * (n_t // 4)
    flags[r, 10:20] = True  # half a coarse bin (D = 2) flagged
    out = plane.masked_box_smooth(
        ramp, flags, sigma_time=2.5, sigma_frequency=5.0, linear=True
    )
    assert_allclose(out, ramp, rtol=0, atol=1e-9)


def test_a_drifting_source_flags_no_integration():
    """Noise on a ramp of 0.4 σ per integration: as flagged as noise alone.

    Before: 8 % of the plane, 97 % of its last integration."""
    rng = np.random.default_rng(0)
    n_t, n_f = 24, 768
    for trial in range(5):
        noise = rng.standard_normal((n_t, n_f)) + 1j * rng.standard_normal((n_t, n_f))
        flags = np.zeros((n_t, n_f), bool)
        flat = kernels.sumthreshold_plane(np.abs(20 + noise), flags, **STRATEGY)
        for slope in (0.4, -0.4):
            mean = 20 + slope * np.arange(n_t)[:, None]
            drift = kernels.sumthreshold_plane(np.abs(mean + noise), flags, **STRATEGY)
            assert drift.mean() <= flat.mean() + 1e-4, (trial, slope)


@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("seed", range(6))
def test_robust_sigma_equals_numpy_median(seed, stride):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    x = rng.standard_normal(n)
    if seed % 3 == 1:
        x = np.round(x, 1)  # many ties
    if seed % 3 == 2:
        x[: n // 2] = 2.0  # half the samples equal
        x[-5:] = 1e8  # outliers stretch the bins
    flags = rng.random(n) < 0.25
    x[flags & (rng.random(n) < 0.5)] = np.nan  # flagged NaNs are ignored
    med, s = plane.robust_sigma(x, flags, np.empty(2 * n), stride)
    keep = ~flags & np.isfinite(x)
    good = x[::stride][keep[::stride]]
    if good.size == 0:
        assert np.isnan(med) and np.isnan(s)
        return
    m = np.median(good)
    assert med == m
    assert s == MAD * np.median(np.abs(good - m))


def _plane_reference(amp, flags, threshold, rho, max_window, n_iter, step, st, sf):
    out = flags | ~np.isfinite(amp)
    n_t, n_f = amp.shape
    for it in range(n_iter):
        res = amp - _smooth_reference(amp, out, st, sf, linear=it > 0)
        # σ from every k-th sample (C order), k the largest odd number that
        # leaves ≥ 4096 of them (1 for small planes).
        k = max(1, amp.size // 4096 - (amp.size // 4096 + 1) % 2)
        good = res.ravel()[::k][~out.ravel()[::k]]
        if good.size == 0:
            break
        sigma = MAD * np.median(np.abs(good - np.median(good)))
        if not sigma > 0:
            break
        factor = step ** (n_iter - 1 - it)
        window = 1
        while window <= max_window and (window <= n_t or window <= n_f):
            chi = factor * threshold * sigma / rho ** math.log2(window)
            if window <= n_t:
                out = kernels.sumthreshold_1d(
                    res.T.copy(), out.T.copy(), window=window, threshold=chi
                ).T
            if window <= n_f:
                out = kernels.sumthreshold_1d(res, out, window=window, threshold=chi)
            window *= 2
    return out


@pytest.mark.parametrize("seed, n_f", [(0, 192), (1, 192), (2, 768), (3, 768)])
def test_sumthreshold_plane_equals_reference(seed, n_f):
    # 768 channels: σ from every 3rd sample; 192: from all of them.
    rng = np.random.default_rng(100 + seed)
    n_t = 24
    amp = np.abs(
        8 + rng.standard_normal((n_t, n_f)) + 1j * rng.standard_normal((n_t, n_f))
    )
    amp += 0.5 * np.sin(np.arange(n_f) / 20.0)  # a smooth bandpass ripple
    amp[:, 17] += 40.0  # persistent line
    amp[5, :] += 6.0  # faint broadband burst
    amp[10:14, 100:130] += 2.5  # faint block
    amp[20, 150] += 80.0  # spike
    amp[3, 3] = np.nan
    flags = rng.random(amp.shape) < 0.02
    out = kernels.sumthreshold_plane(amp, flags, **STRATEGY)
    ref = _plane_reference(amp, flags, *STRATEGY.values())
    assert_array_equal(out, ref)
    assert out[:, 17].all() and out[5].mean() > 0.9 and out[20, 150]
    assert (out & ~flags).mean() < 0.5


def test_iterations_that_flag_nothing_reuse_the_residual_exactly():
    # Noise and a faint line that only the last, most sensitive iteration
    # finds: the first two flag nothing, so the kernel reuses their background,
    # σ and prefix sums instead of recomputing them; the flags must be those of
    # the reference, which recomputes everything every iteration.
    rng = np.random.default_rng(7)
    n_t, n_f = 24, 768
    amp = np.abs(
        8 + rng.standard_normal((n_t, n_f)) + 1j * rng.standard_normal((n_t, n_f))
    )
    amp[:, 300] += 1.6
    flags = np.zeros(amp.shape, bool)
    args = (6.0, 1.5, 64, 3, 2.0, 2.5, 5.0)
    # The first two of three iterations: χ × 4 and χ × 2.
    two = kernels.sumthreshold_plane(
        amp,
        flags,
        threshold=12.0,
        rho=1.5,
        max_window=64,
        n_iter=2,
        threshold_step=2.0,
        sigma_time=2.5,
        sigma_frequency=5.0,
    )
    assert not two.any(), "the first iterations must flag nothing here"
    out = plane.sumthreshold_plane_fast(amp, flags, *args)
    assert_array_equal(out, _plane_reference(amp, flags, *args))
    assert out[:, 300].mean() > 0.9
