"""Measurement Set output (and input) through dask-ms.

:func:`write_ms` maps the canonical visibility dims to the MS ``row × chan ×
corr`` layout and streams the MAIN table chunk by chunk with
:func:`daskms.xds_to_table`; the subtables are small and written with
python-casacore (:mod:`dsa110.io.ms_subtables`). The product is built under a
temporary name and renamed into place (:mod:`dsa110.io.atomic`).

Conventions (pyuvdata's ``write_ms`` with its default ``flip_conj=True``): the
MS holds ``DATA = conj(VISIBILITY)`` and ``UVW = −UVW`` of the dataset, so that
CASA and WSClean, which use the opposite sign in the measurement equation, image
sources where they are. ``WEIGHT_SPECTRUM`` holds the dataset's ``WEIGHT``
(samples), ``WEIGHT`` its mean over channels, ``SIGMA`` (and, on request,
``SIGMA_SPECTRUM``) their ``−1/2`` powers. ``TIME`` is MJD seconds (UTC) and
rows are ordered time-major: ``(time, baseline)``, or ``(time, spw, baseline)``
with one spectral window per subband.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dsa110 import schema
from dsa110.errors import ConfigurationError, DSA110Error
from dsa110.io.atomic import atomic_output
from dsa110.io.ms_reader import read_ms
from dsa110.io.ms_subtables import MJD_UNIX_OFFSET_S, MSMetadata, write_subtables

__all__ = ["write_ms", "read_ms", "ms_metadata", "DEFAULT_TELESCOPE", "ATTRS_KEYWORD"]

#: The telescope name written by default (CASA knows its position).
DEFAULT_TELESCOPE = "OVRO_MMA"
#: MAIN-table keyword holding the dataset's attributes as JSON (for round trips).
ATTRS_KEYWORD = "DSA110_ATTRS"
#: Target size of one streamed MAIN-table chunk of DATA, bytes.
_CHUNK_BYTES = 64 * 2**20
#: Size of one storage tile of the big columns, cells.
_TILE_CELLS = 131072
#: SIGMA where the weight is zero: 1/SIGMA² underflows to 0 in float32.
_SIGMA_ZERO_WEIGHT = np.float32(3.0e38)


def _spw_slices(freq, spw: str, n_chan_per_spw: int | None) -> list:
    """Channel slices of each spectral window.

    With ``spw="subband"`` and no ``n_chan_per_spw``, windows follow the DSA-110
    subbands the (ascending) frequencies fall in.
    """
    n_freq = freq.size
    if spw == "merged":
        return [slice(0, n_freq)]
    if spw != "subband":
        raise ConfigurationError(f"spw must be 'merged' or 'subband', not {spw!r}")
    if n_chan_per_spw is None:
        from dsa110.telescope import subband_of_frequency  # deferred: telescope model

        sb = subband_of_frequency(freq)
        edges = np.flatnonzero(np.diff(sb)) + 1
        sizes = np.diff(np.concatenate([[0], edges, [n_freq]]))
        if np.any(sizes != sizes[0]):
            raise ConfigurationError(
                f"cannot write one spectral window per subband: the {n_freq} "
                f"channels fall in subbands of {sorted(set(sizes.tolist()))} "
                "channels; write one window (spw='merged', the CLI's --spw merged) "
                "or give write_ms n_chan_per_spw"
            )
        n_chan_per_spw = int(sizes[0])
    step = n_chan_per_spw
    if step <= 0 or n_freq % step:
        raise ConfigurationError(
            f"n_chan_per_spw={step}: cannot split {n_freq} channels into "
            "equal subband windows of that many"
        )
    return [slice(k, k + step) for k in range(0, n_freq, step)]


def _constant_centre(ds) -> bool:
    ra = np.asarray(ds["phase_center_ra"].values)
    dec = np.asarray(ds["phase_center_dec"].values)
    return bool(np.ptp(ra) < 1e-12 and np.ptp(dec) < 1e-12)


def ms_metadata(ds, *, fields: str, spw_slices, telescope_name: str) -> MSMetadata:
    """Gather the subtables' contents from a visibility dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Following :mod:`dsa110.schema`.
    fields : {"single", "per_integration"}
        One field for the whole dataset, or one per integration.
    spw_slices : list of slice
        Channel slices of each spectral window.
    telescope_name : str
        Written to OBSERVATION.

    Returns
    -------
    MSMetadata
    """
    from dsa110.phasing.uvw import (
        meridian_centers,
    )  # deferred: astropy is slow to import
    from dsa110.telescope import Site

    times = np.asarray(ds[schema.TIME].values, dtype=np.float64)
    mjd = times + MJD_UNIX_OFFSET_S
    ra = np.asarray(ds["phase_center_ra"].values, dtype=np.float64)
    dec = np.asarray(ds["phase_center_dec"].values, dtype=np.float64)
    if fields == "single":
        field_ra, field_dec = ra[:1], dec[:1]
        field_times = np.array([np.median(mjd)])
        names = [str(ds.attrs.get("phase_center_name", "DSA110"))]
    else:
        field_ra, field_dec, field_times = ra, dec, mjd
        names = [f"DSA110_T{k:03d}" for k in range(times.size)]
    site = Site(
        str(ds.attrs["telescope_name"]),
        float(ds.attrs["site_latitude"]),
        float(ds.attrs["site_longitude"]),
        float(ds.attrs["site_height"]),
    )
    pointing_ra, pointing_dec = meridian_centers(
        times, float(ds.attrs["pointing_dec"]), site
    )
    loc = site.earth_location
    freq = np.asarray(ds[schema.FREQUENCY].values, dtype=np.float64)
    width = np.asarray(ds["channel_width"].values, dtype=np.float64)
    history = ds.attrs.get("history", "")
    return MSMetadata(
        antenna_names=np.asarray(ds[schema.ANTENNA].values).astype(str),
        antenna_numbers=np.asarray(ds["antenna_number"].values, dtype=np.int64),
        antenna_positions=np.asarray(ds["antenna_position"].values, dtype=np.float64),
        antenna_diameters=np.asarray(ds["antenna_diameter"].values, dtype=np.float64),
        spw_freqs=[freq[s] for s in spw_slices],
        spw_widths=[width[s] for s in spw_slices],
        polarizations=[str(p) for p in ds[schema.POLARIZATION].values],
        field_ra=field_ra,
        field_dec=field_dec,
        field_names=names,
        field_times=field_times,
        times_mjd_s=mjd,
        intervals=np.asarray(ds["integration_time"].values, dtype=np.float64),
        pointing_ra=np.asarray(pointing_ra),
        pointing_dec=np.asarray(pointing_dec),
        telescope_name=telescope_name,
        telescope_location=np.array([loc.x.value, loc.y.value, loc.z.value]),
        history=tuple(str(history).splitlines()) + ("written by dsa110.io.write_ms",),
    )


def _tile_rows(n_bl: int, cells_per_row: int) -> int:
    """Rows per storage tile: about ``_TILE_CELLS`` cells, aligned to integrations."""
    target = max(1, _TILE_CELLS // cells_per_row)
    if n_bl <= target:
        return n_bl * (target // n_bl)
    for k in range(1, n_bl + 1):
        if n_bl % k == 0 and n_bl // k <= target:
            return n_bl // k
    return 1


def _main_descriptor(
    n_chan: int,
    n_corr: int,
    extra: list,
    *,
    tile_chan: int,
    n_bl: int,
    spectra=("WEIGHT_SPECTRUM",),
):
    """Build the MAIN table descriptor and data-manager info (fixed-shape tiles).

    Tiles span ``tile_chan`` channels (the width of one streamed chunk, so each
    chunk writes whole tiles) and a whole number of tiles per integration.
    ``spectra`` are the float spectrum columns to add.
    """
    from casacore import tables  # deferred: the MS extra is optional

    desc = tables.required_ms_desc("MAIN")
    rows_per_tile = _tile_rows(n_bl, tile_chan * n_corr)
    tile = np.array([n_corr, tile_chan, rows_per_tile], dtype=np.int32)
    cols = [
        ("DATA", 0j, "complex"),
        *[(c, 0j, "complex") for c in extra],
        *[(c, 0.0, "float") for c in spectra],
    ]
    groups = {}
    for name, value, vtype in cols:
        cd = tables.makearrcoldesc(
            name,
            value,
            valuetype=vtype,
            shape=[n_chan, n_corr],
            datamanagertype="TiledColumnStMan",
            datamanagergroup=f"Tiled_{name}",
        )
        desc.update(tables.maketabdesc(cd))
        groups[f"Tiled_{name}"] = {"DEFAULTTILESHAPE": tile}
    desc["FLAG"].update(
        shape=np.array([n_chan, n_corr]),
        option=5,
        dataManagerType="TiledColumnStMan",
        dataManagerGroup="Tiled_FLAG",
    )
    groups["Tiled_FLAG"] = {"DEFAULTTILESHAPE": tile}
    for name in ("WEIGHT", "SIGMA"):
        desc[name].update(shape=np.array([n_corr]), option=5)
    desc["UVW"].update(dataManagerType="TiledColumnStMan", dataManagerGroup="Tiled_UVW")
    groups["Tiled_UVW"] = {"DEFAULTTILESHAPE": np.array([3, 32768], dtype=np.int32)}
    desc["DATA"]["keywords"] = {"QuantumUnits": np.array(["Jy"])}
    return desc, tables.makedminfo(desc, groups)


def _to_rows(arr):
    """``(time, baseline, chan, ...)`` dask array → ``(row, chan, ...)``, time-major.

    Merges the time and (single-chunk) baseline axes; the channel chunks stay
    as they are, so no chunk ever spans more than its source chunk.
    """
    n_time, n_bl = arr.shape[:2]
    return arr.reshape((n_time * n_bl, *arr.shape[2:]))


def _streamable(var, time_chunk, n_spw):
    """Return the variable as a dask array chunked for streaming.

    Keeps a dask array's own chunks along time and frequency (rechunking time
    only when ``time_chunk`` is given); a NumPy array is chunked to about
    ``_CHUNK_BYTES`` per chunk. Baseline and polarization become one chunk;
    with ``n_spw > 1`` frequency chunks are split at the window edges.
    """
    import dask.array as da  # deferred: keep ``import dsa110.io`` light

    data = var.transpose(*schema.DATA_VARS["VISIBILITY"].dims).data
    n_time, n_bl, n_freq, n_pol = data.shape
    if not isinstance(data, da.Array):
        step = time_chunk or max(1, int(_CHUNK_BYTES // (n_bl * n_freq * n_pol * 8)))
        return da.from_array(data, chunks=(step, n_bl, n_freq // n_spw, n_pol))
    t_chunks = time_chunk or data.chunks[0]
    f_chunks = data.chunks[2]
    if n_spw > 1:
        width = n_freq // n_spw
        edges = sorted(
            set(np.cumsum((0, *f_chunks)).tolist()) | set(range(0, n_freq + 1, width))
        )
        f_chunks = tuple(np.diff(edges).tolist())
    return data.rechunk((t_chunks, -1, f_chunks, -1))


def _channel_sum(w):
    """Block function: ``(row, chan, corr)`` → float64 sums ``(row, 1, corr)``."""
    from dsa110.io.kernels import channel_sum

    return channel_sum(w)[:, None, :]


def _channel_mean(weight):
    """WEIGHT: the channel mean of a ``(row, chan, corr)`` dask array (float32).

    One Numba pass per block, then a sum over the channel blocks (streams:
    pyuvdata writes the median, which would need every channel of a row at once).
    """
    n_chan = weight.shape[1]
    n_blocks = len(weight.chunks[1])
    sums = weight.map_blocks(
        _channel_sum,
        dtype=np.float64,
        chunks=(weight.chunks[0], (1,) * n_blocks, weight.chunks[2]),
    )
    return (sums.sum(axis=1) / max(n_chan, 1)).astype(np.float32)


def _sigma(w):
    """SIGMA from WEIGHT (block function): w^-1/2, huge where w is 0."""
    w = np.asarray(w, dtype=np.float32)
    out = np.full(w.shape, _SIGMA_ZERO_WEIGHT, dtype=np.float32)
    np.power(w, -0.5, out=out, where=w > 0)
    return out


def _variable(ds, value, name):
    """Return a ``(time, baseline, frequency, polarization)`` array (name or array)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ds.data_vars:
            raise ConfigurationError(f"{name}: dataset has no variable {value!r}")
        value = ds[value]
    return value.transpose(*schema.DATA_VARS["VISIBILITY"].dims)


def write_ms(
    ds,
    path,
    *,
    fields: str = "single",
    spw: str = "merged",
    n_chan_per_spw: int | None = None,
    model_data=None,
    corrected_data=None,
    telescope_name: str = DEFAULT_TELESCOPE,
    weight_spectrum: bool = True,
    sigma_spectrum: bool = False,
    overwrite: bool = False,
    time_chunk: int | None = None,
) -> Path:
    """Write a visibility dataset to a CASA Measurement Set (MSv2).

    Parameters
    ----------
    ds : xarray.Dataset
        Following :mod:`dsa110.schema`; NumPy- or dask-backed (streamed chunk by
        chunk either way).
    path : str or os.PathLike
        The Measurement Set to create.
    fields : {"single", "per_integration"}, keyword-only
        ``"single"`` (default): one FIELD and one scan; the dataset must have
        one phase centre (if it does not, it is rephased to the median meridian
        with :func:`dsa110.phasing.rephase`). ``"per_integration"``: one FIELD
        (and scan) per integration, each at its own phase centre, as observed.
    spw : {"merged", "subband"}
        One spectral window of all channels, or one per subband.
    n_chan_per_spw : int, optional
        Channels per window with ``spw="subband"`` (default: the DSA-110 subbands).
    model_data, corrected_data : str or xarray.DataArray, optional
        ``(time, baseline_id, frequency, polarization)`` complex data (or the
        name of such a variable of ``ds``) written to MODEL_DATA /
        CORRECTED_DATA, in the dataset's sign convention (conjugated on write
        like DATA).
    telescope_name : str
        OBSERVATION::TELESCOPE_NAME (``"OVRO_MMA"``: CASA knows its position).
    weight_spectrum : bool
        Write WEIGHT_SPECTRUM (per-channel weights, which CASA and WSClean use
        when present; default True). WEIGHT and SIGMA are always written.
    sigma_spectrum : bool
        Also write SIGMA_SPECTRUM (``WEIGHT_SPECTRUM^-1/2``; default False:
        CASA and WSClean weight by WEIGHT_SPECTRUM, and the column adds 25 %
        to the MS).
    overwrite : bool
        Replace an existing MS (atomically); otherwise refuse.
    time_chunk : int, optional
        Integrations per streamed chunk (default: about 64 MB of DATA).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    ConfigurationError
        For an invalid option, or ``fields="single"`` on a dataset with several
        phase centres when no rephasing function is available.
    SchemaError
        If ``ds`` does not follow the schema.

    Notes
    -----
    The MAIN table is written with :func:`daskms.xds_to_table` from dask arrays
    chunked like the input (one file's integrations × one subband for
    :func:`dsa110.io.open_observation`; ``time_chunk`` integrations when given
    or when the input is in memory), never gathered across chunks, so peak
    memory is a few chunks whatever the dataset's size; storage tiles match the
    chunks' channel width so each chunk writes whole tiles, in file order
    when the chunks span a whole window (``open_observation(...,
    chunks={"frequency": -1})``, as :func:`dsa110.io.convert.convert` opens
    it), which lets casacore append tiles instead of reading them back.
    ``WEIGHT`` is the channel mean of ``WEIGHT_SPECTRUM``. The MS is built at
    a temporary name and renamed to ``path`` only when complete.
    """
    import dask  # deferred: keep ``import dsa110.io`` light
    import dask.array as da
    import xarray as xr
    from casacore import tables
    from daskms import xds_to_table

    schema.validate(ds)
    if sigma_spectrum and not weight_spectrum:
        raise ConfigurationError("sigma_spectrum=True needs weight_spectrum=True")
    if fields not in ("single", "per_integration"):
        raise ConfigurationError(
            f"fields must be 'single' or 'per_integration', not {fields!r}"
        )
    if fields == "single" and not _constant_centre(ds):
        ds = _rephase_single(ds)
    n_time = ds.sizes[schema.TIME]
    n_bl = ds.sizes[schema.BASELINE]
    n_freq = ds.sizes[schema.FREQUENCY]
    n_pol = ds.sizes[schema.POLARIZATION]
    freq = np.asarray(ds[schema.FREQUENCY].values)
    if freq.size > 1 and not np.all(np.diff(freq) > 0):
        raise schema.SchemaError("frequency is not strictly ascending")
    slices = _spw_slices(freq, spw, n_chan_per_spw)
    n_spw = len(slices)
    n_chan = n_freq // n_spw
    extra = {
        "MODEL_DATA": _variable(ds, model_data, "model_data"),
        "CORRECTED_DATA": _variable(ds, corrected_data, "corrected_data"),
    }
    extra = {k: v for k, v in extra.items() if v is not None}
    arrays = {
        "VISIBILITY": ds["VISIBILITY"],
        "FLAG": ds["FLAG"],
        "WEIGHT": ds["WEIGHT"],
        **extra,
    }
    arrays = {k: _streamable(v, time_chunk, n_spw) for k, v in arrays.items()}
    vis_chunks = arrays["VISIBILITY"].chunks
    for name in extra:  # a model computed apart may be chunked otherwise
        if arrays[name].chunks != vis_chunks:
            arrays[name] = arrays[name].rechunk(vis_chunks)
    freq_chunks = vis_chunks[2]
    tile_chan = freq_chunks[0] if len(set(freq_chunks[:-1])) <= 1 else n_chan
    tile_chan = min(tile_chan, n_chan)

    # One dask-ms dataset per spectral window (rows (time, spw, baseline)).
    n_row = n_time * n_spw * n_bl
    all_rows = np.arange(n_row).reshape(n_time, n_spw, n_bl)
    xds_list = []
    for k, sl in enumerate(slices):
        part = {name: arr[:, :, sl] for name, arr in arrays.items()}
        weight = _to_rows(part["WEIGHT"]).astype(np.float32)
        columns = {
            "DATA": da.conj(_to_rows(part["VISIBILITY"])).astype(np.complex64),
            "FLAG": _to_rows(part["FLAG"]).astype(bool),
        }
        if weight_spectrum:
            columns["WEIGHT_SPECTRUM"] = weight
        if sigma_spectrum:
            columns["SIGMA_SPECTRUM"] = weight.map_blocks(_sigma, dtype=np.float32)
        wrow = _channel_mean(weight)
        columns["WEIGHT"] = wrow
        columns["SIGMA"] = wrow.map_blocks(_sigma, dtype=np.float32)
        for name in extra:
            columns[name] = da.conj(_to_rows(part[name])).astype(np.complex64)
        row_chunks = columns["DATA"].chunks[0]
        rowid = all_rows[:, k, :].ravel()
        # dask-ms expects a ROWID graph layer named "row-*" (its own convention).
        token = dask.base.tokenize(rowid, row_chunks, str(path))
        xds_list.append(
            xr.Dataset(
                {
                    name: (
                        ("row", "chan", "corr") if arr.ndim == 3 else ("row", "corr"),
                        arr,
                    )
                    for name, arr in columns.items()
                },
                coords={
                    "ROWID": (
                        "row",
                        da.from_array(rowid, chunks=(row_chunks,), name=f"row-{token}"),
                    )
                },
            )
        )

    # Small per-row columns, written eagerly (a tile has ~10^5 rows).
    t_idx = np.repeat(np.arange(n_time), n_spw * n_bl)
    spw_idx = np.tile(np.repeat(np.arange(n_spw), n_bl), n_time)
    uvw = -np.asarray(ds["UVW"].values, dtype=np.float64)  # (time, baseline, 3)
    uvw = np.broadcast_to(uvw[:, None], (n_time, n_spw, n_bl, 3)).reshape(n_row, 3)
    a1 = np.tile(np.asarray(ds["antenna1"].values, dtype=np.int32), n_time * n_spw)
    a2 = np.tile(np.asarray(ds["antenna2"].values, dtype=np.int32), n_time * n_spw)
    times = np.asarray(ds[schema.TIME].values, dtype=np.float64) + MJD_UNIX_OFFSET_S
    interval = np.asarray(ds["integration_time"].values, dtype=np.float64)
    field = t_idx if fields == "per_integration" else np.zeros(n_row, dtype=np.int64)
    meta = ms_metadata(
        ds, fields=fields, spw_slices=slices, telescope_name=telescope_name
    )
    spectra = [
        c
        for c, on in (
            ("WEIGHT_SPECTRUM", weight_spectrum),
            ("SIGMA_SPECTRUM", sigma_spectrum),
        )
        if on
    ]
    desc, dminfo = _main_descriptor(
        n_chan, n_pol, list(extra), tile_chan=tile_chan, n_bl=n_bl, spectra=spectra
    )
    attrs = _json_attrs(ds.attrs)

    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp = str(tmp)
        with tables.default_ms(tmp, desc, dminfo) as t:
            t.addrows(n_row)
            t.putcol("TIME", times[t_idx])
            t.putcol("TIME_CENTROID", times[t_idx])
            t.putcol("INTERVAL", interval[t_idx])
            t.putcol("EXPOSURE", interval[t_idx])
            t.putcol("ANTENNA1", a1)
            t.putcol("ANTENNA2", a2)
            t.putcol("FEED1", np.zeros(n_row, dtype=np.int32))
            t.putcol("FEED2", np.zeros(n_row, dtype=np.int32))
            t.putcol("DATA_DESC_ID", spw_idx.astype(np.int32))
            t.putcol("FIELD_ID", field.astype(np.int32))
            t.putcol("SCAN_NUMBER", (field + 1).astype(np.int32))
            t.putcol("STATE_ID", np.full(n_row, -1, dtype=np.int32))
            t.putcol("ARRAY_ID", np.zeros(n_row, dtype=np.int32))
            t.putcol("OBSERVATION_ID", np.zeros(n_row, dtype=np.int32))
            t.putcol("PROCESSOR_ID", np.full(n_row, -1, dtype=np.int32))
            t.putcol("FLAG_ROW", np.zeros(n_row, dtype=bool))
            t.putcol("UVW", uvw)
            t.putcolkeyword("UVW", "MEASINFO", {"type": "uvw", "Ref": "ICRS"})
            t.putkeyword(ATTRS_KEYWORD, attrs)
            t.putkeyword("pyuvdata_flip_conj", True)
        write_subtables(tmp, meta)
        writes = xds_to_table(xds_list, tmp, columns=list(columns))
        dask.compute(writes)
        _check_written(tmp, n_row)
    return Path(path)


def _check_written(ms: str, n_row: int) -> None:
    from casacore import tables  # deferred: the MS extra is optional

    with tables.table(ms, ack=False) as t:
        if t.nrows() != n_row:
            raise DSA110Error(f"{ms}: wrote {t.nrows()} rows, expected {n_row}")


def _json_attrs(attrs) -> str:
    """Dataset attributes as JSON (non-serialisable values as strings)."""

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.dumps(dict(attrs), default=default)


def _rephase_single(ds):
    """Rephase to one common centre (the median meridian) for a single FIELD."""
    try:
        from dsa110.phasing import rephase  # deferred: optional until it lands
    except ImportError as exc:
        raise ConfigurationError(
            "fields='single' needs one phase centre, and this dataset has one per "
            "integration; rephase it first (dsa110.phasing.rephase) or pass "
            "fields='per_integration'"
        ) from exc
    return rephase(ds, "median_meridian")
