"""Shared fixtures: simulate → corrupt with known gains → add thermal noise.

The per-visibility noise is the radiometer equation: each real and imaginary
part has ``σ = SEFD / sqrt(2 Δν τ)`` (η = 1), added AFTER the gain corruption
(thermal noise of a calibrated interferometer referred to the sky is then
``σ / |g_i g_j|``).
"""

import numpy as np
import pytest

from dsa110.testing import PointSource, make_visibility_dataset

SEFD_JY = 7000.0
# 14 antennas spread over both arms and the outriggers, including 103 and 104.
ANTENNAS = [a - 1 for a in (1, 8, 17, 30, 44, 51, 70, 78, 88, 99, 103, 104, 110, 116)]


def noise_sigma(ds):
    """Per real/imaginary part noise of one visibility (radiometer equation)."""
    dnu = float(ds["channel_width"].values[0])
    tau = float(ds["integration_time"].values[0])
    return SEFD_JY / np.sqrt(2.0 * dnu * tau)


def transit_source(
    flux=30.0, spectral_index=-0.7, dec_deg=33.0, start="2026-11-24T00:00:00"
):
    """A point source at the phase centre (transiting) at the first integration."""
    ds0 = make_visibility_dataset(
        sources=[],
        n_time=1,
        n_chan_per_subband=1,
        subbands=[0],
        dec_deg=dec_deg,
        start=start,
        antennas=ANTENNAS,
    )
    return PointSource(
        ra=float(ds0.phase_center_ra[0]),
        dec=float(ds0.phase_center_dec[0]),
        flux=flux,
        spectral_index=spectral_index,
    )


def corrupt(ds, gains, *, sigma, rng):
    """``V = g_i conj(g_j) V_true + n``; gains ``(time, antenna, frequency, pol)``."""
    a1 = ds["antenna1"].values
    a2 = ds["antenna2"].values
    v = ds["VISIBILITY"].values.astype(np.complex128)
    v = v * gains[:, a1] * np.conj(gains[:, a2])
    v = v + sigma * (rng.standard_normal(v.shape) + 1j * rng.standard_normal(v.shape))
    out = ds.copy()
    out["VISIBILITY"] = (ds["VISIBILITY"].dims, v.astype(np.complex64))
    return out


def random_bandpass(rng, n_chan, n_pol=2, n_ant=117):
    amp = 1.0 + 0.15 * rng.standard_normal((1, n_ant, n_chan, n_pol))
    phase = rng.uniform(
        -np.pi, np.pi, (1, n_ant, 1, n_pol)
    ) + 0.3 * rng.standard_normal((1, n_ant, n_chan, n_pol))
    return amp * np.exp(1j * phase)


@pytest.fixture(scope="module")
def calibrator_tile():
    """A small tile, 30 Jy source at transit, gains, noise: (ds, truth, sky, σ)."""
    rng = np.random.default_rng(42)
    src = transit_source()
    ds = make_visibility_dataset(
        sources=[src],
        antennas=ANTENNAS,
        n_time=4,
        n_chan_per_subband=4,
        subbands=[0, 7, 15],
    )
    sigma = noise_sigma(ds)
    truth = random_bandpass(rng, ds.sizes["frequency"])
    return corrupt(ds, truth, sigma=sigma, rng=rng), truth, src, sigma


@pytest.fixture(scope="session")
def sim():
    """The helpers above for test modules (importlib mode cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        ANTENNAS=ANTENNAS,
        SEFD_JY=SEFD_JY,
        noise_sigma=noise_sigma,
        transit_source=transit_source,
        corrupt=corrupt,
        random_bandpass=random_bandpass,
    )
