"""Source tables to files: FITS/CSV/Parquet tables and ds9/CASA region files.

Every writer writes to a temporary name and renames it into place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError, OutputExistsError

__all__ = ["write_table", "write_ds9_regions", "write_casa_regions"]


def _target(path, overwrite):
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True")
    return path, path.with_name(path.name + ".tmp")


def write_table(table: pd.DataFrame, path, *, overwrite=False) -> Path:
    """Write a table as FITS, CSV or Parquet, chosen by the file extension.

    Parameters
    ----------
    table : pandas.DataFrame
    path : str or os.PathLike
        ``.fits``, ``.csv`` or ``.parquet``.
    overwrite : bool, keyword-only

    Returns
    -------
    pathlib.Path
    """
    path, tmp = _target(path, overwrite)
    ext = path.suffix.lower()
    if ext in (".fits", ".fit"):
        from astropy.table import Table  # deferred: astropy is heavy

        Table.from_pandas(table).write(tmp, format="fits", overwrite=True)
    elif ext == ".csv":
        table.to_csv(tmp, index=False)
    elif ext == ".parquet":
        table.to_parquet(tmp, index=False)
    else:
        raise ConfigurationError(
            f"unknown table format {ext!r} for {path}: use .fits, .csv or .parquet"
        )
    os.replace(tmp, path)
    return path


def _shape(table):
    maj = table["maj"].to_numpy(float) if "maj" in table else np.full(len(table), 10.0)
    mnr = table["min"].to_numpy(float) if "min" in table else maj
    pa = table["pa"].to_numpy(float) if "pa" in table else np.zeros(len(table))
    return maj, mnr, np.nan_to_num(pa)


def write_ds9_regions(
    table: pd.DataFrame, path, *, overwrite=False, color="green"
) -> Path:
    """Write fitted ellipses (semi-axes = FWHM/2) as a ds9 region file.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ra``, ``dec`` (deg), ``maj``, ``min`` (arcsec FWHM), ``pa`` (deg E of N).
    path : str or os.PathLike
    overwrite : bool, keyword-only
    color : str, keyword-only

    Notes
    -----
    ds9 measures ellipse angles counter-clockwise from the image x (west) axis, so
    the angle written is PA + 90°.
    """
    path, tmp = _target(path, overwrite)
    maj, mnr, pa = _shape(table)
    lines = [
        "# Region file format: DS9 version 4.1",
        f'global color={color} font="helvetica 10 normal" select=1',
        "fk5",
    ]
    for i, (r, d) in enumerate(zip(table["ra"].to_numpy(), table["dec"].to_numpy())):
        lines.append(
            f'ellipse({r:.7f},{d:.7f},{maj[i] / 2:.3f}",{mnr[i] / 2:.3f}",'
            f"{(pa[i] + 90) % 360:.2f}) # text={{{i}}}"
        )
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def write_casa_regions(table: pd.DataFrame, path, *, overwrite=False) -> Path:
    """Write fitted ellipses as a CASA region (CRTF) file.

    Semi-axes are FWHM/2; the PA is east of north.
    """
    path, tmp = _target(path, overwrite)
    maj, mnr, pa = _shape(table)
    lines = ["#CRTFv0 CASA Region Text Format version 0"]
    for i, (r, d) in enumerate(zip(table["ra"].to_numpy(), table["dec"].to_numpy())):
        lines.append(
            f"ellipse [[{r:.7f}deg, {d:.7f}deg], [{maj[i] / 2:.3f}arcsec, "
            f"{mnr[i] / 2:.3f}arcsec], {pa[i]:.2f}deg] coord=J2000, label='{i}'"
        )
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path
