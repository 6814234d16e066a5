"""Reading UVH5 files: cached header metadata and lazily indexed data arrays.

Supported: single-spectral-window UVH5 files (pyuvdata's format, both the old
shapes with an spw axis, ``(Nblts, 1, Nfreqs, Npols)``, and the current
``(Nblts, Nfreqs, Npols)``) whose baseline-times are time-major and rectangular
(every integration holds the same baselines in the same order), with frequencies
monotonic within the file, and whose phasing is drift/unprojected (DSA-110's
meridian fringe-stopping, HERA's zenith drift) or sidereal (ICRS/FK5 J2000):
one phase centre, or one per integration (as dsa110's UVH5 writer stores
meridian-phased data). Anything else raises
:class:`~dsa110.errors.UnsupportedLayoutError` saying what is not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsa110.errors import CorruptFileError, NotUVH5Error, UnsupportedLayoutError
from dsa110.io.h5handle import HDF5_DAMAGE, H5File
from dsa110.io.uvh5_header import (
    extra_keywords,
    has,
    node,
    optional,
    phase_info,
    text,
    value,
)
from dsa110.schema import POLARIZATION_CODES

__all__ = ["UVH5Meta", "read_uvh5_meta", "UVH5DataArray", "DATA_FIELDS"]

#: dataset variable -> (HDF5 dataset, numpy dtype)
DATA_FIELDS = {
    "VISIBILITY": ("Data/visdata", np.complex64),
    "FLAG": ("Data/flags", np.bool_),
    "WEIGHT": ("Data/nsamples", np.float32),
}

_JD_UNIX_EPOCH = 2440587.5
_REQUIRED_HEADER = (
    "latitude",
    "longitude",
    "altitude",
    "telescope_name",
    "Nants_telescope",
    "ant_1_array",
    "ant_2_array",
    "antenna_names",
    "antenna_numbers",
    "antenna_positions",
    "Nbls",
    "Nblts",
    "Nfreqs",
    "Npols",
    "Ntimes",
    "Nspws",
    "time_array",
    "integration_time",
    "freq_array",
    "channel_width",
    "polarization_array",
)


@dataclass(frozen=True)
class UVH5Meta:
    """Header metadata of one UVH5 file, in the dataset's conventions.

    Attributes
    ----------
    path : str
        The file.
    n_time, n_baseline, n_freq, n_pol : int
        Sizes.
    time : numpy.ndarray
        ``(n_time,)`` float64 integration centres, unix seconds UTC.
    time_jd : numpy.ndarray
        ``(n_time,)`` float64, the file's JD values.
    integration_time : numpy.ndarray
        ``(n_time,)`` float64 seconds.
    antenna1, antenna2 : numpy.ndarray
        ``(n_baseline,)`` int antenna numbers.
    freq_file : numpy.ndarray
        ``(n_freq,)`` float64 Hz in the file's order.
    descending : bool
        True when the file's frequencies descend (DSA-110).
    channel_width : numpy.ndarray
        ``(n_freq,)`` float64 Hz, ascending-frequency order.
    polarizations : tuple of str
        Labels, e.g. ``("XX", "YY")``.
    antenna_numbers, antenna_names, antenna_positions, antenna_diameters
        Telescope antennas; positions are ECEF relative to the site.
    latitude, longitude, altitude : float
        Site, degrees and metres.
    telescope_name, instrument : str
    phase_type : str
        ``"drift"`` or ``"sidereal"``.
    pointing_dec : float
        Radians: ``extra_keywords/phase_center_dec`` (the correlator's) or
        ``extra_keywords/pointing_dec`` (dsa110's UVH5 writer's) when present,
        else the site latitude (a zenith drift scan).
    phase_centers : numpy.ndarray or None
        ``(n_time, 2)`` float64 ICRS (ra, dec) radians of each integration's
        phase centre for sidereal-phased files (one catalog entry, or one per
        integration as dsa110's UVH5 writer stores meridian phasing); None for
        drift scans.
    spw_axis : bool
        Whether data have the old ``(Nblts, 1, Nfreqs, Npols)`` shape.
    extra_keywords : dict
    """

    path: str
    n_time: int
    n_baseline: int
    n_freq: int
    n_pol: int
    time: np.ndarray
    time_jd: np.ndarray
    integration_time: np.ndarray
    antenna1: np.ndarray
    antenna2: np.ndarray
    freq_file: np.ndarray
    descending: bool
    channel_width: np.ndarray
    polarization_codes: tuple
    antenna_numbers: np.ndarray
    antenna_names: np.ndarray
    antenna_positions: np.ndarray
    antenna_diameters: np.ndarray
    latitude: float
    longitude: float
    altitude: float
    telescope_name: str
    instrument: str
    phase_type: str
    pointing_dec: float
    phase_centers: np.ndarray | None
    spw_axis: bool
    extra_keywords: dict = field(default_factory=dict)

    @property
    def frequency(self) -> np.ndarray:
        """``(n_freq,)`` float64 Hz, ascending."""
        return self.freq_file[::-1] if self.descending else self.freq_file

    @property
    def fixed_center(self) -> tuple | None:
        """ICRS (ra, dec) radians when every integration has the same centre."""
        c = self.phase_centers
        if c is None or not np.all(c == c[:1]):
            return None
        return float(c[0, 0]), float(c[0, 1])

    @property
    def polarizations(self) -> tuple:
        """Polarization labels, e.g. ``("XX", "YY")``."""
        return tuple(POLARIZATION_CODES[int(c)] for c in self.polarization_codes)

    @property
    def data_shape(self) -> tuple:
        """``(n_time, n_baseline, n_freq, n_pol)``."""
        return (self.n_time, self.n_baseline, self.n_freq, self.n_pol)


def read_uvh5_meta(path) -> UVH5Meta:
    """Read and check the header of a UVH5 file (no visibilities are read).

    Parameters
    ----------
    path : str or Path
        A UVH5 file.

    Returns
    -------
    UVH5Meta

    Raises
    ------
    NotUVH5Error
        Not HDF5, or HDF5 without the UVH5 ``Header``/``Data`` groups.
    CorruptFileError
        Truncated or inconsistent: missing fields, data shorter than the header says.
    UnsupportedLayoutError
        Several spectral windows, non-rectangular or baseline-major ordering,
        unsupported phasing, unknown polarizations.
    """
    handle = H5File(path)
    path = handle.path
    fh = handle.open()
    with handle.lock:
        if not (has(fh, "Header", path, "") and has(fh, "Data", path, "")):
            raise NotUVH5Error(
                path, "HDF5 file without the UVH5 'Header' and 'Data' groups"
            )
        hdr = node(fh, "Header", path, "")
        missing = [k for k in _REQUIRED_HEADER if not has(hdr, k, path)]
        if missing:
            raise CorruptFileError(
                path, "required header field is missing", field=f"Header/{missing[0]}"
            )
        n_blt = int(value(hdr, "Nblts", path))
        n_bl = int(value(hdr, "Nbls", path))
        n_time = int(value(hdr, "Ntimes", path))
        n_freq = int(value(hdr, "Nfreqs", path))
        n_pol = int(value(hdr, "Npols", path))
        n_spw = int(value(hdr, "Nspws", path))
        if n_spw != 1:
            raise UnsupportedLayoutError(
                path,
                f"Nspws = {n_spw}; only one spectral window is supported",
                field="Header/Nspws",
            )
        time_jd = np.asarray(value(hdr, "time_array", path), dtype=np.float64)
        ant1 = np.asarray(value(hdr, "ant_1_array", path))
        ant2 = np.asarray(value(hdr, "ant_2_array", path))
        for name, arr in (
            ("time_array", time_jd),
            ("ant_1_array", ant1),
            ("ant_2_array", ant2),
        ):
            if arr.shape != (n_blt,):
                raise CorruptFileError(
                    path,
                    f"shape {arr.shape}, expected ({n_blt},) from Nblts",
                    field=f"Header/{name}",
                )
        if n_time * n_bl != n_blt:
            raise UnsupportedLayoutError(
                path,
                f"Nblts = {n_blt} is not Ntimes × Nbls = {n_time} × {n_bl}: "
                "non-rectangular baseline-time layouts are not supported",
                field="Header/Nblts",
            )
        t2 = time_jd.reshape(n_time, n_bl)
        a1 = ant1.reshape(n_time, n_bl)
        a2 = ant2.reshape(n_time, n_bl)
        if not (
            np.all(t2 == t2[:, :1]) and np.all(a1 == a1[:1]) and np.all(a2 == a2[:1])
        ):
            raise UnsupportedLayoutError(
                path,
                "baseline-times are not time-major with the same baselines in every "
                "integration; only that layout is supported",
                field="Header/time_array",
            )
        times_jd = t2[:, 0].copy()
        if n_time > 1 and not np.all(np.diff(times_jd) > 0):
            raise UnsupportedLayoutError(
                path, "integration times are not increasing", field="Header/time_array"
            )
        freq = np.asarray(value(hdr, "freq_array", path), dtype=np.float64)
        freq = freq.reshape(-1)
        if freq.shape != (n_freq,):
            raise CorruptFileError(
                path,
                f"{freq.size} frequencies, Nfreqs = {n_freq}",
                field="Header/freq_array",
            )
        dfreq = np.diff(freq)
        if n_freq > 1 and not (np.all(dfreq > 0) or np.all(dfreq < 0)):
            raise UnsupportedLayoutError(
                path, "frequencies are not monotonic", field="Header/freq_array"
            )
        descending = bool(n_freq > 1 and dfreq[0] < 0)
        width = np.abs(
            np.broadcast_to(
                np.asarray(value(hdr, "channel_width", path), dtype=np.float64).reshape(
                    -1
                ),
                (n_freq,),
            )
        )
        if descending:
            width = width[::-1]
        pols = tuple(
            int(p)
            for p in np.asarray(value(hdr, "polarization_array", path)).reshape(-1)
        )
        if len(pols) != n_pol:
            raise CorruptFileError(
                path,
                f"{len(pols)} polarizations, Npols = {n_pol}",
                field="Header/polarization_array",
            )
        unknown = [p for p in pols if p not in POLARIZATION_CODES]
        if unknown:
            raise UnsupportedLayoutError(
                path,
                f"unknown polarization codes {unknown}",
                field="Header/polarization_array",
            )
        int_time = np.asarray(
            value(hdr, "integration_time", path), dtype=np.float64
        ).reshape(-1)
        int_time = (
            int_time.reshape(n_time, n_bl)[:, 0].copy()
            if int_time.size == n_blt
            else np.broadcast_to(int_time, (n_time,)).copy()
        )
        extra = extra_keywords(hdr, path)
        latitude = float(value(hdr, "latitude", path))
        phase_type, phase_centers = phase_info(hdr, path, n_time, n_bl)
        # The correlator's name, else the one dsa110's UVH5 writer uses.
        pointing = extra.get("phase_center_dec", extra.get("pointing_dec"))
        pointing_dec = float(pointing) if pointing is not None else np.radians(latitude)
        ant_numbers = np.asarray(value(hdr, "antenna_numbers", path)).astype(np.int64)
        ant_names = np.array(
            [text(n) for n in np.asarray(value(hdr, "antenna_names", path)).reshape(-1)]
        )
        ant_pos = np.asarray(value(hdr, "antenna_positions", path), dtype=np.float64)
        n_ant = int(value(hdr, "Nants_telescope", path))
        if (
            ant_numbers.shape != (n_ant,)
            or ant_names.shape != (n_ant,)
            or ant_pos.shape != (n_ant, 3)
        ):
            raise CorruptFileError(
                path,
                "antenna tables disagree with Nants_telescope",
                field="Header/antenna_positions",
            )
        if not np.all(np.isin(np.unique(np.concatenate([a1[0], a2[0]])), ant_numbers)):
            raise CorruptFileError(
                path,
                "baselines name antennas absent from antenna_numbers",
                field="Header/ant_1_array",
            )
        diam = np.asarray(
            optional(hdr, "antenna_diameters", path, np.nan), dtype=np.float64
        )
        diam = np.broadcast_to(diam.reshape(-1), (n_ant,)).copy()
        data = node(fh, "Data", path, "")
        for var, (dname, _) in DATA_FIELDS.items():
            key = dname.split("/")[1]
            if not has(data, key, path, "Data"):
                raise CorruptFileError(path, "data set is missing", field=dname)
            shape = node(data, key, path, "Data").shape
            expect = (
                (n_blt, 1, n_freq, n_pol) if len(shape) == 4 else (n_blt, n_freq, n_pol)
            )
            if shape != expect:
                what = "truncated" if shape[:1] != expect[:1] else "wrong shape"
                raise CorruptFileError(
                    path, f"{what}: shape {shape}, header implies {expect}", field=dname
                )
            if var == "VISIBILITY":
                spw_axis = len(shape) == 4
    return UVH5Meta(
        path=path,
        n_time=n_time,
        n_baseline=n_bl,
        n_freq=n_freq,
        n_pol=n_pol,
        time=(times_jd - _JD_UNIX_EPOCH) * 86400.0,
        time_jd=times_jd,
        integration_time=int_time,
        antenna1=a1[0].copy(),
        antenna2=a2[0].copy(),
        freq_file=freq,
        descending=descending,
        channel_width=width.copy(),
        polarization_codes=pols,
        antenna_numbers=ant_numbers,
        antenna_names=ant_names,
        antenna_positions=ant_pos,
        antenna_diameters=diam,
        latitude=latitude,
        longitude=float(value(hdr, "longitude", path)),
        altitude=float(value(hdr, "altitude", path)),
        telescope_name=text(value(hdr, "telescope_name", path)),
        instrument=text(optional(hdr, "instrument", path, "")),
        phase_type=phase_type,
        pointing_dec=pointing_dec,
        phase_centers=phase_centers,
        spw_axis=spw_axis,
        extra_keywords=extra,
    )


class UVH5DataArray:
    """One data variable of one UVH5 file, lazily indexed in the dataset layout.

    Presents ``(time, baseline_id, frequency, polarization)`` with frequency
    ascending; indexing reads only the integrations asked for, straight from the
    HDF5 dataset with ``read_direct``, and reverses the channel axis as a view.

    Parameters
    ----------
    meta : UVH5Meta
        The file's metadata.
    variable : {"VISIBILITY", "FLAG", "WEIGHT"}
        Which data set.
    """

    __slots__ = (
        "handle",
        "dataset",
        "dtype",
        "shape",
        "spw_axis",
        "descending",
        "n_baseline",
    )

    def __init__(self, meta: UVH5Meta, variable: str):
        dname, dtype = DATA_FIELDS[variable]
        self.handle = H5File(meta.path)
        self.dataset = dname
        self.dtype = np.dtype(dtype)
        self.shape = meta.data_shape
        self.spw_axis = meta.spw_axis
        self.descending = meta.descending
        self.n_baseline = meta.n_baseline

    @property
    def ndim(self) -> int:
        return 4

    def __reduce__(self):
        return (
            _rebuild_array,
            (
                self.handle,
                self.dataset,
                self.dtype,
                self.shape,
                self.spw_axis,
                self.descending,
            ),
        )

    def __getitem__(self, key):
        tkey, rest = _split_key(key, self.shape)
        # Read the contiguous range of integrations that covers the time key,
        # then apply the key relative to that range.
        if isinstance(tkey, slice):
            start, stop, step = tkey.indices(self.shape[0])
            idx = np.arange(start, stop, step)
        else:
            idx = np.atleast_1d(np.arange(self.shape[0])[tkey])
        if idx.size:
            t0, t1 = int(idx.min()), int(idx.max()) + 1
        else:
            t0 = t1 = 0
        arr = self._read_times(t0, t1)
        if isinstance(tkey, int | np.integer):
            local = int(idx[0]) - t0
        elif isinstance(tkey, slice) and (tkey.step in (None, 1) or idx.size == 0):
            local = slice(None)
        else:
            local = idx - t0
        return arr[(local, *rest)]

    def _read_times(self, t0: int, t1: int) -> np.ndarray:
        """Integrations ``t0:t1`` as a C-contiguous ``(t1 - t0, baseline, frequency↑, pol)``.

        Plain (chunked, unfiltered) data sets whose stored type is the dataset's
        are copied chunk by chunk from a memory map of the file straight into
        the final, frequency-ascending layout by a Numba kernel (no HDF5 call,
        no lock, no intermediate copy). Anything else (compressed, contiguous,
        other stored types) is read with h5py and converted.
        """
        n_rows = (t1 - t0) * self.n_baseline
        out = np.empty((t1 - t0, self.n_baseline, *self.shape[2:]), dtype=self.dtype)
        if n_rows == 0:
            return out
        r0, r1 = t0 * self.n_baseline, t1 * self.n_baseline
        try:
            layout = self.handle.chunk_layout(self.dataset)
            if layout is not None and layout.shape[0] < r1:
                raise CorruptFileError(
                    self.handle.path,
                    f"truncated: {layout.shape[0]} rows, need {r1}",
                    field=self.dataset,
                )
            if layout is not None and layout.dtype == self.dtype:
                _copy_chunks(
                    self.handle, layout, r0, r1, out, descending=self.descending
                )
                return out
            self._read_h5py(r0, r1, out)
        except (OSError, KeyError) as exc:
            raise CorruptFileError(
                self.handle.path,
                f"cannot read integrations {t0}:{t1}: {exc}",
                field=self.dataset,
            ) from exc
        return out

    def read_into(self, out: np.ndarray, t0: int, t1: int, f_offset: int) -> None:
        """Read integrations ``t0:t1`` into channels ``f_offset:`` of a larger array.

        Parameters
        ----------
        out : numpy.ndarray
            C-contiguous ``(t1 - t0, baseline, frequency, polarization)`` of this
            variable's dtype, spanning this file's channels and maybe others.
        t0, t1 : int
            Integrations of this file.
        f_offset : int
            Channel of ``out`` where this file's lowest frequency goes.
        """
        r0, r1 = t0 * self.n_baseline, t1 * self.n_baseline
        n_freq = self.shape[2]
        try:
            layout = self.handle.chunk_layout(self.dataset)
            if (
                layout is not None
                and layout.shape[0] >= r1
                and layout.dtype == self.dtype
            ):
                _copy_chunks(
                    self.handle,
                    layout,
                    r0,
                    r1,
                    out,
                    descending=self.descending,
                    f_offset=f_offset,
                )
                return
        except (OSError, KeyError) as exc:
            raise CorruptFileError(
                self.handle.path,
                f"cannot read integrations {t0}:{t1}: {exc}",
                field=self.dataset,
            ) from exc
        out[:, :, f_offset : f_offset + n_freq] = self._read_times(t0, t1)

    def _read_h5py(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Fallback: h5py ``read_direct`` (with type conversion), then flip into ``out``."""
        n_rows = r1 - r0
        file_shape = (
            (n_rows, 1, *self.shape[2:]) if self.spw_axis else (n_rows, *self.shape[2:])
        )
        path = self.handle.path
        fh = self.handle.open()
        with self.handle.lock:
            dset = node(fh, self.dataset, path, "")
            if dset.shape[0] < r1:
                raise CorruptFileError(
                    path,
                    f"truncated: {dset.shape[0]} rows, need {r1}",
                    field=self.dataset,
                )
            buf = (
                np.empty(file_shape, dtype=self.dtype)
                if self.descending
                else out.reshape(file_shape)
            )
            try:
                dset.read_direct(buf, source_sel=np.s_[r0:r1])
            except HDF5_DAMAGE as exc:
                raise CorruptFileError(
                    path, f"cannot read rows {r0}:{r1}: {exc}", field=self.dataset
                ) from exc
        if self.descending:
            np.copyto(
                out.reshape(n_rows, *self.shape[2:]),
                buf.reshape(n_rows, *self.shape[2:])[:, ::-1, :],
            )


#: Unsigned integer type that moves an element of each size bit for bit, and
#: how many of them make one element.
_WORDS = {
    1: (np.uint8, 1),
    2: (np.uint16, 1),
    4: (np.uint32, 1),
    8: (np.uint64, 1),
    16: (np.uint64, 2),
}
_copy_kernel = None


def _copy_chunks_py(
    buf,
    chunk_offsets,
    element_offsets,
    chunk_shape,
    r0,
    r1,
    descending,
    n_freq,
    f_offset,
    out,
):
    """Copy the chunks that overlap rows ``r0:r1`` into ``out`` (compiled by Numba).

    ``buf`` (n,) uint: the file as words; ``chunk_offsets`` (chunk, 3) int64:
    each chunk's first (row, freq, pol word); ``element_offsets`` (chunk,)
    int64: its position in ``buf``; ``chunk_shape`` (3,) int64; ``n_freq``
    channels of the data set, written to channels ``f_offset:f_offset +
    n_freq`` of ``out`` (r1 − r0, freq, pol words) uint, C-contiguous, in
    reverse order when ``descending``. Chunks are C-ordered (row, freq, pol words)
    blocks. Flat indices keep the inner loop to one load and one store.
    """
    cr, cf, cp = chunk_shape[0], chunk_shape[1], chunk_shape[2]
    n_pw = out.shape[2]
    flat = out.reshape(-1)
    row_stride = out.shape[1] * n_pw
    f_step = -n_pw if descending else n_pw
    for k in range(chunk_offsets.shape[0]):
        row0 = chunk_offsets[k, 0]
        if row0 >= r1 or row0 + cr <= r0:
            continue
        f0 = chunk_offsets[k, 1]
        p0 = chunk_offsets[k, 2]
        base = element_offsets[k]
        ia = max(r0 - row0, 0)
        ib = min(r1 - row0, cr)
        jb = min(cf, n_freq - f0)
        qb = min(cp, n_pw - p0)
        first_f = f_offset + (n_freq - 1 - f0 if descending else f0)
        for i in range(ia, ib):
            dst = (row0 + i - r0) * row_stride + first_f * n_pw + p0
            src = base + i * cf * cp
            if qb == 1:
                for _ in range(jb):
                    flat[dst] = buf[src]
                    dst += f_step
                    src += cp
            else:
                for _ in range(jb):
                    for q in range(qb):
                        flat[dst + q] = buf[src + q]
                    dst += f_step
                    src += cp
    return out


def _copy_chunks(handle, layout, r0, r1, out, *, descending, f_offset=0):
    """Fill ``out`` ``(time, baseline, freq, pol)`` with rows ``r0:r1`` of a data set.

    Parameters
    ----------
    handle : dsa110.io.h5handle.H5File
        The file.
    layout : dsa110.io.h5handle.ChunkLayout
        Chunk positions of the data set (3-D, or 4-D with a length-1 spw axis).
    r0, r1 : int
        Baseline-time rows to copy.
    out : numpy.ndarray
        C-contiguous ``(time, baseline, freq, pol)`` of the stored dtype, with
        ``(r1 - r0) / baseline`` integrations.
    descending : bool, keyword-only
        Reverse the frequency axis (file order descending, dataset ascending).
    f_offset : int, keyword-only
        First channel of ``out`` to write (``out`` may span several files).
    """
    global _copy_kernel
    if _copy_kernel is None:
        # Deferred: importing numba costs ~1 s, and only data reads need it.
        import numba

        from dsa110._compat.numba import JIT_OPTIONS

        _copy_kernel = numba.njit(**JIT_OPTIONS)(_copy_chunks_py)
    word, n_words = _WORDS[layout.dtype.itemsize]
    offsets = layout.chunk_offsets
    chunk = np.asarray(layout.chunk_shape, dtype=np.int64)
    if offsets.shape[1] == 4:  # (row, spw, freq, pol): the spw axis has length 1
        offsets = offsets[:, [0, 2, 3]]
        chunk = chunk[[0, 2, 3]]
    rows = offsets[:, 0]
    which = np.flatnonzero((rows < r1) & (rows + chunk[0] > r0))
    which = which[
        np.argsort(layout.element_offsets[which], kind="stable")
    ]  # file order
    raw = handle.read_chunks(layout, which)
    offsets = offsets[which]
    offsets[:, 2] *= n_words
    chunk[2] *= n_words
    chunk_words = int(np.prod(chunk))
    local = np.arange(which.size, dtype=np.int64) * chunk_words
    words = out.view(word)  # C-contiguous: the last axis becomes pol × n_words
    target = words.reshape(r1 - r0, words.shape[2], words.shape[3])
    n_freq = layout.shape[-2]
    _copy_kernel(
        raw.view(word),
        offsets,
        local,
        chunk,
        r0,
        r1,
        descending,
        n_freq,
        f_offset,
        target,
    )


def _rebuild_array(handle, dataset, dtype, shape, spw_axis, descending):
    obj = UVH5DataArray.__new__(UVH5DataArray)
    obj.handle = handle
    obj.dataset = dataset
    obj.dtype = dtype
    obj.shape = shape
    obj.spw_axis = spw_axis
    obj.descending = descending
    obj.n_baseline = shape[1]
    return obj


def _split_key(key, shape):
    """Split a basic or outer indexing key into (time key, key for the other axes)."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1 :]
    key = key + (slice(None),) * (len(shape) - len(key))
    return key[0], key[1:]
