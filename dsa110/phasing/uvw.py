"""Baseline coordinates (UVW) and phase-centre directions.

astropy does the coordinate transforms (ICRS → topocentric apparent ITRS, with
precession, nutation, aberration and polar motion) once per time; the
per-baseline arithmetic is a vectorised matrix product.

For each time the UVW basis is, in ITRF/ECEF axes:

* ``s`` (w): the apparent direction of the phase centre,
* ``n`` (v): toward the ICRS north pole, made perpendicular to ``s``,
* ``e`` (u): ``n × s``, toward the east,

and ``UVW_ij = (x_j − x_i) · [e, n, s]``. This is the ICRS-aligned (J2000) UVW
of pyuvdata and the Measurement Set; see :mod:`dsa110.schema` for the sign
convention.
"""

from __future__ import annotations

import numpy as np

from dsa110.telescope.antennas import Site
from dsa110.telescope.time import as_time, warn_if_extrapolated

__all__ = ["meridian_centers", "uvw_basis", "baseline_uvw", "source_directions"]

# Offset toward the ICRS pole used to find the local north direction, radians.
# The finite-difference error is O(ε) ~ 5e-8 rad of the v-axis direction.
_NORTH_STEP_RAD = 1e-6


def _times(times):
    """Accept unix seconds or an astropy Time; return an astropy Time."""
    from astropy.time import Time

    if isinstance(times, Time):
        return times.utc
    return as_time(np.atleast_1d(np.asarray(times, dtype=np.float64)), fmt="unix")


def meridian_centers(times, pointing_dec, site: Site):
    """ICRS positions of the local meridian at the pointing declination.

    The DSA-110 correlator fringe-stops each integration to hour angle 0 and the
    pointing declination (apparent, topocentric) at the integration's mid-time;
    this returns the ICRS coordinates of that direction.

    Parameters
    ----------
    times : array-like of float or astropy.time.Time
        ``(time,)`` integration centres, unix seconds UTC.
    pointing_dec : float
        Apparent declination of the pointing, radians.
    site : Site
        Observatory location.

    Returns
    -------
    ra, dec : numpy.ndarray
        ``(time,)`` float64, ICRS radians; RA in [0, 2π).
    """
    from astropy import units as u
    from astropy.coordinates import HADec, SkyCoord

    t = _times(times)
    warn_if_extrapolated(t)
    hadec = SkyCoord(
        ha=np.zeros(t.size) * u.rad,
        dec=np.full(t.size, float(pointing_dec)) * u.rad,
        frame=HADec(obstime=t, location=site.earth_location),
    )
    icrs = hadec.icrs
    return np.mod(icrs.ra.rad, 2 * np.pi), icrs.dec.rad


def source_directions(ra, dec, times, site: Site) -> np.ndarray:
    """Apparent topocentric unit vectors of ICRS directions in ITRF axes.

    Parameters
    ----------
    ra, dec : array-like of float
        ICRS radians, broadcastable against ``times`` (e.g. ``(source, 1)``).
    times : array-like of float or astropy.time.Time
        Unix seconds UTC, ``(time,)``.
    site : Site
        Observatory location.

    Returns
    -------
    numpy.ndarray
        ``broadcast(ra, dec, times).shape + (3,)`` float64 unit vectors.
    """
    from astropy import units as u
    from astropy.coordinates import ITRS, SkyCoord

    t = _times(times)
    warn_if_extrapolated(t)
    ra_b, dec_b, _ = np.broadcast_arrays(
        np.asarray(ra, dtype=np.float64),
        np.asarray(dec, dtype=np.float64),
        np.zeros(t.shape),
    )
    t_b = t.ravel()[np.broadcast_to(np.arange(t.size).reshape(t.shape), ra_b.shape)]
    coord = SkyCoord(ra=ra_b * u.rad, dec=dec_b * u.rad, frame="icrs")
    itrs = coord.transform_to(ITRS(obstime=t_b, location=site.earth_location))
    xyz = np.stack(
        [itrs.cartesian.x.value, itrs.cartesian.y.value, itrs.cartesian.z.value],
        axis=-1,
    )
    return xyz / np.linalg.norm(xyz, axis=-1, keepdims=True)


def uvw_basis(ra, dec, times, site: Site) -> np.ndarray:
    """The ``(e, n, s)`` UVW basis of each phase centre and time, in ITRF axes.

    Parameters
    ----------
    ra, dec : float or array-like of float
        ICRS phase centre(s), radians; scalars or ``(time,)``.
    times : array-like of float or astropy.time.Time
        ``(time,)`` unix seconds UTC.
    site : Site
        Observatory location.

    Returns
    -------
    numpy.ndarray
        ``(time, 3, 3)`` float64; row 0 is the u axis, row 1 v, row 2 w.
    """
    t = _times(times)
    n_time = t.size
    ra = np.broadcast_to(np.asarray(ra, dtype=np.float64), (n_time,))
    dec = np.broadcast_to(np.asarray(dec, dtype=np.float64), (n_time,))
    # Step toward the pole; near the pole itself step away from it instead.
    step = np.where(
        dec > np.pi / 2 - 2 * _NORTH_STEP_RAD, -_NORTH_STEP_RAD, _NORTH_STEP_RAD
    )
    both = source_directions(
        np.stack([ra, ra]), np.stack([dec, dec + step]), t.reshape(1, -1), site
    )
    s, s2 = both[0], both[1]
    north = (s2 - s) * np.sign(step)[:, None]
    north -= np.sum(north * s, axis=-1, keepdims=True) * s
    north /= np.linalg.norm(north, axis=-1, keepdims=True)
    east = np.cross(north, s)
    return np.stack([east, north, s], axis=1)


def baseline_uvw(antenna_positions, antenna1, antenna2, basis) -> np.ndarray:
    """UVW of each baseline for each time: ``(x_j − x_i) · basis``.

    Parameters
    ----------
    antenna_positions : numpy.ndarray
        ``(antenna, 3)`` float64 ITRF/ECEF metres (absolute or relative to any
        fixed point).
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int indices into ``antenna_positions``.
    basis : numpy.ndarray
        ``(time, 3, 3)`` float64 from :func:`uvw_basis`.

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, 3)`` float64 metres.
    """
    pos = np.asarray(antenna_positions, dtype=np.float64)
    bvec = pos[np.asarray(antenna2)] - pos[np.asarray(antenna1)]
    return np.einsum("bk,tjk->tbj", bvec, basis)
