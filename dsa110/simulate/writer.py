"""Write UVH5 files the way the DSA-110 correlator does.

The layout is the old "spw axis" UVH5 of the correlator nodes
(``dsa110-meridian-fs``): every per-baseline-time dataset is created empty and
resizable (``maxshape=(None, ...)``, h5py auto-chunking, no compression) and one
integration is appended at a time (resize, then write), with ``Nblts`` and
``Ntimes`` updated after each. UVW is float32. Strings are fixed-length bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from dsa110.telescope.antennas import DISH_DIAMETER_M, N_STATIONS, SITE_NAME

__all__ = ["CorrelatorFile", "applied_delays_string"]

_PER_BLT_HEADER = (
    "time_array",
    "integration_time",
    "uvw_array",
    "ant_1_array",
    "ant_2_array",
)


def applied_delays_string(delays_ns) -> str:
    """Format the ``applied_delays_ns`` extra keyword: space-separated integers.

    Parameters
    ----------
    delays_ns : array-like of int
        ``(n_stations, 2)`` delays per station and polarization, ns.

    Returns
    -------
    str
        Row-major, as the correlator writes it (read back with
        ``np.array(s.split()).astype(int).reshape(-1, 2)``).
    """
    return " ".join(str(int(d)) for d in np.asarray(delays_ns).ravel())


class CorrelatorFile:
    """One subband file being written, integration by integration.

    The file is written under a temporary name in the same directory and renamed
    into place by :meth:`close` (never left half-written under its final name).

    Parameters
    ----------
    path : str or Path
        Final path, ``.../YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``.
    site : Site
        Telescope site (latitude/longitude written in degrees).
    antenna_positions : numpy.ndarray
        ``(117, 3)`` float64 ECEF positions relative to the site, m.
    ant1, ant2 : numpy.ndarray
        ``(baseline_id,)`` antenna NUMBERS (station − 1) in correlator order.
    freqs_hz : numpy.ndarray
        ``(frequency,)`` float64, descending (file order).
    channel_width_hz : float
        Positive channel width.
    pointing_dec : float
        Pointing declination, radians (``extra_keywords/phase_center_dec``).
    applied_delays : str
        ``extra_keywords/applied_delays_ns``.
    fs_table : str
        ``extra_keywords/fs_table``.
    history : str
        ``Header/history``.
    """

    def __init__(
        self,
        path,
        *,
        site,
        antenna_positions,
        ant1,
        ant2,
        freqs_hz,
        channel_width_hz,
        pointing_dec,
        applied_delays,
        fs_table,
        history,
    ):
        self.path = Path(path)
        self.tmp_path = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._ant1 = np.asarray(ant1, dtype=np.int64)
        self._ant2 = np.asarray(ant2, dtype=np.int64)
        self.n_bl = self._ant1.size
        n_freq = len(freqs_hz)
        self._fh = h5py.File(self.tmp_path, "w")
        self._n_rows = 0
        self._constants = {}
        try:
            self._init_header(
                site,
                antenna_positions,
                freqs_hz,
                channel_width_hz,
                pointing_dec,
                applied_delays,
                fs_table,
                history,
            )
            data = self._fh.create_group("Data")
            for name, dtype in (
                ("visdata", np.complex64),
                ("flags", np.bool_),
                ("nsamples", np.float32),
            ):
                data.create_dataset(
                    name,
                    (0, 1, n_freq, 2),
                    maxshape=(None, 1, n_freq, 2),
                    dtype=dtype,
                    chunks=True,
                )
            header = self._fh["Header"]
            self._dsets = {name: header[name] for name in _PER_BLT_HEADER}
            self._dsets.update({name: data[name] for name in data})
            self._nblts, self._ntimes = header["Nblts"], header["Ntimes"]
        except BaseException:
            self.abort()
            raise

    def _init_header(
        self,
        site,
        antenna_positions,
        freqs_hz,
        channel_width_hz,
        pointing_dec,
        applied_delays,
        fs_table,
        history,
    ):
        h = self._fh.create_group("Header")
        nants_data = np.unique(np.concatenate([self._ant1, self._ant2])).size
        h["latitude"] = np.float64(np.degrees(site.latitude_rad))
        h["longitude"] = np.float64(np.degrees(site.longitude_rad))
        h["altitude"] = np.float64(site.height_m)
        h["telescope_name"] = np.bytes_(SITE_NAME)
        h["instrument"] = np.bytes_("DSA")
        h["object_name"] = np.bytes_("search")
        h["history"] = np.bytes_(history)
        h["phase_type"] = np.bytes_("drift")
        h["version"] = np.bytes_("1.0")
        h["vis_units"] = np.bytes_("uncalib")
        h["Nants_data"] = np.int64(nants_data)
        h["Nants_telescope"] = np.int64(N_STATIONS)
        h["antenna_diameters"] = np.full(N_STATIONS, DISH_DIAMETER_M)
        h["antenna_names"] = np.array(
            [str(n + 1) for n in range(N_STATIONS)], dtype="S4"
        )
        h["antenna_numbers"] = np.arange(N_STATIONS, dtype=np.int64)
        h["antenna_positions"] = np.asarray(antenna_positions, dtype=np.float64)
        h["Nbls"] = np.int64(self.n_bl)
        h["Nblts"] = np.int64(0)
        h["Nfreqs"] = np.int64(len(freqs_hz))
        h["Npols"] = np.int64(2)
        h["Ntimes"] = np.int64(0)
        h["Nspws"] = np.int64(1)
        h["freq_array"] = np.asarray(freqs_hz, dtype=np.float64)[None, :]
        h["channel_width"] = np.float64(abs(channel_width_hz))
        h["spw_array"] = np.array([1], dtype=np.int64)
        h["polarization_array"] = np.array([-5, -6], dtype=np.int64)
        for name, shape, dtype in (
            ("time_array", (0,), np.float64),
            ("integration_time", (0,), np.float64),
            ("uvw_array", (0, 3), np.float32),
            ("ant_1_array", (0,), np.int64),
            ("ant_2_array", (0,), np.int64),
        ):
            h.create_dataset(
                name, shape, maxshape=(None,) + shape[1:], dtype=dtype, chunks=True
            )
        extra = h.create_group("extra_keywords")
        extra["phase_center_dec"] = np.float64(pointing_dec)
        extra["ha_phase_center"] = np.float64(0.0)
        extra["phase_center_epoch"] = np.bytes_("HADEC")
        extra["fs_table"] = np.bytes_(fs_table)
        extra["applied_delays_ns"] = np.bytes_(applied_delays)

    def append(
        self, *, time_jd, integration_time_s, uvw, visdata, flags=None, nsamples=None
    ):
        """Append one integration (``n_bl`` rows), resizing every per-blt dataset.

        Parameters
        ----------
        time_jd : float
            Integration centre, JD (UTC).
        integration_time_s : float
            Integration length, s.
        uvw : numpy.ndarray
            ``(baseline_id, 3)`` float32.
        visdata : numpy.ndarray
            ``(baseline_id, 1, frequency, 2)`` complex64.
        flags : numpy.ndarray, optional
            ``(baseline_id, 1, frequency, 2)`` bool; all False by default.
        nsamples : numpy.ndarray, optional
            ``(baseline_id, 1, frequency, 2)`` float32; all 1.0 by default.
        """
        old = self._n_rows
        new = old + self.n_bl
        rows = slice(old, new)
        if flags is None:
            flags = self._constant("flags", visdata.shape, np.bool_, False)
        if nsamples is None:
            nsamples = self._constant("nsamples", visdata.shape, np.float32, 1.0)
        for name, values in (
            ("time_array", np.full(self.n_bl, time_jd, np.float64)),
            ("integration_time", np.full(self.n_bl, integration_time_s, np.float64)),
            ("uvw_array", np.asarray(uvw, dtype=np.float32)),
            ("ant_1_array", self._ant1),
            ("ant_2_array", self._ant2),
            ("visdata", visdata),
            ("flags", flags),
            ("nsamples", nsamples),
        ):
            dset = self._dsets[name]
            dset.resize(new, axis=0)
            dset[rows] = values
        self._nblts[()] = new
        self._ntimes[()] = new // self.n_bl
        self._n_rows = new

    def _constant(self, name, shape, dtype, value):
        """Return a cached constant array (default flags, nsamples) of ``shape``."""
        arr = self._constants.get(name)
        if arr is None or arr.shape != shape:
            arr = self._constants[name] = np.full(shape, value, dtype)
        return arr

    def close(self) -> Path:
        """Close the file and rename it to its final name.

        Returns
        -------
        Path
            The final path.
        """
        self._fh.close()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file."""
        try:
            self._fh.close()
        finally:
            self.tmp_path.unlink(missing_ok=True)
