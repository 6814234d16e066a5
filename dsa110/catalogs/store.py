"""A local catalog store indexed for cone searches.

Layout: ``ROOT/<survey>/band=<k>.parquet``, one Parquet file per declination band
of :data:`BAND_DEG` degrees (band ``k`` holds ``-90 + k·BAND_DEG ≤ dec <
-90 + (k+1)·BAND_DEG``), each sorted by RA, plus ``ROOT/<survey>/meta.json``. A
cone search reads only the bands the cone touches, selects the RA window in
each band with a binary search (wrapping at 0/360°, widened by 1/cos δ), and
keeps the exact great-circle matches. Bands read once are cached in memory.

Declination bands were chosen over HEALPix for the index: they need only NumPy
and Parquet, and a binary search in RA makes the candidate set nearly the cone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from dsa110.catalogs.surveys import (
    CANONICAL_COLUMNS,
    SURVEYS,
    check_positions,
    read_survey,
)
from dsa110.errors import ConfigurationError, DSA110Error, OutputExistsError

__all__ = ["CatalogStore", "BAND_DEG", "angular_separation", "CatalogNotFoundError"]

#: Width of the declination bands, degrees.
BAND_DEG = 1.0

#: Rows per Parquet row group: a cone reads ra/dec of its bands, then only the
#: row groups holding matches.
ROW_GROUP = 2048


#: A survey's name in the store: one plain folder name.
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


class CatalogNotFoundError(DSA110Error, KeyError):
    """A survey is not in the store."""


def angular_separation(ra1, dec1, ra2, dec2):
    """Great-circle separation (degrees) by the haversine formula.

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : array_like of float
        Degrees; broadcast together.

    Returns
    -------
    numpy.ndarray of float64
    """
    ra1, dec1, ra2, dec2 = (
        np.radians(np.asarray(a, float)) for a in (ra1, dec1, ra2, dec2)
    )
    h = (
        np.sin((dec2 - dec1) / 2) ** 2
        + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    )
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def _band(dec):
    return np.clip(
        np.floor((np.asarray(dec) + 90.0) / BAND_DEG), 0, int(180 / BAND_DEG) - 1
    ).astype(int)


class CatalogStore:
    """Catalogs on disk, partitioned by declination band, with cone searches.

    Parameters
    ----------
    root : str or os.PathLike
        Store directory (created on first write).
    """

    def __init__(self, root):
        self.root = Path(root)
        self._cache: dict[tuple[str, int], pd.DataFrame] = {}

    # -- writing ---------------------------------------------------------------
    def add(
        self, table: pd.DataFrame, survey: str, *, overwrite=False, meta=None
    ) -> Path:
        """Store a canonical table as ``survey``.

        Parameters
        ----------
        table : pandas.DataFrame
            Canonical columns (:data:`~dsa110.catalogs.surveys.CANONICAL_COLUMNS`).
        survey : str
            Name in the store (lower case).
        overwrite : bool, keyword-only
            Replace an existing survey.
        meta : dict, keyword-only
            Extra metadata for ``meta.json``.

        Returns
        -------
        pathlib.Path
            The survey's directory.

        Raises
        ------
        OutputExistsError
            When the survey exists and ``overwrite`` is False.
        ConfigurationError
            When the name is not a plain name (letters, digits, ``_.-``), columns
            are missing, or values are not usable (see :func:`check_positions`).
        """
        survey = survey.lower()
        if not _NAME.fullmatch(survey):
            raise ConfigurationError(
                f"survey name {survey!r}: expected letters, digits, '_', '.' or '-' "
                "(it names a folder of the store)"
            )
        missing = [c for c in ("ra", "dec", "flux_int") if c not in table]
        if missing:
            raise ConfigurationError(f"table for {survey!r} lacks columns {missing}")
        # any finite RA is wrapped here: only a file's beyond ±360 is a typo
        table = check_positions(
            table, what=f"table for {survey!r}", ra_range=(-np.inf, np.inf)
        )
        dest = self.root / survey
        if dest.exists() and not overwrite:
            raise OutputExistsError(f"{dest} exists; pass overwrite=True to replace it")
        tmp = self.root / f".{survey}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        table = table.reset_index(drop=True)
        bands = _band(table["dec"].to_numpy())
        import pyarrow as pa  # deferred: pyarrow is heavy
        import pyarrow.parquet as pq  # deferred: pyarrow is heavy

        for b in np.unique(bands):
            part = table[bands == b].sort_values("ra", kind="stable")
            pq.write_table(
                pa.Table.from_pandas(part, preserve_index=False),
                tmp / f"band={b}.parquet",
                row_group_size=ROW_GROUP,
            )
        info = {
            "survey": survey,
            "n_sources": int(len(table)),
            "band_deg": BAND_DEG,
            "columns": list(table.columns),
        }
        if survey in SURVEYS:
            info.update(
                frequency=SURVEYS[survey].frequency,
                beam_arcsec=SURVEYS[survey].beam_arcsec,
            )
        info.update(meta or {})
        (tmp / "meta.json").write_text(json.dumps(info, indent=1))
        if dest.exists():
            old = self.root / f".{survey}.old-{os.getpid()}"
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
        self._cache = {k: v for k, v in self._cache.items() if k[0] != survey}
        return dest

    def ingest(self, path, survey: str, *, overwrite=False, name=None) -> Path:
        """Read a survey's published file and store it.

        Parameters
        ----------
        path : str or os.PathLike
            The catalog file (FITS, VOTable, CSV, Parquet).
        survey : {"nvss", "first", "vlass", "racs"}
            The file's format.
        overwrite : bool, keyword-only
        name : str, keyword-only
            Store name (defaults to ``survey``).

        Returns
        -------
        pathlib.Path
        """
        table = read_survey(path, survey)
        return self.add(
            table,
            name or survey,
            overwrite=overwrite,
            meta={"source_file": str(path), "format": survey},
        )

    # -- reading ---------------------------------------------------------------
    def surveys(self) -> list[str]:
        """Names of the stored surveys."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "meta.json").exists())

    def meta(self, survey: str) -> dict:
        """Return the ``meta.json`` of a survey."""
        path = self.root / survey.lower() / "meta.json"
        if not path.exists():
            raise CatalogNotFoundError(f"no survey {survey!r} in {self.root}")
        return json.loads(path.read_text())

    def _read_band(self, survey, b):
        """(file, ra, dec, row-group offsets, row-group cache) of a band, or None."""
        key = (survey, b)
        if key not in self._cache:
            import pyarrow.parquet as pq  # deferred: pyarrow is heavy

            path = self.root / survey / f"band={b}.parquet"
            if path.exists():
                pf = pq.ParquetFile(path, memory_map=True)
                idx = pf.read(columns=["ra", "dec"])
                sizes = [
                    pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)
                ]
                offsets = np.r_[0, np.cumsum(sizes)]
                self._cache[key] = (
                    pf,
                    idx.column("ra").to_numpy(),
                    idx.column("dec").to_numpy(),
                    offsets,
                    {},
                )
            else:
                self._cache[key] = None
        return self._cache[key]

    @staticmethod
    def _take(entry, rows, cols):
        """Rows (sorted indices into the band) as a pyarrow table."""
        import pyarrow as pa  # deferred: pyarrow is heavy

        pf, _, _, offsets, groups = entry
        rg = np.searchsorted(offsets, rows, side="right") - 1
        parts = []
        for g in np.unique(rg):
            if g not in groups:
                groups[g] = pf.read_row_group(int(g))
            sel = rows[rg == g] - offsets[g]
            t = groups[g].take(pa.array(sel))
            parts.append(t if cols is None else t.select(cols))
        return pa.concat_tables(parts)

    def read(self, survey: str) -> pd.DataFrame:
        """Return the whole table of a survey."""
        info = self.meta(survey)
        parts = sorted((self.root / survey.lower()).glob("band=*.parquet"))
        if not parts:
            return pd.DataFrame({c: [] for c in info["columns"]})
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)

    def cone_search(
        self, ra, dec, radius, *, surveys=None, columns=None
    ) -> pd.DataFrame:
        """Return the sources within ``radius`` degrees of ``(ra, dec)``.

        Parameters
        ----------
        ra, dec : float
            Centre, degrees.
        radius : float
            Radius, degrees.
        surveys : list of str, keyword-only
            Which surveys (default: all).
        columns : list of str, keyword-only
            Columns to return (default: all); ``survey`` and ``separation``
            (degrees) are always added.

        Returns
        -------
        pandas.DataFrame
            Sorted by separation.
        """
        if not (np.isfinite(ra) and -90 <= dec <= 90 and radius >= 0):
            # (NaN fails every comparison: it used to return an empty table)
            raise ConfigurationError(
                f"bad cone: ra={ra}, dec={dec}, radius={radius} (finite RA, "
                "|Dec| <= 90, radius >= 0)"
            )
        if surveys is None and not self.surveys():
            raise CatalogNotFoundError(f"no survey in the store {self.root}")
        names = self.surveys() if surveys is None else [s.lower() for s in surveys]
        for s in names:
            if not (self.root / s / "meta.json").exists():
                raise CatalogNotFoundError(f"no survey {s!r} in {self.root}")
        cols = None if columns is None else list(dict.fromkeys(["ra", "dec", *columns]))
        # the index needs ra/dec of every row of a band; other columns are read lazily
        dlo, dhi = max(dec - radius, -90.0), min(dec + radius, 90.0)
        bands = range(int(_band(dlo)), int(_band(dhi)) + 1)
        cosd = np.cos(np.radians(max(abs(dlo), abs(dhi))))
        full = (
            dhi >= 90.0 or dlo <= -90.0 or cosd <= 0 or radius / max(cosd, 1e-12) >= 180
        )
        half = (
            180.0
            if full
            else np.degrees(np.arcsin(min(np.sin(np.radians(radius)) / cosd, 1.0)))
            + 1e-9
        )
        import pyarrow as pa  # deferred: pyarrow is heavy

        out = []
        for s in names:
            for b in bands:
                entry = self._read_band(s, b)
                if entry is None:
                    continue
                r, d = entry[1], entry[2]
                if half >= 180.0:
                    ranges = [(0, r.size)]
                else:
                    lo, hi = (ra - half) % 360.0, (ra + half) % 360.0
                    if lo <= hi:
                        ranges = [tuple(np.searchsorted(r, [lo, hi]))]
                    else:
                        ranges = [
                            (np.searchsorted(r, lo), r.size),
                            (0, np.searchsorted(r, hi)),
                        ]
                for i0, i1 in ranges:
                    if i1 <= i0:
                        continue
                    sep = angular_separation(ra, dec, r[i0:i1], d[i0:i1])
                    keep = np.flatnonzero(sep <= radius)
                    if keep.size:
                        part = self._take(entry, keep + i0, cols)
                        part = part.append_column("survey", pa.array([s] * keep.size))
                        part = part.append_column("separation", pa.array(sep[keep]))
                        out.append(part)
        if not out:
            base = list(CANONICAL_COLUMNS) if cols is None else cols
            return pd.DataFrame({c: [] for c in [*base, "survey", "separation"]})
        table = pa.concat_tables(out, promote_options="default").sort_by("separation")
        return table.to_pandas()
