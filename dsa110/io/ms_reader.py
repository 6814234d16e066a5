"""Read a Measurement Set back into the visibility dataset (lazily, via dask-ms).

Supported: MSv2 tables whose rows, per spectral window, form a regular
``time × baseline`` grid (every integration has the same baselines), one
polarization setup, and spectral windows that tile one band without overlap.
That covers MSs from :func:`dsa110.io.write_ms` (one window or one per subband,
one field or one per integration), pyuvdata's ``write_ms`` and CASA's
``importuvfits``/``concat`` of such data. Anything else raises
:class:`UnsupportedMSError` saying what is irregular.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dsa110 import schema
from dsa110.errors import FileFormatError
from dsa110.io.ms_subtables import CASA_CORR_TYPES, MJD_UNIX_OFFSET_S

__all__ = ["read_ms", "UnsupportedMSError"]

_CORR_LABELS = {v: k for k, v in CASA_CORR_TYPES.items()}
_ATTRS_KEYWORD = "DSA110_ATTRS"
_CHUNK_BYTES = 64 * 2**20


class UnsupportedMSError(FileFormatError):
    """A valid Measurement Set whose layout :func:`read_ms` cannot represent."""


def _grid(path, time, a1, a2):
    """Check that rows form a time-major ``(time, baseline)`` grid.

    Returns ``(n_time, n_bl)`` or None when the row order is not time-major.
    """
    ut = np.unique(time)
    n_time = ut.size
    if time.size % n_time:
        raise UnsupportedMSError(
            path, "integrations have different numbers of baselines", field="TIME"
        )
    n_bl = time.size // n_time
    t2 = time.reshape(n_time, n_bl)
    if not (np.all(t2 == t2[:, :1]) and np.all(np.diff(t2[:, 0]) > 0)):
        return None
    b1, b2 = a1.reshape(n_time, n_bl), a2.reshape(n_time, n_bl)
    if not (np.all(b1 == b1[:1]) and np.all(b2 == b2[:1])):
        return None
    return n_time, n_bl


def read_ms(path, *, chunks=None, data_column: str = "DATA"):
    """Read a Measurement Set as a lazy visibility dataset.

    Parameters
    ----------
    path : str or os.PathLike
        The Measurement Set.
    chunks : dict, optional
        ``{"time": n}`` integrations per chunk (default: about 64 MB of data per
        chunk and spectral window).
    data_column : str
        Column read as ``VISIBILITY`` (``"DATA"``, ``"CORRECTED_DATA"``...).

    Returns
    -------
    xarray.Dataset
        Following :mod:`dsa110.schema`, dask-backed; ``VISIBILITY`` is
        ``conj(DATA)`` and ``UVW`` is ``−UVW`` (see :mod:`dsa110.io.ms`).

    Raises
    ------
    FileFormatError
        If ``path`` is not a Measurement Set or lacks a needed column.
    UnsupportedMSError
        If its layout is irregular (see the module notes).
    """
    import dask.array as da  # deferred: keep ``import dsa110.io`` light
    import xarray as xr
    from casacore import tables
    from daskms import xds_from_table

    path = str(path)
    if not Path(path).is_dir() or not tables.tableexists(path):
        raise FileFormatError(path, "not a casacore table (Measurement Set)")
    with tables.table(path, ack=False) as t:
        cols = set(t.colnames())
        for need in ("TIME", "ANTENNA1", "ANTENNA2", "UVW", "FLAG", data_column):
            if need not in cols:
                raise FileFormatError(path, "missing column", field=need)
        if t.nrows() == 0:
            raise UnsupportedMSError(path, "MAIN table has no rows")
        time = t.getcol("TIME")
        a1 = t.getcol("ANTENNA1")
        a2 = t.getcol("ANTENNA2")
        ddid = t.getcol("DATA_DESC_ID")
        field = t.getcol("FIELD_ID")
        interval = t.getcol("INTERVAL")
        uvw_all = t.getcol("UVW")
        flag_row = (
            t.getcol("FLAG_ROW") if "FLAG_ROW" in cols else np.zeros(time.size, bool)
        )
        has_wspec = "WEIGHT_SPECTRUM" in cols and t.iscelldefined("WEIGHT_SPECTRUM", 0)
        keywords = t.getkeywords()
    with tables.table(f"{path}::DATA_DESCRIPTION", ack=False) as t:
        dd_spw = t.getcol("SPECTRAL_WINDOW_ID")
        dd_pol = t.getcol("POLARIZATION_ID")
    with tables.table(f"{path}::SPECTRAL_WINDOW", ack=False) as t:
        spw_freq = [np.asarray(t.getcell("CHAN_FREQ", k)) for k in range(t.nrows())]
        spw_width = [
            np.abs(np.asarray(t.getcell("CHAN_WIDTH", k))) for k in range(t.nrows())
        ]
    with tables.table(f"{path}::POLARIZATION", ack=False) as t:
        corr_types = [np.asarray(t.getcell("CORR_TYPE", k)) for k in range(t.nrows())]
    with tables.table(f"{path}::FIELD", ack=False) as t:
        phase_dir = np.stack(
            [np.asarray(t.getcell("PHASE_DIR", k))[0] for k in range(t.nrows())]
        )
    with tables.table(f"{path}::ANTENNA", ack=False) as t:
        ant_names = np.asarray(t.getcol("NAME"))
        ant_pos = t.getcol("POSITION")
        ant_diam = t.getcol("DISH_DIAMETER")
    with tables.table(f"{path}::OBSERVATION", ack=False) as t:
        telescope = str(t.getcell("TELESCOPE_NAME", 0)) if t.nrows() else ""
        tel_loc = (
            np.asarray(t.getcell("TELESCOPE_LOCATION", 0))
            if "TELESCOPE_LOCATION" in t.colnames() and t.nrows()
            else None
        )

    ddids = np.unique(ddid)
    pols = {int(dd_pol[d]) for d in ddids}
    if len(pols) != 1:
        raise UnsupportedMSError(
            path,
            "spectral windows use different polarization setups",
            field="DATA_DESCRIPTION",
        )
    corr = corr_types[pols.pop()]
    try:
        pol_labels = np.array([_CORR_LABELS[int(c)] for c in corr])
    except KeyError as exc:
        raise UnsupportedMSError(
            path, f"unknown correlation type {exc}", field="CORR_TYPE"
        ) from None

    # Check each window's rows form the same time × baseline grid.
    grid = None
    index_cols = ()
    for d in ddids:
        sel = ddid == d
        g = _grid(path, time[sel], a1[sel], a2[sel])
        if g is None:
            order = np.lexsort((a2[sel], a1[sel], time[sel]))
            g = _grid(path, time[sel][order], a1[sel][order], a2[sel][order])
            if g is None:
                raise UnsupportedMSError(
                    path,
                    "rows are not a regular time × baseline grid "
                    "(baselines differ between integrations)",
                    field="MAIN",
                )
            index_cols = ("TIME", "ANTENNA1", "ANTENNA2")
        if grid is not None and g != grid:
            raise UnsupportedMSError(
                path,
                "spectral windows have different time × baseline grids",
                field="DATA_DESC_ID",
            )
        grid = g
    n_time, n_bl = grid
    first = np.flatnonzero(ddid == ddids[0])
    if index_cols:
        first = first[np.lexsort((a2[first], a1[first], time[first]))]
    first = first.reshape(n_time, n_bl)
    fid = field[first]
    if not np.all(fid == fid[:, :1]):
        raise UnsupportedMSError(
            path, "FIELD_ID varies within an integration", field="FIELD_ID"
        )

    n_pol = pol_labels.size
    # Order windows by frequency; each window's channels ascending.
    spws = [int(dd_spw[d]) for d in ddids]
    order = np.argsort([np.min(spw_freq[s]) for s in spws])
    freq_parts = [np.sort(spw_freq[spws[k]]) for k in order]
    allf = np.concatenate(freq_parts)
    if allf.size > 1 and not np.all(np.diff(allf) > 0):
        raise UnsupportedMSError(
            path, "spectral windows overlap", field="SPECTRAL_WINDOW"
        )
    n_chan_max = max(f.size for f in freq_parts)
    t_chunk = (chunks or {}).get(schema.TIME) or max(
        1, int(_CHUNK_BYTES // (n_bl * n_chan_max * n_pol * 8))
    )
    columns = ["FLAG", data_column] + (["WEIGHT_SPECTRUM"] if has_wspec else ["WEIGHT"])
    xds_list = xds_from_table(
        path,
        columns=columns,
        group_cols=["DATA_DESC_ID"],
        index_cols=list(index_cols),
        chunks={"row": t_chunk * n_bl},
    )
    by_ddid = {int(x.attrs["DATA_DESC_ID"]): x for x in xds_list}
    vis_parts, flag_parts, w_parts, width_parts = [], [], [], []
    frow = da.from_array(flag_row[first], chunks=(t_chunk, n_bl))[:, :, None, None]
    for k in order:
        d = int(ddids[k])
        x = by_ddid[d]
        s = spws[k]
        rev = spw_freq[s].size > 1 and spw_freq[s][0] > spw_freq[s][-1]
        n_ch = spw_freq[s].size

        def grid4(a, n_ch=n_ch, rev=rev):
            a = a.reshape((n_time, n_bl, n_ch, n_pol))
            return a[:, :, ::-1] if rev else a

        vis_parts.append(da.conj(grid4(x[data_column].data)))
        flag_parts.append(grid4(x["FLAG"].data) | frow)
        if has_wspec:
            w_parts.append(grid4(x["WEIGHT_SPECTRUM"].data))
        else:
            w = x["WEIGHT"].data.reshape((n_time, n_bl, 1, n_pol))
            w_parts.append(da.broadcast_to(w, (n_time, n_bl, n_ch, n_pol)))
        width_parts.append(spw_width[s][::-1] if rev else spw_width[s])
    vis = da.concatenate(vis_parts, axis=2).astype(np.complex64)
    flag = da.concatenate(flag_parts, axis=2).astype(bool)
    weight = da.concatenate(w_parts, axis=2).astype(np.float32)

    uvw = -uvw_all[first]
    times = time[first[:, 0]] - MJD_UNIX_OFFSET_S
    b1, b2 = a1[first[0]], a2[first[0]]
    keep = np.flatnonzero(np.char.str_len(ant_names.astype(str)) > 0)
    attrs = _attrs(
        path, keywords, telescope, tel_loc, ant_pos[keep], phase_dir, fid[:, 0]
    )
    dims4 = schema.DATA_VARS["VISIBILITY"].dims
    ds = xr.Dataset(
        data_vars={
            "VISIBILITY": (dims4, vis),
            "FLAG": (dims4, flag),
            "WEIGHT": (dims4, weight),
            "UVW": (schema.DATA_VARS["UVW"].dims, uvw),
        },
        coords={
            schema.TIME: (schema.TIME, times),
            schema.BASELINE: (schema.BASELINE, np.arange(n_bl)),
            schema.FREQUENCY: (schema.FREQUENCY, allf),
            schema.POLARIZATION: (schema.POLARIZATION, pol_labels),
            schema.UVW_LABEL: (schema.UVW_LABEL, np.array(["u", "v", "w"])),
            "baseline_antenna1_name": (schema.BASELINE, ant_names[b1].astype(str)),
            "baseline_antenna2_name": (schema.BASELINE, ant_names[b2].astype(str)),
            "antenna1": (schema.BASELINE, b1.astype(np.int32)),
            "antenna2": (schema.BASELINE, b2.astype(np.int32)),
            "channel_width": (schema.FREQUENCY, np.concatenate(width_parts)),
            "integration_time": (schema.TIME, interval[first[:, 0]]),
            "phase_center_ra": (
                schema.TIME,
                np.mod(phase_dir[fid[:, 0], 0], 2 * np.pi),
            ),
            "phase_center_dec": (schema.TIME, phase_dir[fid[:, 0], 1]),
            schema.ANTENNA: (schema.ANTENNA, ant_names[keep].astype(str)),
            "antenna_number": (schema.ANTENNA, keep.astype(np.int64)),
            "antenna_position": ((schema.ANTENNA, schema.XYZ_LABEL), ant_pos[keep]),
            "antenna_diameter": (schema.ANTENNA, ant_diam[keep]),
            schema.XYZ_LABEL: (schema.XYZ_LABEL, np.array(["x", "y", "z"])),
        },
        attrs=attrs,
    )
    for name, spec in {**schema.DATA_VARS, **schema.COORDS}.items():
        if spec.units:
            ds[name].attrs["units"] = spec.units
    ds[schema.TIME].attrs.update(scale="utc", format="unix")
    return ds


def _attrs(path, keywords, telescope, tel_loc, positions, phase_dir, fid) -> dict:
    """Dataset attributes: as written by dsa110, or derived from the MS."""
    if _ATTRS_KEYWORD in keywords:
        try:
            return dict(json.loads(keywords[_ATTRS_KEYWORD]))
        except (TypeError, ValueError):
            pass  # fall back to deriving them
    from astropy import units as u  # deferred: astropy is slow to import
    from astropy.coordinates import EarthLocation

    xyz = (
        tel_loc
        if tel_loc is not None and np.any(tel_loc)
        else np.mean(positions[np.any(positions != 0, axis=1)], axis=0)
    )
    loc = EarthLocation.from_geocentric(*xyz, unit=u.m)
    centres = np.unique(phase_dir[np.unique(fid)], axis=0)
    return {
        "telescope_name": telescope,
        "site_latitude": float(loc.lat.rad),
        "site_longitude": float(loc.lon.rad),
        "site_height": float(loc.height.to_value(u.m)),
        "pointing_dec": float(np.median(phase_dir[fid, 1])),
        "phase_center_type": "fixed" if len(centres) == 1 else "per_integration",
        "source_files": [str(path)],
    }
