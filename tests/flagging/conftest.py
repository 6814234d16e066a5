"""Synthetic visibilities with injected RFI of known mask, for the flagging tests."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110.testing import make_visibility_dataset


def inject_rfi(
    shape, *, rng, sigma=1.0, n_lines=3, n_bursts=2, n_blocks=3, n_spikes=40
):
    """Complex RFI of shape (time, baseline_id, frequency, polarization) and its mask.

    Narrow-band lines (one channel, every integration, a random half of the
    baselines), broadband bursts (one integration, every channel and baseline),
    time–frequency blocks (a few integrations × channels, one baseline) and
    single-sample spikes; amplitudes log-uniform between 1σ and 100σ (σ the
    per-component noise), random phases, both polarizations.

    Returns
    -------
    rfi : complex128 array
    amplitude : float64 array, |rfi| (0 where no RFI)
    """
    n_t, n_b, n_f, n_p = shape
    amp = np.zeros(shape)

    def level(size):
        return sigma * 10 ** rng.uniform(0.0, 2.0, size=size)

    for _ in range(n_lines):
        f = rng.integers(n_f)
        bls = rng.choice(n_b, size=max(1, n_b // 2), replace=False)
        amp[:, bls, f, :] += level((n_t, bls.size, n_p)) * 0.3 + level(1)
    for _ in range(n_bursts):
        t = rng.integers(n_t)
        amp[t, :, :, :] += level((1,)) * (
            1 + 0.2 * rng.standard_normal((n_b, n_f, n_p))
        )
    for _ in range(n_blocks):
        t0, f0, b = rng.integers(n_t - 4), rng.integers(n_f - 8), rng.integers(n_b)
        amp[t0 : t0 + 4, b, f0 : f0 + 8, :] += level(1)
    for _ in range(n_spikes):
        t, b, f, p = (rng.integers(n) for n in shape)
        amp[t, b, f, p] += level(1)[0] * 3
    amp = np.abs(amp)
    rfi = amp * np.exp(2j * np.pi * rng.random(shape))
    return rfi, amp


def synthetic_vis(shape, *, rng, sigma=1.0):
    """Gaussian noise on a smooth 'sky': two fringes whose beat varies slowly."""
    n_t, n_b, n_f, n_p = shape
    f = np.arange(n_f) / n_f
    s1 = rng.uniform(2, 10, size=(1, n_b, 1, 1))
    s2 = rng.uniform(0, 3, size=(1, n_b, 1, 1))
    tau = rng.uniform(0, 1.5, size=(1, n_b, 1, 1))
    sky = s1 + s2 * np.exp(2j * np.pi * tau * f[None, None, :, None])
    noise = sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    return sky + noise


@pytest.fixture(scope="session")
def rfi_dataset():
    """A schema dataset (24 times, 36 baselines, 96 channels, XX/YY) with RFI.

    Returns ``(ds, rfi_amplitude)``; noise σ = 1 Jy per component.
    """
    rng = np.random.default_rng(20261124)
    ds = make_visibility_dataset(
        n_time=24, n_chan_per_subband=48, subbands=(6, 7), beam=False
    )
    shape = ds.VISIBILITY.shape
    rfi, amp = inject_rfi(shape, rng=rng)
    vis = synthetic_vis(shape, rng=rng) + rfi
    ds = ds.assign(VISIBILITY=(ds.VISIBILITY.dims, vis.astype(np.complex64)))
    return ds, amp
