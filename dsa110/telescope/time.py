"""Offline Earth-orientation handling for astropy.

astropy cannot download IERS tables on observatory or cluster nodes without network
access, and its bundled table ends weeks before "today". :func:`configure_offline_iers`
switches off downloads and lets astropy extrapolate UT1−UTC and polar motion beyond
the bundled table (with a single :class:`~dsa110.errors.EarthOrientationWarning`),
so sidereal time and apparent coordinates work for any date.

Loading astropy's default Earth-orientation table means parsing two ~5 MB text
files (about 2 s, more on a busy machine) in every process that transforms a
coordinate. :func:`load_earth_orientation_table` keeps the parsed table in a
per-user cache (keyed by the astropy and bundled-data versions and the files'
size and date) and hands it to astropy, so later processes load it in
milliseconds. Nothing is read at import.

The extrapolation error is at the level of tens of milliseconds of UT1 after a few
months, i.e. a few arcseconds of hour angle: negligible against DSA-110's
~20 arcsecond synthesized beam and the 4.65 m dishes' 2.7 degree primary beam.
"""

from __future__ import annotations

import os
import pickle
import threading
import warnings
from pathlib import Path

from dsa110.errors import EarthOrientationWarning

__all__ = [
    "configure_offline_iers",
    "load_earth_orientation_table",
    "warn_if_extrapolated",
    "as_time",
]

_lock = threading.Lock()
_configured = False
_warned = False
_table_end: float | None = None


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


def _eop_cache_file() -> Path | None:
    """Return the cache file for the current astropy and IERS data, or None."""
    import astropy
    from astropy.config import get_cache_dir
    from astropy.utils import iers

    if os.path.exists("finals2000A.all"):
        return None  # astropy would read this working-directory copy instead
    try:
        import astropy_iers_data

        stamp = [astropy.__version__, getattr(astropy_iers_data, "__version__", "")]
        for name in (iers.IERS_A_FILE, iers.IERS_B_FILE):
            st = os.stat(name)
            stamp += [str(name), str(st.st_size), str(st.st_mtime_ns)]
        folder = Path(get_cache_dir()) / "dsa110"
    except (ImportError, OSError, AttributeError):
        return None
    import hashlib

    key = hashlib.sha256("|".join(stamp).encode()).hexdigest()[:16]
    return folder / f"iers-auto-{key}.pickle"


def _read_cached_table(path: Path):
    try:
        st = path.stat()
        # Only trust a cache that this user wrote and nobody else can change.
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - a missing or damaged cache is rebuilt
        return None


def _write_cached_table(path: Path, table) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(
            os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb"
        ) as fh:
            pickle.dump(table, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: parse again next time


def load_earth_orientation_table():
    """Astropy's default (``IERS_Auto``) Earth-orientation table, loaded cheaply.

    The first call in a process takes the parsed table from a per-user cache
    when one matches the installed astropy and ``astropy-iers-data``; otherwise
    astropy parses its bundled files (≈ 2 s) and the result is cached. The
    table is installed as astropy's ``IERS_Auto`` table, so later coordinate
    transforms use it without parsing anything.

    Returns
    -------
    astropy.utils.iers.IERS_Auto
    """
    configure_offline_iers()
    from astropy.utils import iers

    with _lock:
        if iers.IERS_Auto.iers_table is None:
            path = _eop_cache_file()
            table = _read_cached_table(path) if path is not None else None
            if not isinstance(table, iers.IERS_Auto):
                table = iers.IERS_Auto.read()
                if path is not None:
                    _write_cached_table(path, table)
            iers.IERS_Auto.iers_table = table
        return iers.IERS_Auto.iers_table


def _table_end_mjd() -> float:
    """Last MJD of the Earth-orientation table astropy will use (cached)."""
    global _table_end
    from astropy.utils import iers

    load_earth_orientation_table()
    table = iers.earth_orientation_table.get()
    if table is iers.IERS_Auto.iers_table and _table_end is not None:
        return _table_end
    end = float(table["MJD"][-1].value)
    if table is iers.IERS_Auto.iers_table:
        _table_end = end
    return end


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
