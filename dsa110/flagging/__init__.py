"""RFI flagging of visibility datasets, lazily and per chunk.

Every flagger returns a new dataset with ``FLAG = old FLAG | new flags`` — lazy
for dask-backed datasets, eager for NumPy-backed ones:

* :func:`flag_invalid` — exact zeros, NaN and ±Inf;
* :func:`flag_autocorrelations`;
* :func:`flag_amplitude` — an absolute amplitude clip;
* :func:`flag_sumthreshold` — iterative SumThreshold in time and frequency per
  baseline and polarization on a smoothed-background residual (Offringa et al.
  2010, 2012);
* :func:`flag_mad` — a robust median/MAD clip per baseline and polarization
  (7σ by default, as DSA-110's pipeline);
* :func:`extend_flags` — across polarizations, mostly flagged channels and
  integrations;
* :func:`flag_dead_antennas` — antennas > 95% flagged;
* :func:`flag_rfi` — all of them, by a :class:`FlagStrategy`;
* :func:`flag_fractions` — flag fractions per antenna, channel, time, baseline
  and polarization, in one pass.

Flags are written by :mod:`dsa110.flagging.products` (a zarr store's FLAG, an
MS FLAG column, or a flag product beside raw UVH5 files) and by ``dsa110 flag``.

The Numba kernels are in :mod:`dsa110.flagging.kernels`, their dask wrappers in
:mod:`dsa110.flagging.dask`, and the GPU SumThreshold pass in
:mod:`dsa110.flagging.cuda`.
"""

from dsa110.flagging.flaggers import (
    extend_flags,
    flag_amplitude,
    flag_autocorrelations,
    flag_dead_antennas,
    flag_invalid,
    flag_mad,
    flag_rfi,
    flag_sumthreshold,
)
from dsa110.flagging.products import (
    open_flag_product,
    replace_zarr_flags,
    write_flag_product,
    write_ms_flags,
)
from dsa110.flagging.strategy import STRATEGIES, FlagStrategy, get_strategy
from dsa110.flagging.summary import flag_fractions

__all__ = [
    "FlagStrategy",
    "STRATEGIES",
    "get_strategy",
    "flag_invalid",
    "flag_autocorrelations",
    "flag_amplitude",
    "flag_sumthreshold",
    "flag_mad",
    "extend_flags",
    "flag_dead_antennas",
    "flag_rfi",
    "flag_fractions",
    "write_flag_product",
    "open_flag_product",
    "replace_zarr_flags",
    "write_ms_flags",
]
