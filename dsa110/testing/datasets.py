"""Small in-memory visibility datasets that follow :mod:`dsa110.schema`.

These are built directly (no files) with a brute-force direct evaluation of the
measurement equation, for unit tests of every stage. For realistic DSA-110 files
use :mod:`dsa110.simulate`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.calibration.predict import PointSource
from dsa110.phasing.uvw import (
    baseline_uvw,
    meridian_centers,
    source_directions,
    uvw_basis,
)
from dsa110.telescope import (
    ACTIVE_ANTENNAS,
    DISH_DIAMETER_M,
    SPEED_OF_LIGHT,
    airy_beam,
    antenna_table,
    channel_width,
    default_site,
    group_frequencies,
)
from dsa110.telescope.time import as_time

__all__ = [
    "PointSource",
    "make_visibility_dataset",
    "correlator_baselines",
    "core_antennas",
]

INTEGRATION_S = 12.884901888


def correlator_baselines(antennas):
    """Antenna index pairs in the DSA-110 correlator's order (autos included).

    For ``j`` over ``antennas`` ascending, for ``i`` over ``antennas`` ≤ ``j``:
    the baseline ``(i, j)``.

    Parameters
    ----------
    antennas : sequence of int
        Antenna numbers (index = station − 1).

    Returns
    -------
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int32.
    """
    ants = np.sort(np.asarray(antennas))
    pairs = [(i, j) for jj, j in enumerate(ants) for i in ants[: jj + 1]]
    a1, a2 = np.array(pairs, dtype=np.int32).T
    return a1, a2


def core_antennas(step=1, *, radius_m=400.0):
    """Every ``step``-th active antenna within ``radius_m`` of the array's centre.

    Small, fast test arrays: the core's baselines (< 800 m by default) keep the
    synthesized beam about a minute of arc wide, so a few hundred pixels of
    10–20″ image a degree or more.

    Parameters
    ----------
    step : int
        Take every ``step``-th of them.
    radius_m : float, keyword-only
        Distance from the active antennas' mean position, metres.

    Returns
    -------
    numpy.ndarray
        0-based antenna indices.
    """
    table = antenna_table()
    idx = np.asarray(ACTIVE_ANTENNAS) - 1
    dist = np.linalg.norm(table.ecef[idx] - table.ecef[idx].mean(axis=0), axis=1)
    return idx[dist < radius_m][::step]


def make_visibility_dataset(
    *,
    sources=(),
    antennas=None,
    n_time: int = 4,
    n_chan_per_subband: int = 4,
    subbands=range(16),
    start="2026-11-24T00:00:00",
    dec_deg: float = 33.0,
    noise_sigma: float = 0.0,
    beam: bool = True,
    rng=None,
) -> xr.Dataset:
    """A meridian-phased visibility dataset of point sources, evaluated directly.

    Each integration is phased to the apparent meridian at ``dec_deg`` at its own
    time, as DSA-110's correlator does; visibilities follow the convention of
    :mod:`dsa110.schema`.

    Parameters
    ----------
    sources : sequence of PointSource, keyword-only
        The sky.
    antennas : sequence of int, optional
        Antenna numbers (station − 1); defaults to 8 spread active antennas.
    n_time : int
        Integrations of 12.884901888 s.
    n_chan_per_subband : int
        Channels per subband (a divisor of 384).
    subbands : iterable of int
        Subbands present.
    start : str or astropy.time.Time
        Centre of the first integration.
    dec_deg : float
        Pointing declination, degrees.
    noise_sigma : float
        Per real/imaginary part Gaussian noise on every visibility, Jy.
    beam : bool
        Attenuate sources by the Airy beam (pointing = the meridian).
    rng : numpy.random.Generator, optional
        For the noise.

    Returns
    -------
    xarray.Dataset
        In memory (NumPy-backed), following :mod:`dsa110.schema`.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    site = default_site()
    table = antenna_table()
    if antennas is None:
        antennas = [a - 1 for a in (1, 12, 30, 51, 70, 90, 104, 112)]
    antennas = np.asarray(sorted(antennas))
    a1, a2 = correlator_baselines(antennas)
    t0 = as_time(start)
    times = t0.unix + INTEGRATION_S * np.arange(n_time)
    freqs = group_frequencies(subbands, n_chan=n_chan_per_subband)
    dec = np.radians(dec_deg)
    ra_c, dec_c = meridian_centers(times, dec, site)
    basis = uvw_basis(ra_c, dec_c, times, site)
    uvw = baseline_uvw(table.ecef, a1, a2, basis)
    pos = table.ecef
    bvec = pos[a2] - pos[a1]  # (baseline, 3)
    vis = np.zeros((n_time, a1.size, freqs.size), dtype=np.complex128)
    s = basis[:, 2, :]  # (time, 3)
    for src in sources:
        d = source_directions(src.ra, src.dec, times, site)  # (time, 3)
        delay = np.einsum("bk,tk->tb", bvec, d - s) / SPEED_OF_LIGHT  # seconds
        flux = src.flux * (freqs / 1.4e9) ** src.spectral_index
        if beam:
            offset = np.arccos(np.clip(np.sum(d * s, axis=-1), -1.0, 1.0))
            att = airy_beam(offset[:, None], freqs[None, :])  # (time, freq)
        else:
            att = np.ones((n_time, freqs.size))
        vis += (att * flux)[:, None, :] * np.exp(
            2j * np.pi * delay[:, :, None] * freqs[None, None, :]
        )
    vis = np.repeat(vis[..., None], 2, axis=-1)
    if noise_sigma > 0:
        vis = vis + noise_sigma * (
            rng.standard_normal(vis.shape) + 1j * rng.standard_normal(vis.shape)
        )
    shape = vis.shape
    names = table.names
    ds = xr.Dataset(
        data_vars={
            "VISIBILITY": (
                schema.DATA_VARS["VISIBILITY"].dims,
                vis.astype(np.complex64),
            ),
            "FLAG": (schema.DATA_VARS["FLAG"].dims, np.zeros(shape, dtype=bool)),
            "WEIGHT": (
                schema.DATA_VARS["WEIGHT"].dims,
                np.ones(shape, dtype=np.float32),
            ),
            "UVW": (schema.DATA_VARS["UVW"].dims, uvw),
        },
        coords={
            schema.TIME: (schema.TIME, times),
            schema.BASELINE: (schema.BASELINE, np.arange(a1.size)),
            schema.FREQUENCY: (schema.FREQUENCY, freqs),
            schema.POLARIZATION: (schema.POLARIZATION, np.array(["XX", "YY"])),
            schema.UVW_LABEL: (schema.UVW_LABEL, np.array(["u", "v", "w"])),
            "baseline_antenna1_name": (schema.BASELINE, names[a1]),
            "baseline_antenna2_name": (schema.BASELINE, names[a2]),
            "antenna1": (schema.BASELINE, a1),
            "antenna2": (schema.BASELINE, a2),
            "channel_width": (
                schema.FREQUENCY,
                np.full(freqs.size, channel_width(n_chan_per_subband)),
            ),
            "integration_time": (schema.TIME, np.full(n_time, INTEGRATION_S)),
            "phase_center_ra": (schema.TIME, ra_c),
            "phase_center_dec": (schema.TIME, dec_c),
            schema.ANTENNA: (schema.ANTENNA, names),
            "antenna_number": (schema.ANTENNA, table.numbers - 1),
            "antenna_position": ((schema.ANTENNA, schema.XYZ_LABEL), table.ecef),
            "antenna_diameter": (schema.ANTENNA, np.full(names.size, DISH_DIAMETER_M)),
            schema.XYZ_LABEL: (schema.XYZ_LABEL, np.array(["x", "y", "z"])),
        },
        attrs={
            "telescope_name": site.name,
            "instrument": "DSA",
            "site_latitude": site.latitude_rad,
            "site_longitude": site.longitude_rad,
            "site_height": site.height_m,
            "pointing_dec": dec,
            "phase_center_type": "meridian",
            "source_files": [],
        },
    )
    for name, spec in {**schema.DATA_VARS, **schema.COORDS}.items():
        if spec.units:
            ds[name].attrs["units"] = spec.units
    ds[schema.TIME].attrs.update(scale="utc", format="unix")
    return ds


def make_transient_dataset(*, sources=(), transient, integration, seed=0, **kwargs):
    """Make a dataset of steady ``sources`` with ``transient`` in one integration only.

    Parameters
    ----------
    sources : sequence of PointSource, keyword-only
        The steady sky.
    transient : PointSource, keyword-only
        Present in integration ``integration`` only.
    integration : int, keyword-only
    seed : int, keyword-only
        Of the noise: the same draw with and without the transient.
    **kwargs
        Passed to :func:`make_visibility_dataset` (not ``rng``).

    Returns
    -------
    xarray.Dataset
    """
    steady = make_visibility_dataset(
        sources=sources, rng=np.random.default_rng(seed), **kwargs
    )
    flashing = make_visibility_dataset(
        sources=[*sources, transient], rng=np.random.default_rng(seed), **kwargs
    )
    steady["VISIBILITY"][integration] = flashing["VISIBILITY"][integration]
    return steady
