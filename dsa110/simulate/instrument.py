"""The simulated instrument: per-antenna complex gains and radio-frequency interference.

Gains follow the measurement equation of :mod:`dsa110.schema`:
``V_obs_ij = g_i · conj(g_j) · V_ij`` per polarization (XX uses ``g_iX``, YY
``g_iY``). Each gain is

``g(t, f) = a(f) exp(i [φ0 + 2π τ (f − f_c) + φ_bp(f) + A sin(2π (t − t_0)/P + ψ)])``

with a smooth bandpass amplitude ``a(f) = a0 (1 + Σ_{n=1..3} c_n T_n(x))``
(Chebyshev polynomials of the scaled frequency ``x ∈ [−1, 1]`` across the group),
a phase offset ``φ0``, a delay ``τ``, a smooth bandpass phase
``φ_bp(f) = Σ_{n=2..3} p_n T_n(x)`` and a slow sinusoidal phase drift of a few
degrees over hours, all drawn once per antenna and polarization and shared by
every tile of an observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GainModel", "draw_gains", "RFIModel", "draw_rfi"]


@dataclass(frozen=True)
class GainModel:
    """Parameters of the per-antenna, per-polarization gains.

    Attributes
    ----------
    amplitude : numpy.ndarray
        ``(antenna, polarization)`` float64 overall amplitude ``a0``.
    bandpass_coeffs : numpy.ndarray
        ``(antenna, polarization, 3)`` float64 Chebyshev coefficients of orders 1..3.
    bandpass_phase_coeffs : numpy.ndarray
        ``(antenna, polarization, 2)`` float64 Chebyshev coefficients of orders
        2..3 of the bandpass phase, rad.
    phase0 : numpy.ndarray
        ``(antenna, polarization)`` float64 phase offset, rad.
    delay_s : numpy.ndarray
        ``(antenna, polarization)`` float64 delay, s.
    drift_amplitude, drift_period_s, drift_phase : numpy.ndarray
        ``(antenna, polarization)`` float64: slow phase drift (rad, s, rad).
    freq_min_hz, freq_max_hz : float
        Frequency range onto which ``x ∈ [−1, 1]`` is mapped.
    t0_unix : float
        Time origin of the drift, unix seconds.
    enabled : bool
        False gives unit gains.
    """

    amplitude: np.ndarray
    bandpass_coeffs: np.ndarray
    bandpass_phase_coeffs: np.ndarray
    phase0: np.ndarray
    delay_s: np.ndarray
    drift_amplitude: np.ndarray
    drift_period_s: np.ndarray
    drift_phase: np.ndarray
    freq_min_hz: float
    freq_max_hz: float
    t0_unix: float
    enabled: bool = True

    def evaluate(self, times_unix, freq_hz) -> np.ndarray:
        """Evaluate the complex gains at the given times and frequencies.

        Parameters
        ----------
        times_unix : array-like of float
            ``(time,)`` unix seconds.
        freq_hz : array-like of float
            ``(frequency,)`` Hz, any order.

        Returns
        -------
        numpy.ndarray
            ``(time, antenna, frequency, polarization)`` complex64 — the values
            applied to the data.
        """
        t = np.atleast_1d(np.asarray(times_unix, dtype=np.float64))
        f = np.atleast_1d(np.asarray(freq_hz, dtype=np.float64))
        n_ant, n_pol = self.amplitude.shape
        if not self.enabled:
            return np.ones((t.size, n_ant, f.size, n_pol), np.complex64)
        fc = 0.5 * (self.freq_min_hz + self.freq_max_hz)
        x = (f - fc) / (0.5 * (self.freq_max_hz - self.freq_min_hz))
        cheb = np.polynomial.chebyshev.chebvander(x, 3)[:, 1:]  # (frequency, 3)
        band = self.amplitude[:, None, :] * (
            1.0 + np.einsum("fn,apn->afp", cheb, self.bandpass_coeffs)
        )  # (antenna, frequency, polarization)
        phase_f = (
            self.phase0[:, None, :]
            + 2 * np.pi * self.delay_s[:, None, :] * (f[None, :, None] - fc)
            + np.einsum("fn,apn->afp", cheb[:, 1:], self.bandpass_phase_coeffs)
        )
        drift = self.drift_amplitude[None] * np.sin(
            2 * np.pi * (t[:, None, None] - self.t0_unix) / self.drift_period_s[None]
            + self.drift_phase[None]
        )  # (time, antenna, polarization)
        phase = phase_f[None] + drift[:, :, None, :]
        return (band[None] * np.exp(1j * phase)).astype(np.complex64)


def draw_gains(
    rng, config, *, freq_min_hz, freq_max_hz, t0_unix, enabled=True
) -> GainModel:
    """Draw a :class:`GainModel` for the configured antennas.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    config : SimulationConfig
        Antennas and the gain distributions.
    freq_min_hz, freq_max_hz : float, keyword-only
        The band (for the bandpass polynomial's abscissa).
    t0_unix : float, keyword-only
        Origin of the drift term.
    enabled : bool, keyword-only
        False gives unit gains.

    Returns
    -------
    GainModel
    """
    shape = (config.n_ant, 2)
    amp = 1.0 + rng.normal(0.0, 0.05, shape)
    coeffs = rng.normal(0.0, config.bandpass_amplitude_std, shape + (3,))
    phase_coeffs = rng.normal(0.0, config.bandpass_phase_std, shape + (2,))
    phase0 = rng.uniform(-np.pi, np.pi, shape)
    delay = rng.normal(0.0, config.delay_std_ns * 1e-9, shape)
    drift_amp = np.radians(rng.uniform(*config.phase_drift_deg, shape))
    drift_period = rng.uniform(*config.phase_drift_period_s, shape)
    drift_phase = rng.uniform(0.0, 2 * np.pi, shape)
    return GainModel(
        amp,
        coeffs,
        phase_coeffs,
        phase0,
        delay,
        drift_amp,
        drift_period,
        drift_phase,
        float(freq_min_hz),
        float(freq_max_hz),
        float(t0_unix),
        bool(enabled),
    )


@dataclass(frozen=True)
class RFIModel:
    """Radio-frequency interference of one tile.

    The interferer is a terrestrial emitter seen by every antenna with a fixed
    complex response ``r_i``; its visibility is ``amplitude(t, f) · conj(r_i) r_j``
    (on every baseline and both polarizations), added to the sky before the gains.

    Attributes
    ----------
    amplitude : numpy.ndarray
        ``(time, frequency)`` float64, Jy; zero where there is no RFI. Frequency
        ascending over the whole group.
    antenna_response : numpy.ndarray
        ``(antenna,)`` complex128 ``r_i`` (unit modulus × a factor in [0.7, 1.3]).
    """

    amplitude: np.ndarray
    antenna_response: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """``(time, frequency)`` bool, True where RFI was added."""
        return self.amplitude != 0


def draw_rfi(
    rng, config, *, n_times, n_freq, sigma_jy, persistent_channels, enabled=True
):
    """Draw the RFI of one tile.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    config : SimulationConfig
        Number of bursts, strength range.
    n_times, n_freq : int, keyword-only
        Integrations in the tile, channels in the group.
    sigma_jy : float, keyword-only
        Cross-correlation noise σ; the RFI strength is drawn in units of it.
    persistent_channels : numpy.ndarray, keyword-only
        ``(k,)`` int indices (ascending frequency) of the persistent narrow-band
        channels (the same in every tile of an observation).
    enabled : bool, keyword-only
        False gives no RFI.

    Returns
    -------
    RFIModel
    """
    amp = np.zeros((n_times, n_freq))
    response = np.ones(config.n_ant, np.complex128)
    if not enabled:
        return RFIModel(amp, response)
    lo, hi = config.rfi_strength_sigma
    for ch in np.asarray(persistent_channels, dtype=int):
        amp[:, ch] = rng.uniform(lo, hi) * sigma_jy * rng.uniform(0.8, 1.2, n_times)
    n_bursts = min(config.rfi_bursts, n_times)
    for t in rng.choice(n_times, size=n_bursts, replace=False):
        amp[t, :] += rng.uniform(lo, hi) * sigma_jy * rng.uniform(0.8, 1.2, n_freq)
    response = rng.uniform(0.7, 1.3, config.n_ant) * np.exp(
        1j * rng.uniform(-np.pi, np.pi, config.n_ant)
    )
    return RFIModel(amp, response)
