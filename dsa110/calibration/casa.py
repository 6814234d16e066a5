"""Export solutions as CASA calibration tables (python-casacore).

The layout is CASA's "NewCalTable" (CASA ≥ 3.4), as ``bandpass``/``gaincal``
write it: a MAIN table with one row per (time, spectral window, antenna) and
columns ``TIME`` (MJD seconds, UTC), ``FIELD_ID``, ``SPECTRAL_WINDOW_ID``,
``ANTENNA1``, ``ANTENNA2`` (the reference antenna), ``INTERVAL``,
``SCAN_NUMBER``, ``OBSERVATION_ID``, ``CPARAM`` (chan × pol complex),
``PARAMERR``, ``FLAG``, ``SNR``, ``WEIGHT``; table keywords ``ParType =
"Complex"``, ``MSName``, ``VisCal`` (``"B Jones"``/``"G Jones"``), ``PolBasis``,
``CASA_Version`` and ``Table:`` references to the ``OBSERVATION``, ``ANTENNA``,
``FIELD``, ``SPECTRAL_WINDOW`` and ``HISTORY`` subtables; and table info
``type = "Calibration"``, ``subType = VisCal`` (how CASA recognises a caltable).

CASA's measurement equation has the opposite sign to ours, and our MS writer
stores ``DATA = conj(VISIBILITY)`` (:mod:`dsa110.io.ms`), so CASA's gains are the
complex conjugates of ours: ``CPARAM = conj(g)``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from dsa110.errors import ConfigurationError, OutputExistsError

__all__ = ["export_casa_table", "MJD_UNIX_OFFSET_S"]

#: Seconds from MJD 0 to the unix epoch.
MJD_UNIX_OFFSET_S = 40587.0 * 86400.0
_SUBTABLES = ("OBSERVATION", "ANTENNA", "FIELD", "SPECTRAL_WINDOW", "HISTORY")


def _main_desc(n_chan, n_pol):
    from casacore import tables  # deferred: the MS extra is optional

    cols = [
        tables.makescacoldesc(
            "TIME",
            0.0,
            keywords={
                "QuantumUnits": ["s"],
                "MEASINFO": {"type": "epoch", "Ref": "UTC"},
            },
        ),
        tables.makescacoldesc("FIELD_ID", 0),
        tables.makescacoldesc("SPECTRAL_WINDOW_ID", 0),
        tables.makescacoldesc("ANTENNA1", 0),
        tables.makescacoldesc("ANTENNA2", 0),
        tables.makescacoldesc("INTERVAL", 0.0, keywords={"QuantumUnits": ["s"]}),
        tables.makescacoldesc("SCAN_NUMBER", 0),
        tables.makescacoldesc("OBSERVATION_ID", 0),
        tables.makearrcoldesc("CPARAM", 0j, ndim=2, valuetype="complex"),
        tables.makearrcoldesc("PARAMERR", 0.0, ndim=2, valuetype="float"),
        tables.makearrcoldesc("FLAG", False, ndim=2),
        tables.makearrcoldesc("SNR", 0.0, ndim=2, valuetype="float"),
        tables.makearrcoldesc("WEIGHT", 0.0, ndim=2, valuetype="float"),
    ]
    return tables.maketabdesc(cols)


def _write_subtables(path, solutions, freq_spw, width_spw, name):
    from casacore import tables  # deferred: the MS extra is optional

    from dsa110.telescope import antenna_table, default_site

    site = default_site()
    table = antenna_table()
    names = [str(n) for n in np.asarray(solutions["antenna_name"].values)]
    pos = np.zeros((len(names), 3))
    for k, nm in enumerate(names):
        hit = np.flatnonzero(table.names == nm)
        if hit.size:
            pos[k] = table.ecef[hit[0]]
    n_ant = len(names)
    with tables.default_ms_subtable("ANTENNA", str(path / "ANTENNA")) as t:
        t.addrows(n_ant)
        t.putcol("NAME", names)
        t.putcol("STATION", names)
        t.putcol("TYPE", ["GROUND-BASED"] * n_ant)
        t.putcol("MOUNT", ["ALT-AZ"] * n_ant)
        t.putcol("POSITION", pos)
        t.putcol("OFFSET", np.zeros((n_ant, 3)))
        t.putcol("DISH_DIAMETER", np.full(n_ant, 4.65))
    ra = float(solutions.attrs.get("calibrator_ra", 0.0))
    dec = float(solutions.attrs.get("calibrator_dec", 0.0))
    with tables.default_ms_subtable("FIELD", str(path / "FIELD")) as t:
        t.addrows(1)
        t.putcol("NAME", [str(solutions.attrs.get("calibrator", "calibrator"))])
        direction = np.array([[[ra, dec]]])
        for col in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
            t.putcol(col, direction)
    n_spw = len(freq_spw)
    with tables.default_ms_subtable(
        "SPECTRAL_WINDOW", str(path / "SPECTRAL_WINDOW")
    ) as t:
        t.addrows(n_spw)
        for k, (f, w) in enumerate(zip(freq_spw, width_spw)):
            t.putcell("CHAN_FREQ", k, f)
            t.putcell("CHAN_WIDTH", k, w)
            t.putcell("EFFECTIVE_BW", k, w)
            t.putcell("RESOLUTION", k, w)
            t.putcell("NUM_CHAN", k, f.size)
            t.putcell("REF_FREQUENCY", k, float(f[0]))
            t.putcell("TOTAL_BANDWIDTH", k, float(np.sum(w)))
            t.putcell("NAME", k, f"spw{k}")
            t.putcell("MEAS_FREQ_REF", k, 5)  # TOPO
    t0 = float(solutions.attrs.get("time_start", 0.0)) + MJD_UNIX_OFFSET_S
    t1 = float(solutions.attrs.get("time_end", 0.0)) + MJD_UNIX_OFFSET_S
    with tables.default_ms_subtable("OBSERVATION", str(path / "OBSERVATION")) as t:
        t.addrows(1)
        t.putcol("TELESCOPE_NAME", [site.name])
        t.putcol("TIME_RANGE", np.array([[t0, t1]]))
        t.putcol("OBSERVER", ["dsa110"])
        t.putcol("PROJECT", [name])
        # Non-standard, read by pyuvdata when the telescope name is unknown to it.
        t.addcols(tables.makearrcoldesc("TELESCOPE_LOCATION", 0.0, ndim=1, shape=[3]))
        t.putcol("TELESCOPE_LOCATION", site.ecef[None, :])
    with tables.default_ms_subtable("HISTORY", str(path / "HISTORY")):
        pass


def _spw_split(freq, n_chan_per_spw):
    n = freq.size
    if n_chan_per_spw is None:
        return [slice(0, n)]
    if n_chan_per_spw <= 0 or n % n_chan_per_spw:
        raise ConfigurationError(
            f"cannot split {n} channels into spectral windows of {n_chan_per_spw}"
        )
    return [slice(k, k + n_chan_per_spw) for k in range(0, n, n_chan_per_spw)]


def export_casa_table(
    solutions,
    path,
    *,
    kind: str = "B",
    ms_name: str = "",
    n_chan_per_spw: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the bandpass (``kind="B"``) or gains (``kind="G"``) as a CASA caltable.

    Parameters
    ----------
    solutions : xarray.Dataset
        A solution table (:mod:`dsa110.calibration.tables`).
    path : str or Path
        The table directory to create (written under a temporary name and
        renamed into place).
    kind : {"B", "G"}, keyword-only
        ``B Jones`` from ``BANDPASS`` (one row per antenna, all channels) or
        ``G Jones`` from ``GAIN`` (one row per solution time and antenna, one
        channel per spectral window).
    ms_name : str, keyword-only
        The Measurement Set the table belongs to (``MSName`` keyword).
    n_chan_per_spw : int, optional, keyword-only
        Split the channels into equal spectral windows (match the MS's
        ``spw="subband"`` layout); one window by default (``spw="merged"``).
    overwrite : bool, keyword-only
        Replace an existing table.

    Returns
    -------
    Path

    Raises
    ------
    ConfigurationError
        For an unknown ``kind`` or a missing solution variable.
    OutputExistsError
        When ``path`` exists and ``overwrite`` is False.
    """
    from casacore import tables  # deferred: the MS extra is optional

    kind = kind.upper()
    var = {"B": "BANDPASS", "G": "GAIN"}.get(kind)
    if var is None:
        raise ConfigurationError(f"kind must be 'B' or 'G', not {kind!r}")
    if var not in solutions:
        raise ConfigurationError(
            f"the solutions have no {var} to export as {kind} Jones"
        )
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists (pass overwrite=True to replace it)")
    viscal = f"{kind} Jones"
    freq = (
        np.asarray(solutions["frequency"].values, dtype=np.float64)
        if "frequency" in solutions.coords
        else np.array([1.4e9])
    )
    spws = _spw_split(freq, n_chan_per_spw)
    n_ant = solutions.sizes["antenna"]
    n_pol = solutions.sizes["polarization"]
    # The table's own reference antenna; older tables record only the joined
    # ``refant`` of all parts.
    refant = str(
        solutions.attrs.get(f"{var.lower()}_refant")
        or str(solutions.attrs.get("refant", "")).split(",")[0]
    )
    names = [str(n) for n in np.asarray(solutions["antenna_name"].values)]
    ref_id = names.index(refant) if refant in names else -1
    g = np.asarray(solutions[var].values)
    flag = np.asarray(solutions[f"{var}_FLAG"].values)
    snr = (
        np.asarray(solutions[f"{var}_SNR"].values)
        if f"{var}_SNR" in solutions
        else np.where(flag, 0.0, 1.0)
    )
    if kind == "B":
        times = np.array(
            [
                float(
                    solutions.attrs.get(
                        "bandpass_time", solutions.attrs.get("time_start", 0.0)
                    )
                )
            ]
        )
        widths = np.array([float(solutions.attrs.get("bandpass_interval", 0.0))])
        # (time=1, antenna, chan, pol)
        g, flag, snr = g[None], flag[None], snr[None]
        freq_spw = [freq[s] for s in spws]
        width_full = np.full(
            freq.size, float(np.median(np.diff(freq))) if freq.size > 1 else 0.0
        )
        width_spw = [width_full[s] for s in spws]
    else:
        times = np.asarray(solutions["gain_time"].values, dtype=np.float64)
        widths = np.asarray(solutions["gain_interval"].values, dtype=np.float64)
        # (time, antenna, pol) -> one channel per spw: the same gain in every window.
        g = np.repeat(g[:, :, None, :], len(spws), axis=2)
        flag = np.repeat(flag[:, :, None, :], len(spws), axis=2)
        snr = np.repeat(snr[:, :, None, :], len(spws), axis=2)
        spws = [slice(k, k + 1) for k in range(len(spws))]
        full = _spw_split(freq, n_chan_per_spw)
        freq_spw = [np.array([freq[s].mean()]) for s in full]
        width_spw = [
            np.array(
                [
                    float(np.ptp(freq[s]))
                    + (float(np.median(np.diff(freq))) if freq.size > 1 else 0.0)
                ]
            )
            for s in full
        ]
    n_time = times.size
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    n_chan_spw = spws[0].stop - spws[0].start
    with tables.table(
        str(tmp), _main_desc(n_chan_spw, n_pol), nrow=0, ack=False, readonly=False
    ) as t:
        rows = n_time * len(spws) * n_ant
        t.addrows(rows)
        spw_id = np.repeat(np.arange(len(spws)), n_ant)
        t.putcol("TIME", np.repeat(times + MJD_UNIX_OFFSET_S, len(spws) * n_ant))
        t.putcol("INTERVAL", np.repeat(widths, len(spws) * n_ant))
        t.putcol("FIELD_ID", np.zeros(rows, np.int32))
        t.putcol("SPECTRAL_WINDOW_ID", np.tile(spw_id, n_time).astype(np.int32))
        t.putcol(
            "ANTENNA1", np.tile(np.arange(n_ant), n_time * len(spws)).astype(np.int32)
        )
        t.putcol("ANTENNA2", np.full(rows, ref_id, np.int32))
        t.putcol("SCAN_NUMBER", np.ones(rows, np.int32))
        t.putcol("OBSERVATION_ID", np.zeros(rows, np.int32))
        # Rows are (time, spw, antenna); cells (chan, pol).
        cp = np.stack(
            [g[:, :, s, :] for s in spws], axis=1
        )  # (time, spw, ant, chan, pol)
        fl = np.stack([flag[:, :, s, :] for s in spws], axis=1)
        sn = np.stack([snr[:, :, s, :] for s in spws], axis=1)
        shape = (rows, n_chan_spw, n_pol)
        t.putcol("CPARAM", np.conj(cp).reshape(shape).astype(np.complex64))
        t.putcol("FLAG", fl.reshape(shape))
        t.putcol("SNR", sn.reshape(shape).astype(np.float32))
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(sn > 0, np.abs(cp) / sn, 0.0)
        t.putcol("PARAMERR", err.reshape(shape).astype(np.float32))
        t.putcol("WEIGHT", np.ones(shape, np.float32))
        t.putinfo({"type": "Calibration", "subType": viscal, "readme": ""})
        t.putkeyword("ParType", "Complex")
        t.putkeyword("MSName", ms_name)
        t.putkeyword("VisCal", viscal)
        t.putkeyword("PolBasis", "unknown")
        t.putkeyword("CASA_Version", "dsa110 export")
        _write_subtables(tmp, solutions, freq_spw, width_spw, ms_name)
        for sub in _SUBTABLES:
            t.putkeyword(sub, f"Table: {(tmp / sub).absolute()}")
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path
