"""The DSA-110 antenna table and the site.

The table is derived from the observatory's public station-coordinate file
(``DSA110_Station_Coordinates.csv``: WGS84 latitude, longitude and elevation of
117 stations) with :func:`read_station_csv` and bundled in the package as
``dsa110/telescope/data/dsa110_stations.csv``. Antenna names are ``"1".."117"``;
the antenna index used in arrays is ``station − 1``.
"""

from __future__ import annotations

import csv
import re
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from dsa110.errors import FileFormatError

__all__ = [
    "N_STATIONS",
    "DISH_DIAMETER_M",
    "SITE_NAME",
    "ACTIVE_EW",
    "ACTIVE_NS",
    "ACTIVE_OUTRIGGERS",
    "ACTIVE_ANTENNAS",
    "AntennaTable",
    "Site",
    "read_station_csv",
    "antenna_table",
    "default_site",
]

#: Number of station slots (antenna numbers 1..117).
N_STATIONS = 117
#: Dish diameter in metres.
DISH_DIAMETER_M = 4.65
#: The telescope name CASA knows for this site (``listobs`` fails on others).
SITE_NAME = "OVRO_MMA"
#: Active antennas of the east-west arm (1–51 without 10, 21, 22, 23).
ACTIVE_EW = tuple(a for a in range(1, 52) if a not in (10, 21, 22, 23))
#: Active antennas of the north-south arm.
ACTIVE_NS = tuple(range(68, 103))
#: Active outriggers.
ACTIVE_OUTRIGGERS = tuple(range(103, 117))
#: The 96 active antennas (station numbers), sorted.
ACTIVE_ANTENNAS = tuple(sorted(ACTIVE_EW + ACTIVE_NS + ACTIVE_OUTRIGGERS))
_STATION = re.compile(r"DSA-\d{3}")


@dataclass(frozen=True)
class Site:
    """A telescope site.

    Attributes
    ----------
    name : str
        Telescope name written to products.
    latitude_rad, longitude_rad : float
        WGS84 geodetic latitude and longitude in radians.
    height_m : float
        Height above the WGS84 ellipsoid in metres.
    """

    name: str
    latitude_rad: float
    longitude_rad: float
    height_m: float

    @property
    def earth_location(self):
        """The site as an :class:`astropy.coordinates.EarthLocation`."""
        from astropy import units as u
        from astropy.coordinates import EarthLocation

        return EarthLocation.from_geodetic(
            lon=self.longitude_rad * u.rad,
            lat=self.latitude_rad * u.rad,
            height=self.height_m * u.m,
        )

    @property
    def ecef(self) -> np.ndarray:
        """ITRF/ECEF position in metres, ``(3,)`` float64."""
        loc = self.earth_location
        return np.array([loc.x.value, loc.y.value, loc.z.value])


def default_site() -> Site:
    """The DSA-110 site as CASA knows it (``OVRO_MMA``).

    Returns
    -------
    Site
    """
    return Site(SITE_NAME, 0.6498455, -2.0644278, 1188.05)


@dataclass(frozen=True)
class AntennaTable:
    """Positions of the 117 DSA-110 stations.

    Attributes
    ----------
    numbers : numpy.ndarray
        ``(n_ant,)`` int, station numbers 1..117.
    names : numpy.ndarray
        ``(n_ant,)`` str, ``"1".."117"``.
    latitude_deg, longitude_deg, height_m : numpy.ndarray
        ``(n_ant,)`` float64 WGS84 coordinates.
    height_filled : numpy.ndarray
        ``(n_ant,)`` bool, True where the source file gave no elevation and the
        median elevation of the array was used.
    ecef : numpy.ndarray
        ``(n_ant, 3)`` float64, ITRF/ECEF metres.
    """

    numbers: np.ndarray
    names: np.ndarray
    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    height_m: np.ndarray
    height_filled: np.ndarray
    ecef: np.ndarray

    @property
    def active(self) -> np.ndarray:
        """``(n_ant,)`` bool, True for the 96 active antennas."""
        return np.isin(self.numbers, ACTIVE_ANTENNAS)

    def relative_ecef(self, site: Site | None = None) -> np.ndarray:
        """ECEF positions relative to ``site`` (the UVH5 ``antenna_positions``).

        Parameters
        ----------
        site : Site, optional
            Defaults to :func:`default_site`.

        Returns
        -------
        numpy.ndarray
            ``(n_ant, 3)`` float64 metres.
        """
        site = default_site() if site is None else site
        return self.ecef - site.ecef[None, :]

    def enu(self, site: Site | None = None) -> np.ndarray:
        """Local east, north, up positions relative to ``site``.

        Parameters
        ----------
        site : Site, optional
            Defaults to :func:`default_site`.

        Returns
        -------
        numpy.ndarray
            ``(n_ant, 3)`` float64 metres.
        """
        site = default_site() if site is None else site
        return ecef_to_enu(self.relative_ecef(site), site)


def ecef_to_enu(rel_ecef, site: Site) -> np.ndarray:
    """Rotate ECEF offsets from ``site`` into local east, north, up.

    Parameters
    ----------
    rel_ecef : array-like
        ``(..., 3)`` float64 metres, relative to the site.
    site : Site
        The reference site.

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float64 metres.
    """
    lat, lon = site.latitude_rad, site.longitude_rad
    sl, cl, sp, cp = np.sin(lon), np.cos(lon), np.sin(lat), np.cos(lat)
    rot = np.array([[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]])
    return np.asarray(rel_ecef, dtype=np.float64) @ rot.T


def _table_from_columns(numbers, lat, lon, height) -> AntennaTable:
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    numbers = np.asarray(numbers, dtype=np.int64)
    height = np.asarray(height, dtype=np.float64)
    filled = ~np.isfinite(height)
    if filled.all():
        raise ValueError("no station has an elevation")
    height = np.where(filled, np.median(height[~filled]), height)
    loc = EarthLocation.from_geodetic(
        lon=np.asarray(lon) * u.deg, lat=np.asarray(lat) * u.deg, height=height * u.m
    )
    ecef = np.stack([loc.x.value, loc.y.value, loc.z.value], axis=-1)
    return AntennaTable(
        numbers=numbers,
        names=np.array([str(n) for n in numbers]),
        latitude_deg=np.asarray(lat, dtype=np.float64),
        longitude_deg=np.asarray(lon, dtype=np.float64),
        height_m=height,
        height_filled=filled,
        ecef=ecef,
    )


def read_station_csv(path) -> AntennaTable:
    """Read the observatory's station-coordinate CSV file.

    The file has a few title rows, then rows ``,DSA-NNN,lat,lon,elevation``.
    Rows without an elevation get the array's median elevation (flagged in
    ``height_filled``).

    Parameters
    ----------
    path : str or Path
        ``DSA110_Station_Coordinates.csv`` or the bundled ``dsa110_stations.csv``.

    Returns
    -------
    AntennaTable

    Raises
    ------
    FileFormatError
        If no station row can be parsed, or a row is malformed.
    """
    numbers, lat, lon, height = [], [], [], []
    with open(path, newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row]
            station = next((c for c in cells if _STATION.fullmatch(c)), None)
            if station is None:
                continue
            i = cells.index(station)
            try:
                numbers.append(int(station[4:]))
                lat.append(float(cells[i + 1]))
                lon.append(float(cells[i + 2]))
                h = cells[i + 3] if len(cells) > i + 3 else ""
                height.append(float(h) if h else np.nan)
            except (ValueError, IndexError) as exc:
                raise FileFormatError(
                    path, f"line {lineno}: bad station row {row!r}"
                ) from exc
    if not numbers:
        raise FileFormatError(path, "no DSA-NNN station rows found")
    order = np.argsort(numbers)
    return _table_from_columns(
        np.asarray(numbers)[order],
        np.asarray(lat)[order],
        np.asarray(lon)[order],
        np.asarray(height)[order],
    )


def write_station_csv(table: AntennaTable, path) -> None:
    """Write ``table`` in the bundled format (read back by :func:`read_station_csv`).

    Parameters
    ----------
    table : AntennaTable
        The table to write.
    path : str or Path
        Output file.
    """
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["", "Station Number", "Latitude", "Longitude", "Elevation (meters)"]
        )
        for n, la, lo, h, filled in zip(
            table.numbers,
            table.latitude_deg,
            table.longitude_deg,
            table.height_m,
            table.height_filled,
        ):
            writer.writerow(
                [
                    "",
                    f"DSA-{n:03d}",
                    f"{la:.7f}",
                    f"{lo:.7f}",
                    "" if filled else f"{h:.1f}",
                ]
            )


@functools.cache
def antenna_table() -> AntennaTable:
    """The bundled 117-station DSA-110 antenna table.

    Returns
    -------
    AntennaTable
    """
    path = resources.files("dsa110.telescope") / "data" / "dsa110_stations.csv"
    with resources.as_file(path) as p:
        return read_station_csv(Path(p))
