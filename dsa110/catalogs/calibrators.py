"""Calibrators: the VLA calibrator list, flux-density models, transits.

The package bundles the sources of the VLA calibrator list that have a 20 cm
(L band) flux density, as ``dsa110/catalogs/data/vla_calibrators_20cm.csv``,
derived from the NRAO text file with :func:`read_vla_calibrator_list` and
:func:`write_calibrator_csv`. The six primary flux calibrators (3C48, 3C138,
3C147, 3C196, 3C286, 3C295) carry the Perley & Butler (2017) polynomial spectra;
the others a flat spectrum at their 20 cm flux density (or a power law, when the
caller gives a spectral index).

References
----------
Perley, R. A. & Butler, B. J. 2017, ApJS 230, 7, "An accurate flux density
scale from 50 MHz to 50 GHz", Table 6.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from dsa110.errors import ConfigurationError, DSA110Error, FileFormatError

__all__ = [
    "PERLEY_BUTLER_2017",
    "POSITION_REFERENCES",
    "Calibrator",
    "CalibratorNotFoundError",
    "read_vla_calibrator_list",
    "write_calibrator_csv",
    "read_calibrator_csv",
    "calibrator_list",
    "get_calibrator",
    "best_calibrator",
    "transit_times",
    "find_transit",
    "find_transit_tile",
]

#: Perley & Butler (2017) Table 6: ``log10 S[Jy] = Σ a_k log10(ν/GHz)^k``;
#: with the validity range (GHz).
PERLEY_BUTLER_2017 = {
    "3C48": ((1.3253, -0.7553, -0.1914, 0.0498), (0.05, 50.0)),
    "3C138": ((1.0088, -0.4981, -0.155, -0.010, 0.022), (0.2, 50.0)),
    "3C147": ((1.4516, -0.6961, -0.201, 0.064, -0.046, 0.029), (0.05, 50.0)),
    "3C196": ((1.2872, -0.8530, -0.153, -0.0200, 0.0201), (0.05, 50.0)),
    "3C286": ((1.2481, -0.4507, -0.1798, 0.0357), (0.05, 50.0)),
    "3C295": ((1.4701, -0.7658, -0.2780, -0.0347, 0.0399), (0.05, 50.0)),
}
#: Reference frequency of the 20 cm flux densities of the VLA list, Hz.
L_BAND_HZ = 1.4e9
_SIDEREAL_DAY_S = 86164.0905
_RA_RE = re.compile(r"(\d+)h(\d+)m([\d.]+)s")
_DEC_RE = re.compile(r"([+-]?)(\d+)d(\d+)'([\d.]+)\"")
_DATE_RE = re.compile(r"[A-Z][a-z]{2}\d{2}")
#: Labels of the list's position-reference column (the survey or programme a
#: position comes from), which the alternative names share: not names.
POSITION_REFERENCES = frozenset(
    {"AW574", "CJ1", "CJ2", "ICRF", "JVAS", "USNO", "VCS", "VERA", "VLBA", "VSOP"}
)
_NUMBER_RE = re.compile(r"[-+]?\d+(\.\d*)?")


class CalibratorNotFoundError(DSA110Error, KeyError):
    """No calibrator of that name in the catalogue."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Calibrator:
    """A calibrator source.

    Attributes
    ----------
    name : str
        IAU J2000 name of the VLA list (e.g. ``"1331+305"``).
    ra, dec : float
        ICRS position, radians.
    flux_jy : float
        20 cm (1.4 GHz) flux density, Jy.
    alt_name : str
        Alternative name (``"3C286"``), or ``""``.
    position_code : str
        VLA position accuracy code (A: < 2 mas, B: 2–10 mas, C: 10–150 mas, T).
    quality : str
        The four 20 cm quality codes for VLA A, B, C, D configurations (P: < 3 %
        amplitude closure errors, S: 3–10 %, W: 10 %+, X: unusable, ``?``: unknown).
    uvmin_klambda, uvmax_klambda : float
        Usable uv range (kλ); NaN when unrestricted.
    spectral_index : float
        Power-law index used when no polynomial spectrum is known.
    coefficients : tuple of float
        Perley & Butler (2017) ``log10`` polynomial in GHz, or empty.
    """

    name: str
    ra: float
    dec: float
    flux_jy: float
    alt_name: str = ""
    position_code: str = ""
    quality: str = "????"
    uvmin_klambda: float = math.nan
    uvmax_klambda: float = math.nan
    spectral_index: float = 0.0
    coefficients: tuple = field(default=())

    @property
    def names(self) -> tuple:
        """Every name of the source (``"1331+305"``, ``"J1331+305"``, ``"3C286"``)."""
        out = [self.name, "J" + self.name]
        if self.alt_name:
            out.append(self.alt_name)
        return tuple(out)

    def flux_density(self, freq_hz):
        """Flux density at ``freq_hz``.

        Parameters
        ----------
        freq_hz : array-like of float
            Frequencies, Hz.

        Returns
        -------
        numpy.ndarray
            float64 Jy, the shape of ``freq_hz``.
        """
        freq = np.asarray(freq_hz, dtype=np.float64)
        if self.coefficients:
            x = np.log10(freq / 1e9)
            return 10.0 ** np.polynomial.polynomial.polyval(x, self.coefficients)
        return self.flux_jy * (freq / L_BAND_HZ) ** self.spectral_index


def _parse_ra(text):
    m = _RA_RE.fullmatch(text)
    if not m:
        raise ValueError(f"bad RA {text!r}")
    h, mi, s = float(m[1]), float(m[2]), float(m[3])
    return math.radians(15.0 * (h + mi / 60.0 + s / 3600.0))


def _parse_dec(text):
    m = _DEC_RE.fullmatch(text)
    if not m:
        raise ValueError(f"bad Dec {text!r}")
    sign = -1.0 if m[1] == "-" else 1.0
    return sign * math.radians(float(m[2]) + float(m[3]) / 60.0 + float(m[4]) / 3600.0)


def read_vla_calibrator_list(path, *, band: str = "20cm") -> list[Calibrator]:
    """Parse the NRAO VLA calibrator list (plain text) for one band.

    Each source block starts with the J2000 line (name, ``J2000``, position code,
    RA ``00h01m08.62s``, Dec ``19d14'33.80"``, optional position reference date
    and survey (:data:`POSITION_REFERENCES`, not kept) or alternative name),
    then the B1950 line and a table of bands. Sources without a flux density
    in ``band`` are skipped.

    Parameters
    ----------
    path : str or Path
        ``vlacalibrators.txt``.
    band : str, keyword-only
        The band label (first column of the band table).

    Returns
    -------
    list of Calibrator
        In file order.

    Raises
    ------
    FileFormatError
        Naming the file and line of a malformed source or band row.
    """
    out = []
    current = None
    uvmax_col = 46
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            tokens = line.split()
            if len(tokens) >= 5 and tokens[1] == "J2000":
                try:
                    ra, dec = _parse_ra(tokens[3]), _parse_dec(tokens[4])
                except ValueError as exc:
                    raise FileFormatError(path, f"line {lineno}: {exc}") from exc
                rest = [
                    t
                    for t in tokens[5:]
                    if not _DATE_RE.fullmatch(t) and t not in POSITION_REFERENCES
                ]
                current = dict(
                    name=tokens[0],
                    ra=ra,
                    dec=dec,
                    position_code=tokens[2],
                    alt_name=rest[0] if rest else "",
                )
            elif tokens and tokens[0] == "BAND" and "UVMAX(kL)" in line:
                uvmax_col = line.index("UVMAX(kL)")
            elif current is not None and len(tokens) >= 7 and tokens[0] == band:
                if tokens[6] == "?":
                    continue
                try:
                    flux = float(tokens[6])
                except ValueError as exc:
                    raise FileFormatError(
                        path, f"line {lineno}: bad flux {tokens[6]!r}", field=band
                    ) from exc
                uvmin = uvmax = math.nan
                flux_end = line.index(tokens[6], line.index(tokens[5]) + 1) + len(
                    tokens[6]
                )
                for m in _NUMBER_RE.finditer(line, flux_end):
                    if m.start() < uvmax_col - 2:
                        uvmin = float(m[0])
                    else:
                        uvmax = float(m[0])
                out.append(
                    Calibrator(
                        flux_jy=flux,
                        quality="".join(tokens[2:6]),
                        uvmin_klambda=uvmin,
                        uvmax_klambda=uvmax,
                        **current,
                    )
                )
                current = None
    if not out:
        raise FileFormatError(path, f"no calibrator with a {band} flux density found")
    return out


_CSV_FIELDS = (
    "name",
    "ra_rad",
    "dec_rad",
    "flux_jy",
    "alt_name",
    "position_code",
    "quality",
    "uvmin_klambda",
    "uvmax_klambda",
)


def write_calibrator_csv(calibrators, path) -> None:
    """Write calibrators in the bundled CSV format (atomically).

    Parameters
    ----------
    calibrators : sequence of Calibrator
        The sources.
    path : str or Path
        Output file; written to a temporary name and renamed into place.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_CSV_FIELDS)
        for c in calibrators:
            writer.writerow(
                [
                    c.name,
                    f"{c.ra:.12f}",
                    f"{c.dec:.12f}",
                    f"{c.flux_jy:g}",
                    c.alt_name,
                    c.position_code,
                    c.quality,
                    "" if math.isnan(c.uvmin_klambda) else f"{c.uvmin_klambda:g}",
                    "" if math.isnan(c.uvmax_klambda) else f"{c.uvmax_klambda:g}",
                ]
            )
    tmp.replace(path)


def read_calibrator_csv(path) -> list[Calibrator]:
    """Read the bundled CSV format; attach Perley & Butler spectra by name.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`write_calibrator_csv`.

    Returns
    -------
    list of Calibrator

    Raises
    ------
    FileFormatError
        If a column is missing or a value is malformed.
    """
    out = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(_CSV_FIELDS) - set(reader.fieldnames or ())
        if missing:
            raise FileFormatError(path, f"missing columns {sorted(missing)}")
        for lineno, row in enumerate(reader, start=2):
            try:
                alt = row["alt_name"]
                coeffs = PERLEY_BUTLER_2017.get(alt.upper(), ((), None))[0]
                out.append(
                    Calibrator(
                        name=row["name"],
                        ra=float(row["ra_rad"]),
                        dec=float(row["dec_rad"]),
                        flux_jy=float(row["flux_jy"]),
                        alt_name=alt,
                        position_code=row["position_code"],
                        quality=row["quality"],
                        uvmin_klambda=float(row["uvmin_klambda"] or "nan"),
                        uvmax_klambda=float(row["uvmax_klambda"] or "nan"),
                        coefficients=tuple(coeffs),
                    )
                )
            except ValueError as exc:
                raise FileFormatError(path, f"line {lineno}: {exc}") from exc
    return out


@functools.cache
def calibrator_list() -> tuple:
    """Return the bundled calibrators (VLA list, 20 cm).

    Returns
    -------
    tuple of Calibrator
    """
    ref = resources.files("dsa110.catalogs") / "data" / "vla_calibrators_20cm.csv"
    with resources.as_file(ref) as p:
        return tuple(read_calibrator_csv(Path(p)))


@functools.cache
def _name_index() -> dict:
    index = {}
    for cal in calibrator_list():
        for n in cal.names:
            index.setdefault(n.upper(), cal)
    return index


def get_calibrator(name: str) -> Calibrator:
    """Look a calibrator up by J2000 name (with or without ``J``) or alias.

    Parameters
    ----------
    name : str
        ``"1331+305"``, ``"J1331+305"`` or ``"3C286"`` (case-insensitive, spaces
        ignored).

    Returns
    -------
    Calibrator

    Raises
    ------
    CalibratorNotFoundError
        When no bundled calibrator has that name.
    """
    key = str(name).replace(" ", "").upper()
    try:
        return _name_index()[key]
    except KeyError:
        raise CalibratorNotFoundError(
            f"no calibrator named {name!r} in the bundled VLA calibrator list"
        ) from None


def best_calibrator(
    pointing_dec: float,
    *,
    freq_hz: float = L_BAND_HZ,
    config: str = "C",
    quality: str = "PS",
    min_flux_jy: float = 0.0,
    calibrators=None,
) -> Calibrator:
    """Choose the calibrator brightest after primary-beam attenuation at transit.

    At transit a source at declination δ lies |δ − δ_pointing| from the
    meridian-pointed beam centre; its apparent flux density is
    ``S(ν) · A(|δ − δ_p|, ν)`` with the Airy beam ``A`` of
    :func:`dsa110.telescope.airy_beam`.

    Parameters
    ----------
    pointing_dec : float
        Pointing declination, radians.
    freq_hz : float, keyword-only
        Frequency of the comparison (Hz).
    config : str, keyword-only
        VLA configuration whose quality code is checked: ``"C"`` by default
        (closest to DSA-110's 2.6 km longest baseline).
    quality : str, keyword-only
        Accepted quality codes.
    min_flux_jy : float, keyword-only
        Minimum apparent flux density.
    calibrators : sequence of Calibrator, optional
        Candidates; the bundled list by default.

    Returns
    -------
    Calibrator

    Raises
    ------
    CalibratorNotFoundError
        When no candidate passes the cuts.
    ConfigurationError
        For an unknown ``config``.
    """
    from dsa110.telescope import airy_beam  # deferred: astropy configuration at import

    if config not in "ABCD" or len(config) != 1:
        raise ConfigurationError(f"config must be one of A, B, C, D, not {config!r}")
    col = "ABCD".index(config)
    cands = calibrator_list() if calibrators is None else tuple(calibrators)
    best, best_flux = None, min_flux_jy
    for cal in cands:
        if cal.quality[col] not in quality:
            continue
        apparent = float(cal.flux_density(freq_hz)) * float(
            airy_beam(abs(cal.dec - pointing_dec), freq_hz)
        )
        if apparent > best_flux:
            best, best_flux = cal, apparent
    if best is None:
        raise CalibratorNotFoundError(
            f"no calibrator brighter than {min_flux_jy} Jy (apparent) near "
            f"dec {math.degrees(pointing_dec):.2f} deg"
        )
    return best


def _hour_angle(cal, times, site):
    from astropy import units as u
    from astropy.coordinates import HADec, SkyCoord

    coord = SkyCoord(ra=cal.ra * u.rad, dec=cal.dec * u.rad, frame="icrs")
    ha = coord.transform_to(HADec(obstime=times, location=site.earth_location)).ha.rad
    return np.mod(ha + np.pi, 2 * np.pi) - np.pi


def transit_times(calibrator: Calibrator, start, end, *, site=None):
    """Meridian transits (apparent hour angle 0) between ``start`` and ``end``.

    Parameters
    ----------
    calibrator : Calibrator
        The source.
    start, end : astropy.time.Time, str or float
        Interval (ISO strings or unix seconds UTC).
    site : dsa110.telescope.Site, optional
        Defaults to the DSA-110 site.

    Returns
    -------
    astropy.time.Time
        ``(n_transit,)`` UTC, ascending; accurate to ~10 ms (two Newton steps
        on the apparent hour angle).
    """
    from astropy import units as u

    from dsa110.telescope import default_site
    from dsa110.telescope.time import as_time, warn_if_extrapolated

    site = default_site() if site is None else site
    fmt = "unix" if np.isscalar(start) and not isinstance(start, str) else None
    t0 = as_time(start, fmt=fmt)
    t1 = as_time(
        end, fmt="unix" if np.isscalar(end) and not isinstance(end, str) else None
    )
    warn_if_extrapolated(t1)
    rate = 2 * np.pi / _SIDEREAL_DAY_S
    # First transit at or after t0 − 1 day, then every sidereal day.
    t = t0 - (_hour_angle(calibrator, t0, site) / rate) * u.s
    n = int(np.ceil((t1 - t).to_value(u.s) / _SIDEREAL_DAY_S)) + 2
    t = t + (np.arange(-1, n) * _SIDEREAL_DAY_S) * u.s
    for _ in range(2):
        t = t - (_hour_angle(calibrator, t, site) / rate) * u.s
    keep = (t >= t0) & (t <= t1)
    return t[keep]


def find_transit(calibrator: Calibrator, times, *, integration_s=None, site=None):
    """Find the integration of ``times`` that holds the calibrator's transit.

    Parameters
    ----------
    calibrator : Calibrator
        The source.
    times : array-like of float
        ``(time,)`` integration centres, unix seconds UTC, ascending.
    integration_s : float, optional
        Integration length; the median spacing of ``times`` by default.
    site : dsa110.telescope.Site, optional
        Defaults to the DSA-110 site.

    Returns
    -------
    tuple of (int, float) or None
        Index of the integration containing the transit and the transit time
        (unix seconds), or None when the transit is not inside ``times``.
    """
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if integration_s is None:
        integration_s = (
            float(np.median(np.diff(times))) if times.size > 1 else 12.884901888
        )
    lo, hi = times[0] - integration_s / 2, times[-1] + integration_s / 2
    transits = transit_times(calibrator, lo, hi, site=site)
    if len(transits) == 0:
        return None
    t = float(transits[0].unix)
    return int(np.argmin(np.abs(times - t))), t


def find_transit_tile(calibrator: Calibrator, tiles, *, site=None):
    """Which tile (and integration) holds the calibrator's transit.

    Parameters
    ----------
    calibrator : Calibrator
        The source.
    tiles : mapping of key to array-like of float
        Each tile's integration centres (unix seconds UTC), e.g. keyed by the
        group's start time or path.
    site : dsa110.telescope.Site, optional
        Defaults to the DSA-110 site.

    Returns
    -------
    tuple of (key, int, float) or None
        The tile's key, integration index and transit time (unix seconds).
    """
    for key, times in tiles.items():
        hit = find_transit(calibrator, times, site=site)
        if hit is not None:
            return key, hit[0], hit[1]
    return None
