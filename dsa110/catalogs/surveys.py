"""Radio survey catalogs in their published formats, read into one canonical table.

Each survey's columns and units, as published (checked against the surveys'
documentation and public code that reads them):

* **NVSS** (Condon et al. 1998; VizieR ``VIII/65/nvss``): ``RAJ2000`` ("h m s")
  and ``DEJ2000`` ("d m s") sexagesimal strings (decimal degrees are accepted),
  ``e_RAJ2000`` (s of time), ``e_DEJ2000`` (arcsec), ``S1.4`` and ``e_S1.4``
  (mJy), ``l_MajAxis``/``l_MinAxis`` ("<" for upper limits), ``MajAxis``/
  ``MinAxis`` (deconvolved FWHM, arcsec), ``PA`` (deg), ``NVSS`` (name).
* **FIRST** (``first_14dec17.fits``): ``RA``/``DEC`` (deg), ``SIDEPROB``,
  ``FPEAK`` (mJy/beam), ``FINT`` (mJy), ``RMS`` (mJy/beam), deconvolved
  ``MAJOR``/``MINOR`` (arcsec, alias ``MAJ``/``MIN``), ``PA`` (deg), fitted
  ``FMAJOR``/``FMINOR``/``FPA`` (alias ``FMAJ``/``FMIN``).
* **VLASS** (CIRADA component catalogue CSV): ``Component_name``, ``RA``/``DEC``
  (deg), ``E_RA``/``E_DEC`` (arcsec), ``Total_flux``/``E_Total_flux`` (mJy),
  ``Peak_flux``/``E_Peak_flux`` (mJy/beam), ``DC_Maj``/``DC_Min`` (arcsec),
  ``DC_PA`` (deg), ``Isl_rms`` (mJy/beam), ``Duplicate_flag`` (2 = a duplicate
  to drop), ``Quality_flag`` (0 or 4 = good, per the CIRADA guide).
* **RACS-low** (CASDA component table, Hale et al. 2021): ``component_name``
  (or ``gaussian_id``), ``ra``/``dec`` (deg), ``e_ra``/``e_dec`` (arcsec),
  ``total_flux_source``/``e_total_flux_source`` (mJy; ``total_flux_gaussian``
  as a fallback), ``peak_flux``/``e_peak_flux`` (mJy/beam), ``dc_maj_axis``/
  ``dc_min_axis`` (arcsec), ``dc_pa`` (deg), ``noise`` (mJy/beam), ``flag``.

The canonical table (:data:`CANONICAL_COLUMNS`) has positions in degrees,
position errors and sizes in arcsec, flux densities in Jy (Jy/beam for peaks and
rms), deconvolved sizes (0 when unresolved), a ``resolved`` flag and a ``flag``
bit mask (:data:`FLAG_QUALITY`, :data:`FLAG_DUPLICATE`, :data:`FLAG_SIDELOBE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError, FileFormatError

__all__ = [
    "SURVEYS",
    "SurveySpec",
    "CANONICAL_COLUMNS",
    "FLAG_QUALITY",
    "FLAG_DUPLICATE",
    "FLAG_SIDELOBE",
    "check_positions",
    "read_survey",
    "read_table",
    "to_canonical",
]

FLAG_QUALITY = 1
FLAG_DUPLICATE = 2
FLAG_SIDELOBE = 4

#: Canonical columns and dtypes of every ingested catalog.
CANONICAL_COLUMNS = {
    "name": object,
    "ra": np.float64,
    "dec": np.float64,
    "ra_err": np.float32,
    "dec_err": np.float32,
    "flux_int": np.float64,
    "flux_int_err": np.float32,
    "flux_peak": np.float64,
    "flux_peak_err": np.float32,
    "maj": np.float32,
    "min": np.float32,
    "pa": np.float32,
    "resolved": np.bool_,
    "rms": np.float32,
    "flag": np.int32,
}


@dataclass(frozen=True)
class SurveySpec:
    """What the store needs to know about a survey.

    Parameters
    ----------
    name : str
        Lower-case key (``"nvss"``).
    frequency : float
        Reference frequency, Hz.
    beam_arcsec : float
        Resolution (FWHM), arcsec.
    """

    name: str
    frequency: float
    beam_arcsec: float


SURVEYS = {
    "nvss": SurveySpec("nvss", 1.4e9, 45.0),
    "first": SurveySpec("first", 1.4e9, 5.4),
    "vlass": SurveySpec("vlass", 3.0e9, 2.5),
    "racs": SurveySpec("racs", 887.5e6, 25.0),
}


def read_table(path) -> pd.DataFrame:
    """Read a FITS, VOTable, CSV/TSV or Parquet table into a DataFrame.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    FileFormatError
        When the file cannot be parsed.
    """
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith((".fits", ".fit", ".fits.gz", ".fz")):
            from astropy.table import Table  # deferred: astropy is heavy

            table = Table.read(path, format="fits")
            for col in table.colnames:  # multidimensional columns cannot go to pandas
                if table[col].ndim > 1:
                    table.remove_column(col)
            df = table.to_pandas()
            for col in df.columns:
                if df[col].dtype == object:
                    df[col] = df[col].map(
                        lambda v: v.decode() if isinstance(v, bytes) else v
                    )
            return df
        if suffix.endswith((".xml", ".vot", ".votable")):
            from astropy.table import Table  # deferred: astropy is heavy

            return Table.read(path, format="votable").to_pandas()
        if suffix.endswith(".parquet"):
            return pd.read_parquet(path)
        if suffix.endswith((".tsv", ".tab")):
            return pd.read_csv(path, sep="\t", comment="#")
        return pd.read_csv(path, comment="#", skipinitialspace=True)
    except FileNotFoundError as exc:
        raise FileFormatError(path, "no such file") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise FileFormatError(path, f"cannot read the table: {exc}") from exc


def _col(df, names, path, *, required=True):
    """Return the first column of ``df`` among ``names`` (case-insensitive)."""
    lower = {c.lower().strip(): c for c in df.columns}
    for n in names:
        if n.lower() in lower:
            return df[lower[n.lower()]]
    if required:
        raise FileFormatError(
            path, f"missing column (tried {', '.join(names)})", field=names[0]
        )
    return None


def _num(series, n, path=None, field=None, *, fill=np.nan):
    """Numeric array of a column (masked/blank → ``fill``)."""
    if series is None:
        return np.full(n, fill)
    out = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return out


def _sexagesimal(ra, dec, path):
    """Degrees from "h m s" / "d m s" strings (or pass decimal degrees through)."""
    ra_num = pd.to_numeric(ra, errors="coerce")
    dec_num = pd.to_numeric(dec, errors="coerce")
    if ra_num.notna().all() and dec_num.notna().all():
        return ra_num.to_numpy(float), dec_num.to_numpy(float)
    from astropy.coordinates import Angle  # deferred: astropy is heavy

    try:
        ra_deg = Angle(ra.astype(str).str.strip().to_numpy(), unit="hourangle").deg
        dec_deg = Angle(dec.astype(str).str.strip().to_numpy(), unit="deg").deg
    except ValueError as exc:
        raise FileFormatError(
            path, f"cannot parse sexagesimal positions: {exc}", field="RAJ2000"
        ) from exc
    return np.asarray(ra_deg, float), np.asarray(dec_deg, float)


def _finish(d, path):
    df = pd.DataFrame(d)
    for col, dtype in CANONICAL_COLUMNS.items():
        if col not in df:
            df[col] = (
                np.nan
                if dtype not in (object, np.bool_, np.int32)
                else ("" if dtype is object else 0)
            )
        df[col] = df[col].astype(dtype) if dtype is not object else df[col].astype(str)
    df = df[list(CANONICAL_COLUMNS)].reset_index(drop=True)
    try:
        return check_positions(df, what="catalog")
    except ConfigurationError as exc:
        raise FileFormatError(path, str(exc)) from None


def check_positions(table, *, what="table", ra_range=(-180.0, 360.0)):
    """Refuse rows a catalog cannot hold; wrap RA into [0, 360).

    Parameters
    ----------
    table : pandas.DataFrame
        With ``ra``, ``dec`` (degrees) and ``flux_int`` (Jy).
    what : str, keyword-only
        Named in the error.
    ra_range : (float, float), keyword-only
        RAs allowed before wrapping, degrees (a published catalog's beyond
        [−180°, 360°] is a typo, not a convention).

    Returns
    -------
    pandas.DataFrame
        ``table`` with ``ra`` in [0, 360) (a copy when any was changed).

    Raises
    ------
    ConfigurationError
        Naming the column, the number of bad rows and the first: positions
        not finite numbers, Dec beyond ±90°, RA beyond ``ra_range``, fluxes
        not finite and positive.
    """
    lo, hi = ra_range
    checks = (
        (
            "ra",
            lambda v: np.isfinite(v) & (v >= lo) & (v <= hi),
            f"RA in [{lo:g}, {hi:g}] deg",
        ),
        ("dec", lambda v: np.isfinite(v) & (np.abs(v) <= 90.0), "Dec within ±90 deg"),
        ("flux_int", lambda v: np.isfinite(v) & (v > 0), "a positive flux"),
    )
    for column, ok, expected in checks:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~ok(values))
        if bad.size:
            first = table.index[bad[0]]
            raise ConfigurationError(
                f"{what}: {column}: {bad.size} row(s) not {expected} "
                f"(first: row {first}, {table[column].iloc[bad[0]]!s})"
            )
    ra = table["ra"].to_numpy(np.float64)
    if np.any((ra < 0) | (ra >= 360.0)):
        table = table.assign(ra=np.mod(ra, 360.0))
    return table


def _nvss(df, path):
    n = len(df)
    ra, dec = _sexagesimal(
        _col(df, ["RAJ2000", "_RAJ2000", "RA(2000)"], path),
        _col(df, ["DEJ2000", "_DEJ2000", "DEC(2000)"], path),
        path,
    )
    flux = _num(_col(df, ["S1.4", "S1_4", "S1.4GHz"], path), n) * 1e-3
    maj = _num(_col(df, ["MajAxis"], path, required=False), n)
    mnr = _num(_col(df, ["MinAxis"], path, required=False), n)
    lmaj = _col(df, ["l_MajAxis"], path, required=False)
    lmin = _col(df, ["l_MinAxis"], path, required=False)
    upper_maj = (
        np.zeros(n, bool)
        if lmaj is None
        else lmaj.astype(str).str.contains("<").to_numpy()
    )
    upper_min = (
        np.zeros(n, bool)
        if lmin is None
        else lmin.astype(str).str.contains("<").to_numpy()
    )
    e_ra_s = _num(_col(df, ["e_RAJ2000"], path, required=False), n)
    name = _col(df, ["NVSS", "name"], path, required=False)
    return _finish(
        {
            "name": name.astype(str).to_numpy()
            if name is not None
            else np.array([""] * n),
            "ra": ra,
            "dec": dec,
            "ra_err": e_ra_s
            * 15.0
            * np.cos(np.radians(dec)),  # s of time → arcsec on sky
            "dec_err": _num(_col(df, ["e_DEJ2000"], path, required=False), n),
            "flux_int": flux,
            "flux_int_err": _num(
                _col(df, ["e_S1.4", "e_S1_4"], path, required=False), n
            )
            * 1e-3,
            "maj": np.where(upper_maj, 0.0, maj),
            "min": np.where(upper_min, 0.0, mnr),
            "pa": _num(_col(df, ["PA"], path, required=False), n),
            "resolved": ~upper_maj & np.isfinite(maj) & (maj > 0),
            "rms": np.full(n, 0.45e-3),  # NVSS: 0.45 mJy/beam (Condon et al. 1998)
            "flag": np.zeros(n, np.int32),
        },
        path,
    )


def _first(df, path):
    n = len(df)
    fpeak = _num(_col(df, ["FPEAK"], path), n) * 1e-3
    fint = _num(_col(df, ["FINT"], path), n) * 1e-3
    rms = _num(_col(df, ["RMS"], path), n) * 1e-3
    maj = _num(_col(df, ["MAJOR", "MAJ"], path, required=False), n)
    sideprob = _num(_col(df, ["SIDEPROB"], path, required=False), n, fill=0.0)
    name = _col(df, ["FIRST", "NAME"], path, required=False)
    # White et al. (1997): sizes are significant when FINT/FPEAK exceeds the noise
    with np.errstate(invalid="ignore", divide="ignore"):
        resolved = (maj > 0) & (
            np.log(fint / fpeak) > 2.0 * np.hypot(1, 1) * rms / fpeak
        )
    return _finish(
        {
            "name": name.astype(str).to_numpy()
            if name is not None
            else np.array([""] * n),
            "ra": _num(_col(df, ["RA", "RAJ2000"], path), n),
            "dec": _num(_col(df, ["DEC", "DEJ2000"], path), n),
            "flux_peak": fpeak,
            "flux_peak_err": rms,
            "flux_int": fint,
            "flux_int_err": rms * np.sqrt(np.maximum(fint / fpeak, 1.0)),
            "maj": maj,
            "min": _num(_col(df, ["MINOR", "MIN"], path, required=False), n),
            "pa": _num(_col(df, ["PA"], path, required=False), n),
            "resolved": resolved,
            "rms": rms,
            "flag": np.where(sideprob > 0.5, FLAG_SIDELOBE, 0).astype(np.int32),
        },
        path,
    )


def _vlass(df, path):
    n = len(df)
    dup = _num(_col(df, ["Duplicate_flag"], path, required=False), n, fill=0.0)
    qual = _num(_col(df, ["Quality_flag"], path, required=False), n, fill=0.0)
    dup = np.nan_to_num(dup)
    qual = np.nan_to_num(qual)
    flag = np.where(dup >= 2, FLAG_DUPLICATE, 0) | np.where(
        np.isin(qual, (0, 4)), 0, FLAG_QUALITY
    )
    maj = _num(_col(df, ["DC_Maj"], path, required=False), n)
    name = _col(df, ["Component_name"], path, required=False)
    return _finish(
        {
            "name": name.astype(str).to_numpy()
            if name is not None
            else np.array([""] * n),
            "ra": _num(_col(df, ["RA"], path), n),
            "dec": _num(_col(df, ["DEC"], path), n),
            "ra_err": _num(_col(df, ["E_RA"], path, required=False), n),
            "dec_err": _num(_col(df, ["E_DEC"], path, required=False), n),
            "flux_int": _num(_col(df, ["Total_flux"], path), n) * 1e-3,
            "flux_int_err": _num(_col(df, ["E_Total_flux"], path, required=False), n)
            * 1e-3,
            "flux_peak": _num(_col(df, ["Peak_flux"], path, required=False), n) * 1e-3,
            "flux_peak_err": _num(_col(df, ["E_Peak_flux"], path, required=False), n)
            * 1e-3,
            "maj": maj,
            "min": _num(_col(df, ["DC_Min"], path, required=False), n),
            "pa": _num(_col(df, ["DC_PA"], path, required=False), n),
            "resolved": np.nan_to_num(maj) > 0,
            "rms": _num(_col(df, ["Isl_rms"], path, required=False), n) * 1e-3,
            "flag": flag.astype(np.int32),
        },
        path,
    )


def _racs(df, path):
    n = len(df)
    maj = _num(_col(df, ["dc_maj_axis", "dc_maj"], path, required=False), n)
    name = _col(df, ["component_name", "gaussian_id", "id"], path, required=False)
    flag = _num(_col(df, ["flag"], path, required=False), n, fill=0.0)
    return _finish(
        {
            "name": name.astype(str).to_numpy()
            if name is not None
            else np.array([""] * n),
            "ra": _num(_col(df, ["ra"], path), n),
            "dec": _num(_col(df, ["dec"], path), n),
            "ra_err": _num(_col(df, ["e_ra"], path, required=False), n),
            "dec_err": _num(_col(df, ["e_dec"], path, required=False), n),
            "flux_int": _num(
                _col(df, ["total_flux_source", "total_flux_gaussian"], path), n
            )
            * 1e-3,
            "flux_int_err": _num(
                _col(
                    df,
                    ["e_total_flux_source", "e_total_flux_gaussian"],
                    path,
                    required=False,
                ),
                n,
            )
            * 1e-3,
            "flux_peak": _num(_col(df, ["peak_flux"], path, required=False), n) * 1e-3,
            "flux_peak_err": _num(_col(df, ["e_peak_flux"], path, required=False), n)
            * 1e-3,
            "maj": maj,
            "min": _num(_col(df, ["dc_min_axis", "dc_min"], path, required=False), n),
            "pa": _num(_col(df, ["dc_pa"], path, required=False), n),
            "resolved": np.nan_to_num(maj) > 0,
            "rms": _num(_col(df, ["noise"], path, required=False), n) * 1e-3,
            "flag": np.where(np.nan_to_num(flag) != 0, FLAG_QUALITY, 0).astype(
                np.int32
            ),
        },
        path,
    )


_READERS = {"nvss": _nvss, "first": _first, "vlass": _vlass, "racs": _racs}


def to_canonical(df: pd.DataFrame, survey: str, *, path="<table>") -> pd.DataFrame:
    """Convert a table in a survey's published columns to the canonical table.

    Parameters
    ----------
    df : pandas.DataFrame
        The published table.
    survey : {"nvss", "first", "vlass", "racs"}
        Which survey's format.
    path : str, keyword-only
        Name used in error messages.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CANONICAL_COLUMNS`.

    Raises
    ------
    ConfigurationError
        For an unknown survey.
    FileFormatError
        When a required column is missing or positions are invalid.
    """
    key = survey.lower()
    if key not in _READERS:
        raise ConfigurationError(
            f"unknown survey {survey!r}; choose from {sorted(_READERS)}"
        )
    return _READERS[key](df, str(path))


def read_survey(path, survey: str) -> pd.DataFrame:
    """Read a survey's published catalog file into the canonical table.

    Parameters
    ----------
    path : str or os.PathLike
        FITS, VOTable, CSV/TSV or Parquet file.
    survey : {"nvss", "first", "vlass", "racs"}

    Returns
    -------
    pandas.DataFrame
    """
    return to_canonical(read_table(path), survey, path=str(path))
