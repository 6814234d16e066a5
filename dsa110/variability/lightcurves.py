"""Light curves: per-source, time-ordered measurements as xarray, Parquet and PNG.

A light-curve *table* is a normalised measurement table
(:meth:`dsa110.variability.Normaliser.normalise`): one row per source and image
with ``flux``/``flux_err`` (raw), ``flux_norm``/``flux_norm_err`` (normalised),
``image_id``, ``qa_ok`` and ``norm_ok``. :class:`LightCurveStore` appends such
tables to a directory of Parquet files and reads back one source with a
predicate push-down filter, so memory never holds more than one update.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dsa110.errors import DSA110Error

__all__ = [
    "LIGHTCURVE_COLUMNS",
    "SourceNotFoundError",
    "LightCurveStore",
    "to_xarray",
    "plot_lightcurve",
]

#: Columns kept for every light-curve row.
LIGHTCURVE_COLUMNS = (
    "source_id",
    "image_id",
    "time",
    "flux",
    "flux_err",
    "flux_norm",
    "flux_norm_err",
    "correction",
    "correction_err",
    "snr",
    "ra",
    "dec",
    "qa_ok",
    "norm_ok",
    "is_reference",
)


class SourceNotFoundError(DSA110Error, KeyError):
    """No light curve is stored for the requested source."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def to_xarray(table, source_id) -> xr.Dataset:
    """Return one source's light curve as an xarray Dataset.

    Parameters
    ----------
    table : pandas.DataFrame
        A light-curve table (columns :data:`LIGHTCURVE_COLUMNS`).
    source_id : int or str
        The source.

    Returns
    -------
    xarray.Dataset
        Dim ``time`` (MJD, ascending). Variables ``flux``, ``flux_err``,
        ``flux_norm``, ``flux_norm_err``, ``correction``, ``correction_err``,
        ``snr`` (float64, Jy where a flux), ``image_id``, ``qa_ok``, ``norm_ok``
        and ``flagged`` (``~(qa_ok & norm_ok)``); attribute ``source_id``.

    Raises
    ------
    SourceNotFoundError
        When the table has no row for ``source_id``.
    """
    rows = table[table["source_id"] == source_id].sort_values("time", kind="stable")
    if rows.empty:
        raise SourceNotFoundError(f"no light curve for source {source_id!r}")
    data = {}
    for col in LIGHTCURVE_COLUMNS[3:11]:
        if col in rows:
            data[col] = ("time", rows[col].to_numpy(np.float64))
    data["image_id"] = ("time", rows["image_id"].to_numpy())
    for col in ("qa_ok", "norm_ok"):
        data[col] = ("time", rows[col].to_numpy(bool))
    data["flagged"] = ("time", ~(data["qa_ok"][1] & data["norm_ok"][1]))
    ds = xr.Dataset(data, coords={"time": rows["time"].to_numpy(np.float64)})
    ds["time"].attrs.update(units="d", long_name="MJD (UTC)")
    for col in ("flux", "flux_err", "flux_norm", "flux_norm_err"):
        if col in ds:
            ds[col].attrs["units"] = "Jy"
    ds.attrs["source_id"] = source_id if np.isscalar(source_id) else str(source_id)
    if "ra" in rows:
        ds.attrs["ra_deg"] = float(rows["ra"].median())
        ds.attrs["dec_deg"] = float(rows["dec"].median())
    return ds


def plot_lightcurve(lightcurve, path, *, title=None, morphology=None):
    """Write a PNG of a light curve: normalised flux, errors, flagged epochs.

    Parameters
    ----------
    lightcurve : xarray.Dataset
        As returned by :func:`to_xarray`.
    path : str or path-like
        Output PNG (written to a temporary name and renamed into place).
    title : str, keyword-only, optional
        Plot title (default: the source id).
    morphology : Morphology, keyword-only, optional
        When given, the event span is shaded and the label shown.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    # deferred: matplotlib is slow to import and only the plot needs it
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    ds = lightcurve
    t = ds["time"].to_numpy()
    flagged = ds["flagged"].to_numpy()
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.add_subplot()
    good = ~flagged
    ax.errorbar(
        t[good],
        ds["flux_norm"].to_numpy()[good] * 1e3,
        yerr=ds["flux_norm_err"].to_numpy()[good] * 1e3,
        fmt="o",
        ms=3,
        color="C0",
        label="normalised",
    )
    if flagged.any():
        ax.errorbar(
            t[flagged],
            ds["flux_norm"].to_numpy()[flagged] * 1e3,
            yerr=ds["flux_norm_err"].to_numpy()[flagged] * 1e3,
            fmt="x",
            ms=5,
            color="C3",
            label="flagged",
        )
    ax.plot(t, ds["flux"].to_numpy() * 1e3, ".", ms=2, color="0.6", label="raw")
    if morphology is not None and morphology.start >= 0:
        ax.axvspan(
            t[morphology.start],
            t[morphology.stop - 1],
            color="C1",
            alpha=0.2,
            label=morphology.label,
        )
    ax.set_xlabel("MJD")
    ax.set_ylabel("flux density (mJy)")
    ax.set_title(title or f"source {ds.attrs.get('source_id')}")
    ax.legend(loc="best", fontsize="small")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


class LightCurveStore:
    """A directory of Parquet parts holding light-curve rows, appended to.

    Parameters
    ----------
    directory : str or path-like
        Where the parts live (created on first append).
    """

    def __init__(self, directory):
        self.directory = Path(directory)

    def parts(self):
        """List of pathlib.Path: the Parquet parts, oldest first."""
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("part-*.parquet"))

    def append(self, table) -> Path:
        """Write rows as a new part (temporary name, then rename).

        Parameters
        ----------
        table : pandas.DataFrame
            Rows with (at least) :data:`LIGHTCURVE_COLUMNS`.

        Returns
        -------
        pathlib.Path
            The part written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        n = len(self.parts())
        path = self.directory / f"part-{n:06d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.directory / f".{path.name}.tmp"
        cols = [c for c in LIGHTCURVE_COLUMNS if c in table.columns]
        table[cols].to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path

    def read(self, *, source_ids=None, columns=None) -> pd.DataFrame:
        """Read rows back, optionally for some sources only.

        Parameters
        ----------
        source_ids : sequence, keyword-only, optional
            Sources to read (pushed down to the Parquet reader).
        columns : sequence of str, keyword-only, optional
            Columns to read.

        Returns
        -------
        pandas.DataFrame
            The rows, sorted by source and time.
        """
        # deferred: pyarrow.dataset is only needed for reading back
        import pyarrow.dataset as pads

        parts = self.parts()
        if not parts:
            return pd.DataFrame(columns=list(columns or LIGHTCURVE_COLUMNS))
        dataset = pads.dataset([str(p) for p in parts], format="parquet")
        filt = None
        if source_ids is not None:
            ids = list(source_ids)
            field = dataset.schema.field("source_id")
            if _is_string_type(field.type):
                ids = [str(i) for i in ids]
            else:
                ids = [int(i) for i in ids if _is_int(i)]
            filt = pads.field("source_id").isin(ids)
        table = dataset.to_table(filter=filt, columns=columns).to_pandas()
        sort = [c for c in ("source_id", "time") if c in table.columns]
        return table.sort_values(sort, kind="stable").reset_index(drop=True)

    def lightcurve(self, source_id) -> xr.Dataset:
        """Return one source's light curve.

        Parameters
        ----------
        source_id : int or str
            The source (a string of digits also matches an integer id).

        Returns
        -------
        xarray.Dataset
            As from :func:`to_xarray`.

        Raises
        ------
        SourceNotFoundError
            When the store holds nothing for the source.
        """
        rows = self.read(source_ids=[source_id])
        if rows.empty:
            raise SourceNotFoundError(
                f"no light curve for source {source_id!r} in {self.directory}"
            )
        return to_xarray(rows, rows["source_id"].iloc[0])


def _is_string_type(arrow_type) -> bool:
    """Whether an Arrow type is a string type."""
    import pyarrow as pa

    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _is_int(value) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True
