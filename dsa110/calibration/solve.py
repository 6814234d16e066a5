"""Bandpass, gain and delay solvers on visibility datasets (L2).

Every solver predicts the calibrator's model per chunk, reduces each chunk to
normal-equation sums, solves each cell by StEFCal on Dask, then, on the small
per-antenna solutions: references phases to the reference antenna, flags
solutions below ``min_snr``, and (bandpass) normalises and fills gaps.
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.calibration import dask as cdask
from dsa110.calibration.apply import nearest_channels
from dsa110.calibration.predict import peak_beam_response, predict_model
from dsa110.errors import ConfigurationError, DSA110Error, DSA110Warning

__all__ = [
    "DEFAULT_REFANT",
    "REFANT_FALLBACK",
    "CalibrationError",
    "solve_bandpass",
    "solve_gains",
    "delay_from_bandpass",
    "solve_delay",
    "choose_refant",
    "uv_weights",
    "uv_cut_frequency",
    "UV_FREQUENCY_MODES",
]

#: The default reference antenna (station name).
DEFAULT_REFANT = "103"
#: Fallback chain of reference antennas (outriggers), station names.
REFANT_FALLBACK = tuple(str(n) for n in range(104, 117))
_C = 299_792_458.0
#: Named choices of ``uv_frequency`` (see :func:`uv_cut_frequency`).
UV_FREQUENCY_MODES = ("channel", "merged", "subband")


class CalibrationError(DSA110Error, RuntimeError):
    """A calibration could not be solved (no data, no usable reference antenna)."""


def uv_cut_frequency(frequency, uv_frequency="channel"):
    """Frequency at which each channel's uv cut converts metres to wavelengths.

    Parameters
    ----------
    frequency : array-like
        ``(frequency,)`` channel frequencies, Hz.
    uv_frequency : str, float or array-like
        ``"channel"``: each channel's own frequency (a baseline is kept in the
        channels where it is longer than the cut). ``"merged"``: the first
        channel's frequency for all channels; this is what CASA does on an MS
        written with ``write_ms(..., spw="merged")``: casacore's ``uvrange`` in
        wavelengths keeps or drops whole rows, converting with the
        ``REF_FREQUENCY`` of the row's spectral window, which our MS writer
        (like pyuvdata's) sets to the window's first channel. ``"subband"``:
        the first channel of each DSA-110 subband (CASA on a
        ``spw="subband"`` MS). A float: that frequency for every channel; an
        array: one frequency per channel.

    Returns
    -------
    numpy.ndarray
        ``(frequency,)`` float64 Hz.

    Raises
    ------
    ConfigurationError
        For an unknown mode, or an array of the wrong length.
    """
    freq = np.asarray(frequency, dtype=np.float64)
    if isinstance(uv_frequency, str):
        if uv_frequency == "channel":
            return freq.copy()
        if uv_frequency == "merged":
            return np.full(freq.shape, freq[0])
        if uv_frequency == "subband":
            from dsa110.telescope import subband_of_frequency  # deferred: telescope

            sb = subband_of_frequency(freq)
            starts = np.concatenate([[True], sb[1:] != sb[:-1]])
            first = np.flatnonzero(starts)[np.cumsum(starts) - 1]
            return freq[first]
        raise ConfigurationError(
            f"uv_frequency must be one of {UV_FREQUENCY_MODES}, a frequency or an "
            f"array of one per channel, not {uv_frequency!r}"
        )
    val = np.asarray(uv_frequency, dtype=np.float64)
    if val.shape not in ((), freq.shape) or not np.all(val > 0):
        raise ConfigurationError(
            f"uv_frequency must be positive Hz, one value or {freq.size} (one per "
            f"channel), not shape {val.shape}"
        )
    return np.broadcast_to(val, freq.shape).copy()


def uv_weights(
    ds,
    *,
    uvmin_lambda: float = 1000.0,
    uvmax_lambda: float = np.inf,
    uv_frequency="channel",
):
    """Solver weights: ``WEIGHT`` where unflagged, inside the uv range, cross only.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset.
    uvmin_lambda, uvmax_lambda : float, keyword-only
        Accepted projected baseline lengths ``sqrt(u² + v²)``, wavelengths.
    uv_frequency : str, float or array-like, keyword-only
        Frequency of the metres-to-wavelengths conversion
        (:func:`uv_cut_frequency`).

    Returns
    -------
    xarray.DataArray
        ``(time, baseline_id, frequency, polarization)`` float32, lazy.
    """
    uv = np.hypot(ds["UVW"].isel(uvw_label=0), ds["UVW"].isel(uvw_label=1))
    fuv = uv_cut_frequency(ds[schema.FREQUENCY].values, uv_frequency)
    fuv = xr.DataArray(fuv, dims=(schema.FREQUENCY,))
    uvl = uv * fuv / _C
    keep = (uvl >= uvmin_lambda) & (uvl <= uvmax_lambda)
    keep = keep & (ds["antenna1"] != ds["antenna2"])
    w = xr.where(keep & ~ds["FLAG"], ds["WEIGHT"], 0.0).astype(np.float32)
    return w.transpose(*schema.DATA_VARS["VISIBILITY"].dims)


def _antenna_axis(ds):
    numbers = np.asarray(ds["antenna_number"].values)
    names = np.asarray(ds[schema.ANTENNA].values).astype(str)
    n_ant = int(max(numbers.max(), ds["antenna1"].max(), ds["antenna2"].max())) + 1
    out = np.array([str(k + 1) for k in range(n_ant)], dtype=object)
    out[numbers] = names
    return n_ant, out.astype(str)


def _intervals(times, solint, integration=0.0):
    """Interval index of each time for ``solint`` (``"inf"``, ``"int"`` or seconds).

    Intervals of ``solint`` seconds start at the beginning of the first
    integration (its centre minus half the integration time).
    """
    times = np.asarray(times, dtype=np.float64)
    if solint in ("inf", None) or (not isinstance(solint, str) and np.isinf(solint)):
        return np.zeros(times.size, np.int64)
    if solint == "int":
        return np.arange(times.size, dtype=np.int64)
    try:
        width = float(str(solint).rstrip("s"))
    except ValueError:
        raise ConfigurationError(
            f"solint must be 'inf', 'int' or seconds, not {solint!r}"
        ) from None
    if width <= 0:
        raise ConfigurationError(f"solint must be positive, not {solint!r}")
    start = times[0] - 0.5 * float(integration)
    idx = np.floor((times - start) / width).astype(np.int64)
    # Renumber so that empty intervals leave no gaps.
    return np.unique(idx, return_inverse=True)[1].astype(np.int64)


def _time_chunks(tbin):
    edges = np.flatnonzero(np.diff(tbin)) + 1
    bounds = np.concatenate([[0], edges, [tbin.size]])
    return tuple(int(x) for x in np.diff(bounds))


#: A sky model none of whose sources reaches this primary-beam response during
#: the data is not in the field: solved against it, the gains are the noise's
#: (|g| ≈ 2000 for a calibrator below the horizon).
MIN_BEAM_RESPONSE = 0.01


def check_in_field(ds, sky):
    """Refuse a sky model outside the primary beam throughout the data.

    The first source (the calibrator, where the model is a calibrator and its
    field) is tried alone first: every solve of :func:`solve_calibration`
    checks, and the geometry of a field model's hundreds of sources took
    ~0.3 s a time.

    Raises
    ------
    CalibrationError
        No source reaches :data:`MIN_BEAM_RESPONSE`.
    """
    sources = [sky] if hasattr(sky, "ra") else list(sky)
    best = float(peak_beam_response(ds, sources[:1]).max())  # none: ValueError
    if best < MIN_BEAM_RESPONSE and len(sources) > 1:
        best = max(best, float(peak_beam_response(ds, sources[1:]).max()))
    if best >= MIN_BEAM_RESPONSE:
        return
    names = [getattr(s, "alt_name", "") or getattr(s, "name", None) for s in sources]
    what = f"calibrator {names[0]}" if len(names) == 1 and names[0] else "the sky model"
    raise CalibrationError(
        f"{what}: primary-beam response at most {best:.1e} during these "
        f"data (below {MIN_BEAM_RESPONSE}): not in the field; calibrate on a source "
        "that transits in the tile (dsa110.catalogs.find_transit)"
    )


def _model_array(model, ds):
    """Return a precomputed model's values, checked against the dataset's shape."""
    values = model.data if isinstance(model, xr.DataArray) else model
    expected = ds["VISIBILITY"].shape[:3]
    if tuple(np.shape(values)) != tuple(expected):
        raise ConfigurationError(
            f"model: expected shape {tuple(expected)} (time, baseline_id, "
            f"frequency) of the dataset's visibilities, got {tuple(np.shape(values))}"
        )
    return values


def _prepare(ds, sky, tbin, beam, model=None):
    vis = ds["VISIBILITY"].data
    if not isinstance(vis, da.Array):
        ds = ds.chunk({schema.FREQUENCY: min(48, ds.sizes[schema.FREQUENCY])})
    ds = ds.chunk(
        {schema.TIME: _time_chunks(tbin), schema.BASELINE: -1, schema.POLARIZATION: -1}
    )
    chunks = ds["VISIBILITY"].data.chunks
    if model is None:
        model = predict_model(ds, sky, beam=beam).data
    else:
        model = da.asarray(_model_array(model, ds)).rechunk(chunks[:3])
    flag = da.asarray(ds["FLAG"].data).rechunk(chunks)
    weight = da.asarray(ds["WEIGHT"].data).rechunk(chunks)
    return ds, ds["VISIBILITY"].data, flag, weight, model


def choose_refant(ok, snr, names, *, refant=DEFAULT_REFANT, fallback=REFANT_FALLBACK):
    """Pick the reference antenna.

    Parameters
    ----------
    ok : numpy.ndarray
        ``(..., antenna, polarization)`` bool, solved.
    snr : numpy.ndarray
        Same shape, float.
    names : numpy.ndarray
        ``(antenna,)`` str station names.
    refant : str, keyword-only
        A station name, or ``"auto"``: the antenna with the fewest failed
        solutions, then the highest median SNR.
    fallback : sequence of str, keyword-only
        Tried in order when ``refant`` has no solutions at all.

    Returns
    -------
    int
        Antenna number (index of the antenna axis).

    Raises
    ------
    CalibrationError
        When no candidate has any solution.
    """
    names = [str(n) for n in names]
    n_ant = ok.shape[-2]
    good = ok.reshape(-1, n_ant, ok.shape[-1]).mean(axis=(0, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # antennas with no solution
        med = np.nanmedian(
            np.where(ok, snr, np.nan).reshape(-1, n_ant, ok.shape[-1]), axis=(0, 2)
        )
    med = np.nan_to_num(med)
    if str(refant) == "auto":
        order = np.lexsort((-med, -good))
        if good[order[0]] == 0:
            raise CalibrationError("no antenna has any solution")
        return int(order[0])
    if str(refant) not in names:
        warnings.warn(
            f"refant={str(refant)!r}: no antenna of that name in the data; "
            f"trying the fallbacks {list(fallback)}",
            DSA110Warning,
            stacklevel=2,
        )
    for cand in (str(refant),) + tuple(fallback):
        if cand in names and good[names.index(cand)] > 0:
            return names.index(cand)
    raise CalibrationError(
        f"reference antenna {refant} and its fallbacks {list(fallback)} "
        "have no solutions"
    )


def _check_has_data(totals, ds, fuv, *, uvmin_lambda, uvmax_lambda, prior):
    """Refuse a solve with no usable samples, before choosing the reference.

    ``totals``: ``Σ w |V|²`` and the number of samples used, over every cell
    of :func:`~dsa110.calibration.dask.normal_sums`; ``prior``: whether known
    terms (a bandpass) were applied, whose flagged channels exclude samples.
    The data's baseline lengths and flagged fraction are computed only to
    explain the refusal.

    Raises
    ------
    CalibrationError
        No unflagged cross-correlation of positive weight lies inside the uv
        range, or all those that do are zero.
    """
    power, count = totals
    if count == 0:
        cross = ds["antenna1"] != ds["antenna2"]
        uv = np.hypot(ds["UVW"].isel(uvw_label=0), ds["UVW"].isel(uvw_label=1))
        uv_m = uv.where(cross)
        longest, shortest, flagged = dask.compute(
            uv_m.max(), uv_m.min(), ds["FLAG"].where(cross).mean()
        )
        raise CalibrationError(
            "no data to solve on: no unflagged cross-correlation of positive "
            f"weight inside the uv range {uvmin_lambda:g}–{uvmax_lambda:g} λ"
            f"{' and unflagged in the bandpass applied' if prior else ''} "
            f"({float(flagged):.0%} of the cross-correlations are flagged; the "
            f"baselines span {float(shortest) * fuv.min() / _C:.0f}–"
            f"{float(longest) * fuv.max() / _C:.0f} λ)"
        )
    if power == 0:
        raise CalibrationError(
            f"no data to solve on: the {int(count)} unflagged visibilities inside "
            f"the uv range {uvmin_lambda:g}–{uvmax_lambda:g} λ are all zero"
        )


def _reference(gains, ok, ref, chain):
    """Rotate each cell's phases so that the reference antenna has phase 0.

    ``gains``/``ok``: (time_bin, chan_bin, antenna, pol). Cells where ``ref`` is
    unsolved use the first solved antenna of ``chain``; cells with none are
    flagged.
    """
    out = gains.copy()
    used = np.full(gains.shape[:2] + gains.shape[3:], -1, dtype=np.int64)
    for cand in [ref] + [c for c in chain if c != ref]:
        sel = (used < 0) & ok[:, :, cand, :]
        used[sel] = cand
    has = used >= 0
    idx = np.where(has, used, 0)
    gref = np.take_along_axis(gains, idx[:, :, None, :], axis=2)
    rot = np.where(
        has[:, :, None, :], np.conj(gref) / np.maximum(np.abs(gref), 1e-300), 0
    )
    out = out * rot
    ok = ok & has[:, :, None, :]
    return out, ok, used


def _solve(
    ds,
    sky,
    *,
    per_channel,
    solint,
    phase_only,
    bandpass,
    refant,
    min_snr,
    min_baselines,
    uvmin_lambda,
    uvmax_lambda,
    uv_frequency,
    max_iter,
    tol,
    beam,
    calwt=True,
    model=None,
):
    check_in_field(ds, sky)
    times = np.asarray(ds[schema.TIME].values)
    tbin = _intervals(times, solint, float(np.median(ds["integration_time"].values)))
    ds, vis, flag, weight, model = _prepare(ds, sky, tbin, beam, model)
    a1 = np.asarray(ds["antenna1"].values, dtype=np.int64)
    a2 = np.asarray(ds["antenna2"].values, dtype=np.int64)
    n_ant, names = _antenna_axis(ds)
    jones = None
    if bandpass is not None:
        jones = np.zeros((n_ant, vis.shape[2], vis.shape[3]), np.complex128)
        jones[: bandpass.shape[0]] = bandpass[:n_ant]
    fuv = uv_cut_frequency(ds[schema.FREQUENCY].values, uv_frequency)
    sums = cdask.normal_sums(
        vis,
        flag,
        weight,
        model,
        ds["UVW"].data,
        fuv,
        a1,
        a2,
        tbin,
        per_channel=per_channel,
        jones=jones,
        uvmin_lambda=uvmin_lambda,
        uvmax_lambda=uvmax_lambda,
        jones_weights=calwt,
    )
    sol = cdask.solve_cells(
        sums,
        a1,
        a2,
        n_ant=n_ant,
        phase_only=phase_only,
        max_iter=max_iter,
        tol=tol,
        min_baselines=min_baselines,
    )
    # Σ w|V|² and the sample count, from the sums the solve computes anyway.
    totals = sums[2:].real.sum(axis=(1, 2, 3, 4))
    sol, totals = dask.compute(sol, totals)
    _check_has_data(
        totals,
        ds,
        fuv,
        uvmin_lambda=uvmin_lambda,
        uvmax_lambda=uvmax_lambda,
        prior=jones is not None,
    )
    gains, ok, sigma = sol[0], sol[1].real > 0.5, sol[2].real
    snr = np.where(ok, np.abs(gains) / np.where(sigma > 0, sigma, np.inf), 0.0)
    # Flag low-SNR solutions before choosing the reference.
    ok &= snr >= min_snr
    ref = choose_refant(ok, snr, names, refant=refant)
    chain = [ref] + [list(names).index(n) for n in REFANT_FALLBACK if n in names]
    gains, ok, used = _reference(gains, ok, ref, chain)
    gains = np.where(ok, gains, 0)
    # Interval centres and widths.
    itimes = np.array([times[tbin == k].mean() for k in range(tbin.max() + 1)])
    itime = np.asarray(ds["integration_time"].values)
    widths = np.array(
        [
            np.ptp(times[tbin == k]) + itime[tbin == k].mean()
            for k in range(tbin.max() + 1)
        ]
    )
    return dict(
        gains=gains,
        ok=ok,
        snr=snr,
        sigma=sigma,
        refant=names[ref],
        names=names,
        n_ant=n_ant,
        times=itimes,
        widths=widths,
        refant_used=used,
    )


def _fill_gaps(g, ok, max_gap):
    """Linear interpolation over runs of ≤ ``max_gap`` flagged channels.

    ``g``/``ok``: (chan, antenna, pol); returns new arrays.
    """
    g, ok = g.copy(), ok.copy()
    if max_gap <= 0:
        return g, ok
    for a in range(g.shape[1]):
        for p in range(g.shape[2]):
            good = np.flatnonzero(ok[:, a, p])
            if good.size < 2:
                continue
            gaps = np.diff(good) - 1
            for k in np.flatnonzero((gaps > 0) & (gaps <= max_gap)):
                lo, hi = good[k], good[k + 1]
                x = np.arange(lo + 1, hi)
                f = (x - lo) / (hi - lo)
                g[x, a, p] = (1 - f) * g[lo, a, p] + f * g[hi, a, p]
                ok[x, a, p] = True
    return g, ok


def solve_bandpass(
    ds,
    sky,
    *,
    refant=DEFAULT_REFANT,
    min_snr: float = 5.0,
    min_baselines: int = 4,
    uvmin_lambda: float = 1000.0,
    uvmax_lambda: float = np.inf,
    uv_frequency="channel",
    fill_gaps: int = 0,
    solnorm: bool = True,
    max_iter: int = 200,
    tol: float = 1e-10,
    beam: bool = True,
    prior=None,
    model=None,
) -> xr.Dataset:
    """Per-channel, per-polarization complex bandpass over the whole dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (:mod:`dsa110.schema`), phased to (near) the
        calibrator; NumPy- or dask-backed.
    sky : source or sequence of sources
        The calibrator model (see :func:`dsa110.calibration.predict.sky_arrays`).
    refant : str, keyword-only
        Reference antenna station name (``"103"``, then the outriggers
        ``"104"``–``"116"``), or ``"auto"``.
    min_snr : float, keyword-only
        Solutions with ``|g| / σ_g`` below this are flagged.
    min_baselines : int, keyword-only
        Minimum baselines with data per antenna.
    uvmin_lambda, uvmax_lambda : float, keyword-only
        uv range of the data used, wavelengths.
    uv_frequency : str, float or array-like, keyword-only
        Frequency at which the uv range is converted to metres: ``"channel"``
        (each channel's own, the default), ``"merged"`` or ``"subband"``
        (CASA's choice on an MS with one window or one per subband), see
        :func:`uv_cut_frequency`.
    fill_gaps : int, keyword-only
        Interpolate over runs of up to this many flagged channels.
    solnorm : bool, keyword-only
        Divide each antenna's bandpass by its mean amplitude over good channels.
    max_iter, tol : keyword-only
        StEFCal iteration limit and tolerance.
    beam : bool, keyword-only
        Attenuate the model by the primary beam.
    prior : xarray.Dataset, optional, keyword-only
        Solutions already known (e.g. ``DELAY`` from :func:`solve_delay`),
        folded into the model; the bandpass is then what remains.
    model : xarray.DataArray or array-like, optional, keyword-only
        The sky's model visibilities, ``(time, baseline_id, frequency)`` of
        ``ds`` (a :func:`dsa110.calibration.predict.predict_model` result, e.g.
        computed once for several solves); predicted from ``sky`` when None.

    Returns
    -------
    xarray.Dataset
        ``BANDPASS`` ``(antenna, frequency, polarization)`` complex64 with
        ``BANDPASS_FLAG`` and ``BANDPASS_SNR``; attrs ``refant`` and the
        parameters.
    """
    pri = None if prior is None else _bandpass_on(prior, ds[schema.FREQUENCY].values)
    r = _solve(
        ds,
        sky,
        per_channel=True,
        solint="inf",
        phase_only=False,
        bandpass=pri,
        refant=refant,
        min_snr=min_snr,
        min_baselines=min_baselines,
        uvmin_lambda=uvmin_lambda,
        uvmax_lambda=uvmax_lambda,
        uv_frequency=uv_frequency,
        max_iter=max_iter,
        tol=tol,
        beam=beam,
        model=model,
    )
    g, ok, snr = r["gains"][0], r["ok"][0], r["snr"][0]  # (chan, ant, pol)
    g, ok = _fill_gaps(g, ok, fill_gaps)
    if solnorm:
        amp = np.where(ok, np.abs(g), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # antennas with no solution
            norm = np.nanmean(amp, axis=0, keepdims=True)
        g = np.where(ok, g / np.where(np.isfinite(norm) & (norm > 0), norm, 1.0), 0)
    out = xr.Dataset(
        {
            "BANDPASS": (
                ("antenna", schema.FREQUENCY, schema.POLARIZATION),
                g.transpose(1, 0, 2).astype(np.complex64),
            ),
            "BANDPASS_FLAG": (
                ("antenna", schema.FREQUENCY, schema.POLARIZATION),
                ~ok.transpose(1, 0, 2),
            ),
            "BANDPASS_SNR": (
                ("antenna", schema.FREQUENCY, schema.POLARIZATION),
                snr.transpose(1, 0, 2).astype(np.float32),
            ),
        },
        coords={
            "antenna": np.arange(r["n_ant"]),
            "antenna_name": ("antenna", r["names"]),
            schema.FREQUENCY: ds[schema.FREQUENCY].values,
            schema.POLARIZATION: ds[schema.POLARIZATION].values,
        },
        attrs={
            "refant": r["refant"],
            "bandpass_solnorm": int(solnorm),
            "bandpass_fill_gaps": fill_gaps,
            "bandpass_time": float(r["times"][0]),
            "bandpass_interval": float(r["widths"][0]),
        },
    )
    return out


def solve_gains(
    ds,
    sky,
    *,
    solint="inf",
    mode: str = "ap",
    bandpass=None,
    refant=DEFAULT_REFANT,
    min_snr: float = 5.0,
    min_baselines: int = 4,
    uvmin_lambda: float = 1000.0,
    uvmax_lambda: float = np.inf,
    uv_frequency="channel",
    calwt: bool = True,
    max_iter: int = 200,
    tol: float = 1e-10,
    beam: bool = True,
    model=None,
) -> xr.Dataset:
    """Frequency-independent complex gains per solution interval.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (:mod:`dsa110.schema`).
    sky : source or sequence of sources
        The calibrator model.
    solint : str or float, keyword-only
        ``"inf"`` (one interval), ``"int"`` (each integration) or seconds
        (``60`` or ``"60s"``).
    mode : {"ap", "p"}, keyword-only
        Amplitude and phase, or phase only (``|g| = 1``).
    bandpass : xarray.Dataset, optional, keyword-only
        A :func:`solve_bandpass` result (and/or a ``DELAY`` from
        :func:`solve_delay`), applied (nearest channel) before solving; its
        flagged channels are excluded.
    calwt : bool, keyword-only
        Weight each sample by ``WEIGHT · |B_i B_j|²`` (True: the
        maximum-likelihood weight when the raw data have equal noise), or by
        ``WEIGHT`` alone, as CASA ``gaincal`` does with a pre-applied bandpass
        table (False; measured: its gains then agree with ours to 3e-4
        instead of 1.2e-3 with 15 % bandpass ripple).
    refant, min_snr, min_baselines, uvmin_lambda, uvmax_lambda, uv_frequency
        As for :func:`solve_bandpass`.
    max_iter, tol, beam, model
        As for :func:`solve_bandpass`.

    Returns
    -------
    xarray.Dataset
        ``GAIN`` ``(gain_time, antenna, polarization)`` complex64 with
        ``GAIN_FLAG``, ``GAIN_SNR`` and the ``gain_time``/``gain_interval``
        coordinates (unix seconds).

    Raises
    ------
    ConfigurationError
        For an unknown ``mode`` or ``solint``.
    """
    if mode not in ("ap", "p"):
        raise ConfigurationError(f"mode must be 'ap' or 'p', not {mode!r}")
    bp = None
    if bandpass is not None:
        bp = _bandpass_on(bandpass, ds[schema.FREQUENCY].values)
    r = _solve(
        ds,
        sky,
        per_channel=False,
        solint=solint,
        phase_only=(mode == "p"),
        bandpass=bp,
        refant=refant,
        min_snr=min_snr,
        min_baselines=min_baselines,
        uvmin_lambda=uvmin_lambda,
        uvmax_lambda=uvmax_lambda,
        uv_frequency=uv_frequency,
        max_iter=max_iter,
        tol=tol,
        beam=beam,
        calwt=calwt,
        model=model,
    )
    g, ok, snr = r["gains"][:, 0], r["ok"][:, 0], r["snr"][:, 0]  # (time, ant, pol)
    return xr.Dataset(
        {
            "GAIN": (
                ("gain_time", "antenna", schema.POLARIZATION),
                g.astype(np.complex64),
            ),
            "GAIN_FLAG": (("gain_time", "antenna", schema.POLARIZATION), ~ok),
            "GAIN_SNR": (
                ("gain_time", "antenna", schema.POLARIZATION),
                snr.astype(np.float32),
            ),
        },
        coords={
            "gain_time": r["times"],
            "gain_interval": ("gain_time", r["widths"]),
            "antenna": np.arange(r["n_ant"]),
            "antenna_name": ("antenna", r["names"]),
            schema.POLARIZATION: ds[schema.POLARIZATION].values,
        },
        attrs={"refant": r["refant"], "gain_mode": mode, "gain_solint": str(solint)},
    )


def _bandpass_on(bandpass, freq):
    """Frequency-dependent terms (antenna, frequency, pol) at ``freq``, 0 where flagged.

    ``BANDPASS`` (nearest channel) times the ``DELAY`` term ``exp(2πi τ f)``.
    """
    freq = np.asarray(freq, dtype=np.float64)
    n_ant, n_pol = bandpass.sizes["antenna"], bandpass.sizes[schema.POLARIZATION]
    out = np.ones((n_ant, freq.size, n_pol), np.complex128)
    if "BANDPASS" in bandpass:
        idx, _ = nearest_channels(bandpass[schema.FREQUENCY].values, freq)
        b = np.asarray(bandpass["BANDPASS"].values)[:, idx, :]
        f = np.asarray(bandpass["BANDPASS_FLAG"].values)[:, idx, :]
        out *= np.where(f, 0, b)
    if "DELAY" in bandpass:
        tau = np.asarray(bandpass["DELAY"].values)
        bad = ~np.isfinite(tau)
        out *= np.where(
            bad[:, None, :],
            0,
            np.exp(2j * np.pi * np.nan_to_num(tau)[:, None, :] * freq[None, :, None]),
        )
    return out


def solve_delay(
    ds,
    sky,
    *,
    refant=DEFAULT_REFANT,
    min_snr: float = 3.0,
    min_baselines: int = 4,
    uvmin_lambda: float = 1000.0,
    uv_frequency="channel",
    beam: bool = True,
    model=None,
):
    """Per-antenna delays (K): per-channel StEFCal solutions, then their phase slope.

    Solves an un-normalised per-channel bandpass (referenced to ``refant``)
    and fits its unwrapped phase against frequency
    (:func:`delay_from_bandpass`); delays are relative to the reference
    antenna, in the convention ``g(f) = exp(+2πi τ f)``.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset.
    sky : source or sequence of sources
        The calibrator model.
    refant, min_snr, min_baselines, uvmin_lambda, uv_frequency, beam, model
        As for :func:`solve_bandpass` (a lower ``min_snr`` by default: the fit
        averages over channels).

    Returns
    -------
    xarray.Dataset
        ``DELAY`` ``(antenna, polarization)`` float64 seconds (NaN where
        unsolved), attrs ``refant``.
    """
    bp = solve_bandpass(
        ds,
        sky,
        refant=refant,
        min_snr=min_snr,
        min_baselines=min_baselines,
        uvmin_lambda=uvmin_lambda,
        uv_frequency=uv_frequency,
        solnorm=False,
        beam=beam,
        model=model,
    )
    out = delay_from_bandpass(bp).to_dataset()
    out = out.assign_coords(antenna_name=("antenna", bp["antenna_name"].values))
    out.attrs["refant"] = bp.attrs["refant"]
    return out


def delay_from_bandpass(bandpass) -> xr.DataArray:
    """Per-antenna delays (K) from the phase slope of a bandpass.

    Fits ``arg B(f) = 2π τ f + φ0`` by weighted least squares on the unwrapped
    phase of unflagged channels; the delay gain ``exp(+2πi τ f)`` then enters
    as ``V_ij ∝ exp(2πi (τ_i − τ_j) f)`` in our convention.

    Parameters
    ----------
    bandpass : xarray.Dataset
        A :func:`solve_bandpass` result.

    Returns
    -------
    xarray.DataArray
        ``DELAY`` ``(antenna, polarization)`` float64 seconds; NaN where fewer
        than two channels are good.
    """
    freq = np.asarray(bandpass[schema.FREQUENCY].values)
    g = np.asarray(bandpass["BANDPASS"].values)
    flag = np.asarray(bandpass["BANDPASS_FLAG"].values)
    out = np.full(g.shape[::2], np.nan)
    for a in range(g.shape[0]):
        for p in range(g.shape[2]):
            good = ~flag[a, :, p]
            if good.sum() < 2:
                continue
            ph = np.unwrap(np.angle(g[a, good, p]))
            x = freq[good] - freq[good].mean()
            out[a, p] = np.sum(x * (ph - ph.mean())) / np.sum(x * x) / (2 * np.pi)
    return xr.DataArray(
        out,
        dims=("antenna", schema.POLARIZATION),
        name="DELAY",
        coords={
            "antenna": bandpass["antenna"].values,
            schema.POLARIZATION: bandpass[schema.POLARIZATION].values,
        },
        attrs={"units": "s"},
    )
