"""The primary beam of a DSA-110 dish: an Airy pattern of a 4.65 m aperture."""

from __future__ import annotations

import numpy as np
from scipy.special import j1

from dsa110.telescope.antennas import DISH_DIAMETER_M

__all__ = ["airy_beam", "beam_fwhm", "SPEED_OF_LIGHT"]

#: Speed of light in vacuum, m/s.
SPEED_OF_LIGHT = 299_792_458.0


def airy_beam(offset_rad, freq_hz, *, diameter_m: float = DISH_DIAMETER_M):
    """Power attenuation of the Airy primary beam.

    ``A(θ, f) = [2 J1(x) / x]²`` with ``x = π D f sin θ / c``; ``A(0) = 1``;
    0 from 90° on (behind the aperture: ``sin θ`` alone gave a source opposite
    the pointing the full response). Broadcasts ``offset_rad`` against
    ``freq_hz``.

    Parameters
    ----------
    offset_rad : array-like of float
        Angular distance from the pointing centre, radians.
    freq_hz : array-like of float
        Frequency, Hz.
    diameter_m : float, keyword-only
        Aperture diameter (4.65 m for DSA-110).

    Returns
    -------
    numpy.ndarray
        float64 attenuation in [0, 1], broadcast shape of the inputs.
    """
    theta = np.asarray(offset_rad, dtype=np.float64)
    freq = np.asarray(freq_hz, dtype=np.float64)
    x = np.pi * diameter_m * freq * np.sin(theta) / SPEED_OF_LIGHT
    x = np.asarray(x)
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    response = np.where(small, 1.0, (2.0 * j1(safe) / safe) ** 2)
    return np.where(np.cos(theta) > 0, response, 0.0)


def beam_fwhm(freq_hz, *, diameter_m: float = DISH_DIAMETER_M):
    """Full width at half maximum of :func:`airy_beam`, radians.

    Parameters
    ----------
    freq_hz : array-like of float
        Frequency, Hz.
    diameter_m : float, keyword-only
        Aperture diameter.

    Returns
    -------
    numpy.ndarray or float
        ``1.02899 λ / D`` (the Airy pattern's half-power width).
    """
    return 1.028993969962188 * SPEED_OF_LIGHT / (np.asarray(freq_hz) * diameter_m)
