"""Offline Earth-orientation handling for astropy.

astropy cannot download IERS tables on observatory or cluster nodes without network
access, and its bundled table ends weeks before "today". :func:`configure_offline_iers`
switches off downloads and lets astropy extrapolate UT1−UTC and polar motion beyond
the bundled table (with a single :class:`~dsa110.errors.EarthOrientationWarning`),
so sidereal time and apparent coordinates work for any date.

The extrapolation error is at the level of tens of milliseconds of UT1 after a few
months, i.e. a few arcseconds of hour angle: negligible against DSA-110's
~20 arcsecond synthesized beam and the 4.65 m dishes' 2.7 degree primary beam.
"""

from __future__ import annotations

import threading
import warnings

from dsa110.errors import EarthOrientationWarning

__all__ = ["configure_offline_iers", "warn_if_extrapolated", "as_time"]

_lock = threading.Lock()
_configured = False
_warned = False


def configure_offline_iers() -> None:
    """Configure astropy's IERS handling to work without network access.

    Idempotent and thread-safe; called when :mod:`dsa110.telescope` is imported.

    Notes
    -----
    Sets ``astropy.utils.iers.conf.auto_download = False``,
    ``auto_max_age = None`` and ``iers_degraded_accuracy = "ignore"``: astropy then
    uses its bundled tables (``astropy-iers-data``) and holds UT1−UTC and polar
    motion at their last tabulated values beyond the table. Callers that need to
    know whether that happened use :func:`warn_if_extrapolated`.
    """
    global _configured
    with _lock:
        if _configured:
            return
        from astropy.utils import iers

        iers.conf.auto_download = False
        iers.conf.auto_max_age = None
        iers.conf.iers_degraded_accuracy = "ignore"
        # astropy and ERFA then warn on every transform beyond the table; this
        # library warns once instead (warn_if_extrapolated).
        warnings.filterwarnings("ignore", message="Tried to get polar motions")
        warnings.filterwarnings("ignore", message=r".*dubious year")
        _configured = True


def _table_end_mjd() -> float:
    from astropy.utils import iers

    table = iers.earth_orientation_table.get()
    return float(table["MJD"][-1].value)


def warn_if_extrapolated(times) -> bool:
    """Warn once per process when ``times`` lie beyond the bundled IERS table.

    Parameters
    ----------
    times : astropy.time.Time
        Times at which Earth orientation is about to be evaluated.

    Returns
    -------
    bool
        True when any time is beyond the table's end.
    """
    global _warned
    configure_offline_iers()
    mjd_max = float(max(times.utc.mjd.ravel())) if times.size else 0.0
    beyond = mjd_max > _table_end_mjd()
    if beyond and not _warned:
        _warned = True
        warnings.warn(
            "Earth-orientation values (UT1-UTC, polar motion) are extrapolated "
            "beyond astropy's bundled IERS table for MJD "
            f"{mjd_max:.1f}; positions are good to a few arcseconds.",
            EarthOrientationWarning,
            stacklevel=2,
        )
    return beyond


def as_time(value, *, fmt: str | None = None):
    """Convert ``value`` to an :class:`astropy.time.Time` in UTC.

    Parameters
    ----------
    value : Time, str, float or array-like
        A Time, ISO string(s), or numbers in format ``fmt``.
    fmt : str, optional, keyword-only
        astropy time format for numeric input (e.g. ``"jd"``, ``"unix"``, ``"mjd"``).

    Returns
    -------
    astropy.time.Time
    """
    from astropy.time import Time

    configure_offline_iers()
    if isinstance(value, Time):
        return value.utc
    return Time(value, format=fmt, scale="utc")
