"""Simulated measurement tables: stable sources, references and injected events.

Used by the tests and the benchmark. Every image (epoch) observes the same field;
each source has a true flux, the image applies a calibration-scale error
``g_e ~ 1 + N(0, cal_error)`` to everything in it (flux *and* noise: the image
is mis-scaled as a whole), and every measurement gets Gaussian thermal noise of
``rms`` Jy. Non-reference sources may carry one injected event:

``"dip"``
    an ESE-like dip: a plateau of ``dip_epochs`` epochs at ``1 − depth`` of the
    flux, flanked by caustic shoulders (one or two epochs brightened by
    ``shoulder`` of the flux) on both sides;
``"spike"``
    a caustic-like brightening with a Gaussian profile of ``spike_width`` epochs
    (standard deviation) and peak ``amplitude`` of the flux;
``"outlier"``
    one epoch off by ``outlier_sigma`` thermal σ (an imaging artefact).

One reference may be made variable (a dip) to exercise the re-qualification.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError

__all__ = ["SimulationConfig", "simulate_measurements"]


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of :func:`simulate_measurements`.

    Attributes
    ----------
    n_sources : int
        Ordinary (non-reference) sources.
    n_epochs : int
        Images, one per day.
    n_references : int
        Bright reference sources (``is_reference`` True).
    rms : float
        Thermal noise per measurement, Jy.
    snr_range : tuple of float
        Log-uniform range of the true SNR of ordinary sources.
    reference_snr_range : tuple of float
        Log-uniform range of the references' SNR.
    cal_error : float
        Standard deviation of the per-image calibration-scale error.
    rms_scatter : float
        Log-normal scatter of the per-image noise level (images differ in
        depth); the reported errors follow it.
    qa_fail_fraction : float
        Fraction of images that fail epoch QA: their calibration is off by
        ``qa_fail_error`` (standard deviation) and ``qa_ok`` is False.
    qa_fail_error : float
        Calibration-scale error of a failed image.
    n_dips, n_spikes, n_outliers : int
        Injected events (each on its own source with SNR ≥ ``event_min_snr``).
    dip_epochs : tuple of int
        Range of plateau lengths (inclusive).
    depth : tuple of float
        Range of fractional dip depths.
    shoulder : tuple of float
        Range of fractional shoulder brightenings.
    amplitude : tuple of float
        Range of fractional spike amplitudes.
    spike_width : tuple of float
        Range of spike widths (Gaussian σ, epochs).
    outlier_sigma : tuple of float
        Range of |outlier| in thermal σ.
    event_min_snr : float
        Lowest SNR of a source with an injected event.
    variable_reference : bool
        Give one reference a dip of depth 0.5 lasting 20 epochs.
    field_radius : float
        Sources lie within this many degrees of the field centre.
    """

    n_sources: int = 2000
    n_epochs: int = 150
    n_references: int = 20
    rms: float = 1e-3
    snr_range: tuple = (5.0, 300.0)
    reference_snr_range: tuple = (200.0, 1000.0)
    cal_error: float = 0.05
    rms_scatter: float = 0.2
    qa_fail_fraction: float = 0.03
    qa_fail_error: float = 0.3
    n_dips: int = 8
    n_spikes: int = 8
    n_outliers: int = 8
    dip_epochs: tuple = (4, 7)
    depth: tuple = (0.4, 0.7)
    shoulder: tuple = (0.2, 0.4)
    amplitude: tuple = (0.6, 1.2)
    spike_width: tuple = (1.0, 2.0)
    outlier_sigma: tuple = (12.0, 20.0)
    event_min_snr: float = 30.0
    variable_reference: bool = True
    field_radius: float = 1.5


def _loguniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def simulate_measurements(config=None, *, rng):
    """Simulate a measurement table and the truth behind it.

    Parameters
    ----------
    config : SimulationConfig, optional
        Parameters (defaults when omitted).
    rng : numpy.random.Generator, keyword-only
        Random generator.

    Returns
    -------
    measurements : pandas.DataFrame
        The measurement table (:mod:`dsa110.variability.measurements`).
    truth : pandas.DataFrame
        One row per source: ``source_id``, ``true_flux``, ``is_reference``,
        ``event`` (``"none"``, ``"dip"``, ``"spike"``, ``"outlier"``),
        ``event_epoch`` (first epoch affected, −1 for none).
    gains : numpy.ndarray
        ``(epoch,)`` float64 true calibration-scale factors.

    Raises
    ------
    dsa110.errors.ConfigurationError
        When more events are asked for than there are bright enough sources.
    """
    cfg = config or SimulationConfig()
    n_ord, n_ref, n_ep = cfg.n_sources, cfg.n_references, cfg.n_epochs
    n_all = n_ord + n_ref
    snr = np.concatenate(
        [
            _loguniform(rng, *cfg.snr_range, n_ord),
            _loguniform(rng, *cfg.reference_snr_range, n_ref),
        ]
    )
    true_flux = snr * cfg.rms
    is_ref = np.zeros(n_all, dtype=bool)
    is_ref[n_ord:] = True
    # positions: uniform in a disc around (180, +40); references nearer the centre
    r = cfg.field_radius * np.sqrt(rng.uniform(0, 1, n_all))
    r[n_ord:] *= 0.5
    pa = rng.uniform(0, 2 * np.pi, n_all)
    dec = 40.0 + r * np.cos(pa)
    ra = 180.0 + r * np.sin(pa) / np.cos(np.radians(dec))

    shape = np.ones((n_all, n_ep))  # multiplicative light-curve shape
    additive = np.zeros((n_all, n_ep))  # outliers, in Jy
    event = np.array(["none"] * n_all, dtype=object)
    event_epoch = np.full(n_all, -1)
    n_event = cfg.n_dips + cfg.n_spikes + cfg.n_outliers
    bright = np.flatnonzero((snr >= cfg.event_min_snr) & ~is_ref)
    if n_event > bright.size:
        raise ConfigurationError(
            f"{n_event} events asked for but only {bright.size} sources have "
            f"SNR >= {cfg.event_min_snr}"
        )
    chosen = rng.choice(bright, n_event, replace=False)
    epochs = np.arange(n_ep)
    margin = 10
    for k, s in enumerate(chosen):
        if k < cfg.n_dips:
            length = int(rng.integers(cfg.dip_epochs[0], cfg.dip_epochs[1] + 1))
            start = int(rng.integers(margin, n_ep - margin - length))
            shape[s] = _dip(
                n_ep,
                start,
                length,
                rng.uniform(*cfg.depth),
                rng.uniform(*cfg.shoulder),
                int(rng.integers(1, 3)),
            )
            event[s], event_epoch[s] = "dip", start
        elif k < cfg.n_dips + cfg.n_spikes:
            centre = rng.uniform(margin, n_ep - margin)
            width = rng.uniform(*cfg.spike_width)
            shape[s] = 1.0 + rng.uniform(*cfg.amplitude) * np.exp(
                -0.5 * ((epochs - centre) / width) ** 2
            )
            event[s], event_epoch[s] = "spike", int(round(centre))
        else:
            e = int(rng.integers(margin, n_ep - margin))
            additive[s, e] = (
                rng.choice([-1.0, 1.0]) * rng.uniform(*cfg.outlier_sigma) * cfg.rms
            )
            event[s], event_epoch[s] = "outlier", e
    if cfg.variable_reference and n_ref:
        s = n_ord  # the first reference
        start = n_ep // 3
        shape[s] = _dip(n_ep, start, 20, 0.5, 0.0, 1)
        event[s], event_epoch[s] = "dip", start

    gains = 1.0 + cfg.cal_error * rng.standard_normal(n_ep)
    qa_ok = rng.uniform(size=n_ep) >= cfg.qa_fail_fraction
    qa_ok[0] = True  # the first image defines the flux scale
    bad = ~qa_ok
    gains[bad] = np.abs(1.0 + cfg.qa_fail_error * rng.standard_normal(bad.sum()))
    rms = cfg.rms * np.exp(cfg.rms_scatter * rng.standard_normal(n_ep))
    sky = true_flux[:, None] * shape + additive
    noise = rms[None, :] * rng.standard_normal((n_all, n_ep))
    flux = gains[None, :] * (sky + noise)
    flux_err = np.broadcast_to(gains[None, :] * rms[None, :], flux.shape)
    time = 60000.0 + epochs + rng.uniform(-0.02, 0.02, n_ep)

    src = np.repeat(np.arange(n_all), n_ep)
    ep = np.tile(epochs, n_all)
    measurements = pd.DataFrame(
        {
            "source_id": src.astype(np.int64),
            "image_id": ep.astype(np.int64),
            "time": time[ep],
            "flux": flux.ravel(),
            "flux_err": np.ascontiguousarray(flux_err).ravel(),
            "ra": ra[src],
            "dec": dec[src],
            "snr": (flux / flux_err).ravel(),
            "is_reference": is_ref[src],
            "qa_ok": qa_ok[ep],
            "image_ra": np.full(src.size, 180.0),
            "image_dec": np.full(src.size, 40.0),
        }
    )
    truth = pd.DataFrame(
        {
            "source_id": np.arange(n_all, dtype=np.int64),
            "true_flux": true_flux,
            "is_reference": is_ref,
            "event": event.astype(str),
            "event_epoch": event_epoch,
        }
    )
    return measurements, truth, gains


def _dip(n_ep, start, length, depth, shoulder, shoulder_epochs):
    """Light-curve shape of an ESE-like dip with caustic shoulders."""
    shape = np.ones(n_ep)
    shape[start : start + length] = 1.0 - depth
    if shoulder > 0:
        lo = max(0, start - shoulder_epochs)
        hi = min(n_ep, start + length + shoulder_epochs)
        shape[lo:start] = 1.0 + shoulder
        shape[start + length : hi] = 1.0 + shoulder
    return shape
