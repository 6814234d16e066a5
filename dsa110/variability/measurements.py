"""The measurement-table contract between photometry and variability.

Forced photometry (:mod:`dsa110.photometry`) produces one row per source per image;
this module declares the columns that :mod:`dsa110.variability` reads, once, as
typed code, and validates tables at every boundary (files read by the CLI, tables
handed over by the pipeline).

The table is a :class:`pandas.DataFrame` (or a Parquet file holding one):

============== ========= ======== ==================================================
column         kind      required meaning
============== ========= ======== ==================================================
source_id      int/str   yes      catalogue identifier of the source measured
image_id       int/str   yes      identifier of the image (tile, epoch) measured in
time           float     yes      epoch of the image, MJD (UTC), days
flux           float     yes      flux density (Jy), forced fit (may be negative)
flux_err       float     yes      1σ flux error (Jy), > 0 and finite
ra             float     yes      source right ascension (ICRS), degrees
dec            float     yes      source declination (ICRS), degrees
snr            float     yes      signal-to-noise ratio of the measurement
is_reference   bool      no       source may serve as a flux reference (default False)
qa_ok          bool      no       the image passed epoch QA (default True)
image_ra       float     no       image (field) centre right ascension, degrees
image_dec      float     no       image (field) centre declination, degrees
============== ========= ======== ==================================================

Rows with ``qa_ok`` False are kept in light curves (flagged) but excluded from the
normalisation and the metrics. A non-finite ``flux`` or ``flux_err`` is a contract
violation unless its row has ``qa_ok`` False: photometry must drop such rows or flag
them (forced photometry gives NaN where a position is blanked).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsa110.errors import FileFormatError

__all__ = [
    "MeasurementColumn",
    "MEASUREMENT_COLUMNS",
    "REQUIRED_COLUMNS",
    "MeasurementTableError",
    "validate_measurements",
    "read_measurements",
]


class MeasurementTableError(FileFormatError):
    """A measurement table violates the contract (missing or ill-typed column)."""


@dataclass(frozen=True)
class MeasurementColumn:
    """One column of the measurement table.

    Attributes
    ----------
    name : str
        Column name.
    kind : str
        ``"id"`` (integer or string), ``"float"`` or ``"bool"``.
    required : bool
        Whether the column must be present.
    unit : str
        Physical unit ("" for none).
    description : str
        What the column holds.
    """

    name: str
    kind: str
    required: bool
    unit: str
    description: str


#: Every column of the measurement table, declared once.
MEASUREMENT_COLUMNS = (
    MeasurementColumn(
        "source_id", "id", True, "", "catalogue identifier of the source"
    ),
    MeasurementColumn("image_id", "id", True, "", "identifier of the image (epoch)"),
    MeasurementColumn("time", "float", True, "d", "image epoch, MJD (UTC)"),
    MeasurementColumn("flux", "float", True, "Jy", "forced flux density"),
    MeasurementColumn("flux_err", "float", True, "Jy", "1-sigma flux error"),
    MeasurementColumn("ra", "float", True, "deg", "right ascension (ICRS)"),
    MeasurementColumn("dec", "float", True, "deg", "declination (ICRS)"),
    MeasurementColumn("snr", "float", True, "", "signal-to-noise ratio"),
    MeasurementColumn("is_reference", "bool", False, "", "usable as flux reference"),
    MeasurementColumn("qa_ok", "bool", False, "", "image passed epoch QA"),
    MeasurementColumn("image_ra", "float", False, "deg", "image centre RA"),
    MeasurementColumn("image_dec", "float", False, "deg", "image centre Dec"),
)

#: Names of the required columns.
REQUIRED_COLUMNS = tuple(c.name for c in MEASUREMENT_COLUMNS if c.required)

_DEFAULTS = {"is_reference": False, "qa_ok": True}

#: Columns that may be non-finite in a row flagged ``qa_ok`` False.
_FLAGGABLE = ("flux", "flux_err")


def _kind_ok(series: pd.Series, kind: str) -> bool:
    dtype = series.dtype
    if kind == "float":
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(
            dtype
        )
    if kind == "bool":
        return pd.api.types.is_bool_dtype(dtype)
    if kind == "id":
        return (
            pd.api.types.is_integer_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype)
        )
    raise AssertionError(kind)  # pragma: no cover - declared kinds only


def validate_measurements(table, *, source="measurement table") -> pd.DataFrame:
    """Check a measurement table against the contract and return a normalised copy.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (source, image) measurement, columns as in
        :data:`MEASUREMENT_COLUMNS`.
    source : str, keyword-only
        Name of the file or object, for error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with float columns as float64, optional columns filled with their
        defaults (``is_reference`` False, ``qa_ok`` True) and a fresh index.

    Raises
    ------
    MeasurementTableError
        When a required column is missing, a column has the wrong type, a flux
        error is not positive and finite, a required float is not finite (a
        flux and its error may be in a row with ``qa_ok`` False), or a
        (source_id, image_id) pair occurs twice. The message names the file and
        the column.
    """
    if not isinstance(table, pd.DataFrame):
        raise MeasurementTableError(
            source, f"expected a pandas DataFrame, got {type(table).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise MeasurementTableError(
            source,
            f"missing required column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}",
            field=missing[0],
        )
    out = table.copy()
    # flagged rows may carry what could not be measured (NaN flux and error)
    flagged = (
        ~out["qa_ok"].astype(bool).to_numpy()
        if "qa_ok" in out and pd.api.types.is_bool_dtype(out["qa_ok"].dtype)
        else np.zeros(len(out), bool)
    )
    for col in MEASUREMENT_COLUMNS:
        if col.name not in out.columns:
            if col.name in _DEFAULTS:
                out[col.name] = _DEFAULTS[col.name]
            continue
        series = out[col.name]
        if not _kind_ok(series, col.kind):
            raise MeasurementTableError(
                source,
                f"column {col.name!r} has dtype {series.dtype}, expected {col.kind}",
                field=col.name,
            )
        if col.kind == "float":
            out[col.name] = series.astype(np.float64)
            finite = np.isfinite(out[col.name].to_numpy())
            if col.name in _FLAGGABLE:
                finite |= flagged
            if col.required and not np.all(finite):
                bad = int(np.sum(~finite))
                raise MeasurementTableError(
                    source,
                    f"column {col.name!r} has {bad} non-finite value(s)",
                    field=col.name,
                )
        if col.kind == "id" and series.isna().any():
            raise MeasurementTableError(
                source, f"column {col.name!r} has missing values", field=col.name
            )
    err = out["flux_err"].to_numpy()
    not_positive = ~(err > 0) & ~flagged
    if np.any(not_positive):
        raise MeasurementTableError(
            source,
            f"{int(np.sum(not_positive))} flux_err value(s) are not positive",
            field="flux_err",
        )
    dup = out.duplicated(["source_id", "image_id"])
    if dup.any():
        first = out.loc[dup, ["source_id", "image_id"]].iloc[0].tolist()
        raise MeasurementTableError(
            source,
            f"{int(dup.sum())} duplicate (source_id, image_id) row(s), e.g. {first}",
            field="source_id",
        )
    return out.reset_index(drop=True)


def read_measurements(paths) -> pd.DataFrame:
    """Read and validate one or more Parquet (or CSV) measurement files.

    Parameters
    ----------
    paths : str or path-like or sequence of them
        Files written by forced photometry. ``.csv`` files are read with pandas,
        everything else as Parquet.

    Returns
    -------
    pandas.DataFrame
        The validated rows of all files, concatenated.

    Raises
    ------
    MeasurementTableError
        When a file cannot be read or violates the contract (naming the file).
    """
    from pathlib import Path

    if isinstance(paths, (str, Path)):
        paths = [paths]
    tables = []
    for path in paths:
        path = Path(path)
        try:
            if path.suffix.lower() == ".csv":
                df = pd.read_csv(path)
            else:
                df = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise MeasurementTableError(path, f"cannot read: {exc}") from exc
        tables.append(validate_measurements(df, source=str(path)))
    if not tables:
        raise MeasurementTableError("<none>", "no measurement files given")
    return validate_measurements(
        pd.concat(tables, ignore_index=True), source=", ".join(map(str, paths))
    )
