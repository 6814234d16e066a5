"""The Measurement Set subtables CASA and WSClean need, written with python-casacore.

The subtables are small (one row per antenna, field, spectral window...), so they
are written eagerly; only the MAIN table streams (see :mod:`dsa110.io.ms`). Their
layout follows pyuvdata's ``write_ms`` (``pyuvdata/utils/io/ms.py``) so that an MS
from either writer reads the same in CASA, WSClean and pyuvdata: antenna number
= row of ANTENNA (absent stations are empty rows), directions in ICRS radians,
times in MJD seconds (UTC), frequencies TOPO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MJD_UNIX_OFFSET_S",
    "CASA_CORR_TYPES",
    "MSMetadata",
    "write_subtables",
]

#: Seconds from MJD 0 to the unix epoch (MJD 40587).
MJD_UNIX_OFFSET_S = 40587.0 * 86400.0

#: CASA ``Stokes`` enumeration of correlation labels.
CASA_CORR_TYPES = {
    "I": 1,
    "Q": 2,
    "U": 3,
    "V": 4,
    "RR": 5,
    "RL": 6,
    "LR": 7,
    "LL": 8,
    "XX": 9,
    "XY": 10,
    "YX": 11,
    "YY": 12,
}
_TOPO = 5  # MFrequency::TOPO
_FOREVER = np.finfo(np.float64).max


@dataclass
class MSMetadata:
    """Everything the subtables hold, gathered from the dataset once.

    Attributes
    ----------
    antenna_names : numpy.ndarray of str, ``(antenna,)``
    antenna_numbers : numpy.ndarray of int, ``(antenna,)`` (= ANTENNA row)
    antenna_positions : numpy.ndarray of float64, ``(antenna, 3)`` ITRF metres
    antenna_diameters : numpy.ndarray of float64, ``(antenna,)`` metres
    spw_freqs : list of numpy.ndarray
        Channel centres of each spectral window, Hz ascending.
    spw_widths : list of numpy.ndarray
        Channel widths of each spectral window, Hz.
    polarizations : list of str
        Correlation labels in the MS order.
    field_ra, field_dec : numpy.ndarray of float64, ``(field,)``
        ICRS radians.
    field_names : list of str
    field_times : numpy.ndarray of float64, ``(field,)``
        MJD seconds of each field's (mid) time.
    times_mjd_s : numpy.ndarray of float64, ``(time,)``
    intervals : numpy.ndarray of float64, ``(time,)`` seconds
    pointing_ra, pointing_dec : numpy.ndarray of float64, ``(time,)``
        ICRS radians of where the dishes point at each time.
    telescope_name : str
    telescope_location : numpy.ndarray of float64, ``(3,)`` ITRF metres
    observer, project : str
    history : list of str
    """

    antenna_names: np.ndarray
    antenna_numbers: np.ndarray
    antenna_positions: np.ndarray
    antenna_diameters: np.ndarray
    spw_freqs: list
    spw_widths: list
    polarizations: list
    field_ra: np.ndarray
    field_dec: np.ndarray
    field_names: list
    field_times: np.ndarray
    times_mjd_s: np.ndarray
    intervals: np.ndarray
    pointing_ra: np.ndarray
    pointing_dec: np.ndarray
    telescope_name: str
    telescope_location: np.ndarray
    observer: str = "DSA-110"
    project: str = "dsa110"
    history: tuple = ()


def _set_ref(tab, column, ref):
    info = tab.getcolkeyword(column, "MEASINFO")
    info["Ref"] = ref
    tab.putcolkeyword(column, "MEASINFO", info)


def write_antenna(ms, meta: MSMetadata) -> None:
    """ANTENNA: one row per antenna number 0..max (absent numbers left empty)."""
    from casacore import tables  # deferred: the MS extra is optional

    n = int(np.max(meta.antenna_numbers)) + 1
    names = [""] * n
    pos = np.zeros((n, 3))
    diam = np.zeros(n)
    diam[:] = float(np.median(meta.antenna_diameters))
    for k, num in enumerate(meta.antenna_numbers):
        names[num] = str(meta.antenna_names[k])
        pos[num] = meta.antenna_positions[k]
        diam[num] = meta.antenna_diameters[k]
    with tables.table(f"{ms}::ANTENNA", readonly=False, ack=False) as t:
        t.addrows(n)
        t.putcol("NAME", names)
        t.putcol("STATION", names)
        t.putcol("TYPE", ["GROUND-BASED"] * n)
        t.putcol("MOUNT", ["ALT-AZ"] * n)
        t.putcol("POSITION", pos)
        t.putcol("OFFSET", np.zeros((n, 3)))
        t.putcol("DISH_DIAMETER", diam)
        t.putcol("FLAG_ROW", np.array([not nm for nm in names]))
        _set_ref(t, "POSITION", "ITRF")


def write_feed(ms, meta: MSMetadata) -> None:
    """FEED: one row per antenna and spectral window, receptors from the pols."""
    from casacore import tables  # deferred: the MS extra is optional

    n_ant = int(np.max(meta.antenna_numbers)) + 1
    n_spw = len(meta.spw_freqs)
    feeds = sorted({c for p in meta.polarizations for c in p if c in "XYRL"})
    n_rec = len(feeds)
    rows = n_ant * n_spw
    with tables.table(f"{ms}::FEED", readonly=False, ack=False) as t:
        t.addrows(rows)
        t.putcol("ANTENNA_ID", np.repeat(np.arange(n_ant, dtype=np.int32), n_spw))
        t.putcol("SPECTRAL_WINDOW_ID", np.tile(np.arange(n_spw, dtype=np.int32), n_ant))
        t.putcol("FEED_ID", np.zeros(rows, dtype=np.int32))
        t.putcol("BEAM_ID", np.full(rows, -1, dtype=np.int32))
        t.putcol("BEAM_OFFSET", np.zeros((rows, n_rec, 2)))
        t.putcol("TIME", np.full(rows, float(np.median(meta.times_mjd_s))))
        t.putcol("INTERVAL", np.full(rows, _FOREVER))
        t.putcol("NUM_RECEPTORS", np.full(rows, n_rec, dtype=np.int32))
        t.putcol("POLARIZATION_TYPE", np.array([feeds] * rows, dtype=str))
        t.putcol(
            "POL_RESPONSE",
            np.broadcast_to(
                np.eye(n_rec, dtype=np.complex64), (rows, n_rec, n_rec)
            ).copy(),
        )
        t.putcol("POSITION", np.zeros((rows, 3)))
        t.putcol("RECEPTOR_ANGLE", np.zeros((rows, n_rec)))


def write_field(ms, meta: MSMetadata) -> None:
    """FIELD: one row per phase centre (ICRS)."""
    from casacore import tables  # deferred: the MS extra is optional

    n = meta.field_ra.size
    with tables.table(f"{ms}::FIELD", readonly=False, ack=False) as t:
        t.addrows(n)
        dirs = np.stack([meta.field_ra, meta.field_dec], axis=-1)[:, None, :]
        for col in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
            t.putcol(col, dirs)
            _set_ref(t, col, "ICRS")
        t.putcol("NAME", list(meta.field_names))
        t.putcol("CODE", [""] * n)
        t.putcol("NUM_POLY", np.zeros(n, dtype=np.int32))
        t.putcol("TIME", meta.field_times)
        t.putcol("SOURCE_ID", np.arange(n, dtype=np.int32))
        t.putcol("FLAG_ROW", np.zeros(n, dtype=bool))


def write_source(ms, meta: MSMetadata) -> None:
    """SOURCE (optional in the MS definition; CASA's tclean likes it)."""
    from casacore import tables  # deferred: the MS extra is optional

    desc = tables.complete_ms_desc("SOURCE")
    dminfo = tables.makedminfo(desc)
    n = meta.field_ra.size
    with tables.table(
        f"{ms}::SOURCE", tabledesc=desc, dminfo=dminfo, readonly=False, ack=False
    ) as t:
        t.addrows(n)
        t.putcol("SOURCE_ID", np.arange(n, dtype=np.int32))
        t.putcol("NAME", list(meta.field_names))
        t.putcol("TIME", meta.field_times)
        t.putcol("INTERVAL", np.full(n, _FOREVER))
        t.putcol("SPECTRAL_WINDOW_ID", np.full(n, -1, dtype=np.int32))
        t.putcol("NUM_LINES", np.zeros(n, dtype=np.int32))
        t.putcol("DIRECTION", np.stack([meta.field_ra, meta.field_dec], axis=-1))
        t.putcol("PROPER_MOTION", np.zeros((n, 2)))
        _set_ref(t, "DIRECTION", "ICRS")
    with tables.table(ms, readonly=False, ack=False) as main:
        main.putkeyword("SOURCE", f"Table: {ms}/SOURCE")


def write_spectral_window(ms, meta: MSMetadata) -> None:
    """SPECTRAL_WINDOW: one row per window, channels ascending, TOPO."""
    from casacore import tables  # deferred: the MS extra is optional

    with tables.table(f"{ms}::SPECTRAL_WINDOW", readonly=False, ack=False) as t:
        for k, (f, w) in enumerate(zip(meta.spw_freqs, meta.spw_widths)):
            t.addrows(1)
            t.putcell("NUM_CHAN", k, f.size)
            t.putcell("NAME", k, f"SPW{k}")
            t.putcell("CHAN_FREQ", k, f)
            t.putcell("CHAN_WIDTH", k, w)
            t.putcell("EFFECTIVE_BW", k, w)
            t.putcell("RESOLUTION", k, w)
            t.putcell("TOTAL_BANDWIDTH", k, float(np.sum(w)))
            t.putcell("REF_FREQUENCY", k, float(f[0]))
            t.putcell("MEAS_FREQ_REF", k, _TOPO)
            t.putcell("NET_SIDEBAND", k, 1)
            t.putcell("FREQ_GROUP", k, 0)
            t.putcell("FREQ_GROUP_NAME", k, "")
            t.putcell("IF_CONV_CHAIN", k, 0)
            t.putcell("FLAG_ROW", k, False)


def write_polarization(ms, meta: MSMetadata) -> None:
    """POLARIZATION: one row with the correlation types and receptor products."""
    from casacore import tables  # deferred: the MS extra is optional

    feeds = sorted({c for p in meta.polarizations for c in p if c in "XYRL"})
    products = np.array(
        [
            [feeds.index(p[0]), feeds.index(p[1])] if len(p) == 2 else [0, 0]
            for p in meta.polarizations
        ],
        dtype=np.int32,
    )
    with tables.table(f"{ms}::POLARIZATION", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("NUM_CORR", 0, len(meta.polarizations))
        t.putcell(
            "CORR_TYPE",
            0,
            np.array([CASA_CORR_TYPES[p] for p in meta.polarizations], dtype=np.int32),
        )
        t.putcell("CORR_PRODUCT", 0, products)
        t.putcell("FLAG_ROW", 0, False)


def write_data_description(ms, meta: MSMetadata) -> None:
    """DATA_DESCRIPTION: window k with polarization setup 0."""
    from casacore import tables  # deferred: the MS extra is optional

    n = len(meta.spw_freqs)
    with tables.table(f"{ms}::DATA_DESCRIPTION", readonly=False, ack=False) as t:
        t.addrows(n)
        t.putcol("SPECTRAL_WINDOW_ID", np.arange(n, dtype=np.int32))
        t.putcol("POLARIZATION_ID", np.zeros(n, dtype=np.int32))
        t.putcol("FLAG_ROW", np.zeros(n, dtype=bool))


def write_observation(ms, meta: MSMetadata) -> None:
    """OBSERVATION: telescope name (CASA must know it), time range, observer."""
    from casacore import tables  # deferred: the MS extra is optional

    half = 0.5 * meta.intervals
    trange = np.array(
        [np.min(meta.times_mjd_s - half), np.max(meta.times_mjd_s + half)]
    )
    with tables.table(f"{ms}::OBSERVATION", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("TELESCOPE_NAME", 0, meta.telescope_name)
        t.putcell("TIME_RANGE", 0, trange)
        t.putcell("OBSERVER", 0, meta.observer)
        t.putcell("PROJECT", 0, meta.project)
        t.putcell("RELEASE_DATE", 0, float(trange[1]))
        t.putcell("SCHEDULE_TYPE", 0, "")
        t.putcell("FLAG_ROW", 0, False)
        # Non-standard but read by pyuvdata: the array centre.
        t.addcols(
            tables.makearrcoldesc(
                "TELESCOPE_LOCATION", 0.0, shape=[3], valuetype="double"
            )
        )
        t.putcell(
            "TELESCOPE_LOCATION",
            0,
            np.asarray(meta.telescope_location, dtype=np.float64),
        )


def write_history(ms, meta: MSMetadata) -> None:
    """HISTORY: one row per message."""
    from casacore import tables  # deferred: the MS extra is optional

    msgs = list(meta.history) or ["written by dsa110"]
    n = len(msgs)
    with tables.table(f"{ms}::HISTORY", readonly=False, ack=False) as t:
        t.addrows(n)
        t.putcol("TIME", np.full(n, float(meta.times_mjd_s[0])))
        t.putcol("OBSERVATION_ID", np.zeros(n, dtype=np.int32))
        t.putcol("MESSAGE", msgs)
        t.putcol("PRIORITY", ["NORMAL"] * n)
        t.putcol("ORIGIN", ["dsa110"] * n)
        t.putcol("OBJECT_ID", np.zeros(n, dtype=np.int32))
        t.putcol("APPLICATION", ["dsa110"] * n)
        for k in range(n):
            t.putcell("CLI_COMMAND", k, np.array([""]))
            t.putcell("APP_PARAMS", k, np.array([""]))


def write_pointing(ms, meta: MSMetadata) -> None:
    """POINTING: one row per antenna and integration (transit: the meridian)."""
    from casacore import tables  # deferred: the MS extra is optional

    n_ant = int(np.max(meta.antenna_numbers)) + 1
    n_t = meta.times_mjd_s.size
    rows = n_ant * n_t
    direction = np.zeros((rows, 1, 2))
    direction[:, 0, 0] = np.repeat(meta.pointing_ra, n_ant)
    direction[:, 0, 1] = np.repeat(meta.pointing_dec, n_ant)
    with tables.table(f"{ms}::POINTING", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("DIRECTION", 0, direction[0])
        t.putcell("TARGET", 0, direction[0])
        t.addrows(rows - 1)
        t.putcol("ANTENNA_ID", np.tile(np.arange(n_ant, dtype=np.int32), n_t))
        t.putcol("TIME", np.repeat(meta.times_mjd_s, n_ant))
        t.putcol("INTERVAL", np.repeat(meta.intervals, n_ant))
        t.putcol("NAME", ["TRANSIT"] * rows)
        t.putcol("NUM_POLY", np.zeros(rows, dtype=np.int32))
        t.putcol("TIME_ORIGIN", np.repeat(meta.times_mjd_s, n_ant))
        t.putcol("DIRECTION", direction)
        t.putcol("TARGET", direction)
        t.putcol("TRACKING", np.zeros(rows, dtype=bool))
        _set_ref(t, "DIRECTION", "ICRS")
        _set_ref(t, "TARGET", "ICRS")


def write_subtables(ms, meta: MSMetadata) -> None:
    """Fill every subtable of a skeleton MS (as made by ``casacore.tables.default_ms``).

    Parameters
    ----------
    ms : str
        Path of the Measurement Set.
    meta : MSMetadata
        What to write.
    """
    ms = str(ms)
    write_antenna(ms, meta)
    write_feed(ms, meta)
    write_field(ms, meta)
    write_source(ms, meta)
    write_spectral_window(ms, meta)
    write_polarization(ms, meta)
    write_data_description(ms, meta)
    write_observation(ms, meta)
    write_history(ms, meta)
    write_pointing(ms, meta)
