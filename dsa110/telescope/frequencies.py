"""The DSA-110 frequency plan.

Each of the 16 correlator nodes writes one subband of 48 channels of
244.140625 kHz. Frequencies DESCEND with channel index within a file and with
subband number across files:

    f(sb, j) = 1530 MHz − (1027.5 + 384·sb + 8·j) × 30.517578125 kHz

The library presents frequency ascending (``subband_order_ascending``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "N_SUBBANDS",
    "N_CHAN_PER_SUBBAND",
    "CHANNEL_WIDTH_HZ",
    "FINE_CHANNEL_HZ",
    "subband_frequencies",
    "group_frequencies",
    "subband_of_frequency",
    "channel_width",
]

#: Number of subbands (correlator nodes) per observation.
N_SUBBANDS = 16
#: Channels per subband file.
N_CHAN_PER_SUBBAND = 48
#: The F-engine's fine channel, Hz (250 MHz / 8192).
FINE_CHANNEL_HZ = 30_517.578125
#: Width of one output channel, Hz (8 fine channels).
CHANNEL_WIDTH_HZ = 8 * FINE_CHANNEL_HZ
_F0_HZ = 1530e6
_FINE_PER_SUBBAND = 384


def subband_frequencies(subband, *, n_chan: int = N_CHAN_PER_SUBBAND):
    """Channel centre frequencies of one subband, in file (descending) order.

    Parameters
    ----------
    subband : int
        Subband number 0..15.
    n_chan : int, keyword-only
        Channels in the file: 48 for DSA-110; a divisor of 384 for small
        simulations, whose channels are then ``384 / n_chan`` fine channels wide
        and span the same subband.

    Returns
    -------
    numpy.ndarray
        ``(n_chan,)`` float64, Hz, descending.

    Raises
    ------
    ValueError
        If ``n_chan`` does not divide the subband's 384 fine channels.
    """
    if n_chan <= 0 or _FINE_PER_SUBBAND % n_chan:
        raise ValueError(f"n_chan={n_chan} must divide {_FINE_PER_SUBBAND}")
    width = _FINE_PER_SUBBAND // n_chan
    j = np.arange(n_chan, dtype=np.float64)
    offset = 1024.0 + _FINE_PER_SUBBAND * int(subband) + width * j + (width - 1) / 2.0
    return _F0_HZ - offset * FINE_CHANNEL_HZ


def channel_width(n_chan: int = N_CHAN_PER_SUBBAND) -> float:
    """Width in Hz of one channel when a subband has ``n_chan`` channels.

    Parameters
    ----------
    n_chan : int
        Channels per subband.

    Returns
    -------
    float
    """
    return _FINE_PER_SUBBAND // n_chan * FINE_CHANNEL_HZ


def group_frequencies(subbands=range(N_SUBBANDS), *, n_chan: int = N_CHAN_PER_SUBBAND):
    """Ascending channel frequencies of a group made of ``subbands``.

    Parameters
    ----------
    subbands : iterable of int
        Subband numbers present.
    n_chan : int, keyword-only
        Channels per subband.

    Returns
    -------
    numpy.ndarray
        ``(n_subband * n_chan,)`` float64, Hz, ascending.
    """
    freqs = np.concatenate([subband_frequencies(sb, n_chan=n_chan) for sb in subbands])
    return np.sort(freqs)


def subband_of_frequency(freq_hz):
    """Subband number that contains each frequency.

    Parameters
    ----------
    freq_hz : array-like of float
        Frequencies in Hz.

    Returns
    -------
    numpy.ndarray of int
    """
    fine = (_F0_HZ - np.asarray(freq_hz, dtype=np.float64)) / FINE_CHANNEL_HZ
    return np.floor((fine - 1023.5) / _FINE_PER_SUBBAND).astype(int)
