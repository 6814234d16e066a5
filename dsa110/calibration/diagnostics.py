"""Quality metrics and plots of calibration solutions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["qa_metrics", "plot_bandpass", "plot_gains"]


def _circstd(phase, axis):
    """Circular standard deviation (radians) along ``axis``, NaN-aware."""
    z = np.nanmean(np.exp(1j * phase), axis=axis)
    r = np.clip(np.abs(z), 1e-12, 1.0)
    return np.sqrt(-2.0 * np.log(r))


def qa_metrics(solutions) -> xr.Dataset:
    """Per-antenna QA metrics of a solution table.

    Parameters
    ----------
    solutions : xarray.Dataset
        With ``BANDPASS`` and/or ``GAIN`` (and their ``_FLAG``/``_SNR``).

    Returns
    -------
    xarray.Dataset
        ``(antenna,)`` variables: ``QA_FLAG_FRACTION`` (of all solutions),
        ``QA_MEDIAN_SNR``, and ``QA_BANDPASS_PHASE_SCATTER`` (circular standard
        deviation of channel-to-channel phase differences / √2, radians: the
        per-channel phase noise) and ``QA_GAIN_PHASE_SCATTER`` (circular standard
        deviation over time, radians) when those terms exist.
    """
    n_ant = solutions.sizes["antenna"]
    flags, snrs = [], []
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if "BANDPASS" in solutions:
                f = np.asarray(solutions["BANDPASS_FLAG"].values)
                flags.append(f.reshape(n_ant, -1))
                snrs.append(
                    np.where(f, np.nan, solutions["BANDPASS_SNR"].values).reshape(
                        n_ant, -1
                    )
                )
                ph = np.where(f, np.nan, np.angle(solutions["BANDPASS"].values))
                dph = np.diff(ph, axis=1)
                out["QA_BANDPASS_PHASE_SCATTER"] = (
                    ("antenna",),
                    _circstd(dph.reshape(n_ant, -1), axis=1) / np.sqrt(2.0),
                )
            if "GAIN" in solutions:
                f = np.asarray(solutions["GAIN_FLAG"].values)  # (time, ant, pol)
                flags.append(f.transpose(1, 0, 2).reshape(n_ant, -1))
                snrs.append(
                    np.where(f, np.nan, solutions["GAIN_SNR"].values)
                    .transpose(1, 0, 2)
                    .reshape(n_ant, -1)
                )
                ph = np.where(f, np.nan, np.angle(solutions["GAIN"].values))
                out["QA_GAIN_PHASE_SCATTER"] = (
                    ("antenna",),
                    _circstd(ph.transpose(1, 0, 2).reshape(n_ant, -1), axis=1),
                )
            flag = np.concatenate(flags, axis=1) if flags else np.ones((n_ant, 1), bool)
            snr = np.concatenate(snrs, axis=1) if snrs else np.full((n_ant, 1), np.nan)
            out["QA_FLAG_FRACTION"] = (("antenna",), flag.mean(axis=1))
            out["QA_MEDIAN_SNR"] = (("antenna",), np.nanmedian(snr, axis=1))
    return xr.Dataset(out, coords={"antenna": solutions["antenna"].values})


def _active(solutions, flag_name):
    f = np.asarray(solutions[flag_name].values)
    axes = tuple(i for i, d in enumerate(solutions[flag_name].dims) if d != "antenna")
    return np.flatnonzero(~np.all(f, axis=axes))


def _grid(n):
    ncol = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / ncol)), ncol


def plot_bandpass(solutions, path, *, antennas=None):
    """Bandpass amplitude and phase against frequency, one panel pair per antenna.

    Parameters
    ----------
    solutions : xarray.Dataset
        With ``BANDPASS``.
    path : str or Path
        Output PNG.
    antennas : sequence of int, optional, keyword-only
        Antenna numbers; every antenna with a solution by default.

    Returns
    -------
    Path
    """
    import matplotlib  # deferred: plotting is optional at runtime

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ants = (
        _active(solutions, "BANDPASS_FLAG")
        if antennas is None
        else np.asarray(antennas)
    )
    nrow, ncol = _grid(max(len(ants), 1))
    fig, axes = plt.subplots(
        2 * nrow, ncol, figsize=(2.2 * ncol, 2.4 * nrow), squeeze=False, sharex=True
    )
    freq = solutions["frequency"].values / 1e6
    names = solutions["antenna_name"].values
    pols = solutions["polarization"].values
    for k, a in enumerate(ants):
        r, c = divmod(k, ncol)
        g = np.where(
            solutions["BANDPASS_FLAG"].values[a],
            np.nan,
            solutions["BANDPASS"].values[a],
        )
        for p in range(g.shape[1]):
            axes[2 * r, c].plot(freq, np.abs(g[:, p]), ".", ms=1, label=str(pols[p]))
            axes[2 * r + 1, c].plot(freq, np.degrees(np.angle(g[:, p])), ".", ms=1)
        axes[2 * r, c].set_title(f"ant {names[a]}", fontsize=7)
    for ax in axes.flat:
        ax.tick_params(labelsize=5)
    axes[0, 0].set_ylabel("|B|", fontsize=6)
    axes[1, 0].set_ylabel("arg B (deg)", fontsize=6)
    fig.supxlabel("frequency (MHz)", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gains(solutions, path, *, antennas=None):
    """Gain amplitude and phase against time for each antenna.

    Parameters
    ----------
    solutions : xarray.Dataset
        With ``GAIN``.
    path : str or Path
        Output PNG.
    antennas : sequence of int, optional, keyword-only
        Antenna numbers; every antenna with a solution by default.

    Returns
    -------
    Path
    """
    import matplotlib  # deferred: plotting is optional at runtime

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ants = _active(solutions, "GAIN_FLAG") if antennas is None else np.asarray(antennas)
    t = solutions["gain_time"].values
    t = (t - t[0]) / 60.0
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    g = np.where(solutions["GAIN_FLAG"].values, np.nan, solutions["GAIN"].values)
    names = solutions["antenna_name"].values
    for a in ants:
        for p in range(g.shape[2]):
            ax1.plot(t, np.abs(g[:, a, p]), ".-", lw=0.5, ms=2)
            ax2.plot(
                t,
                np.degrees(np.angle(g[:, a, p])),
                ".-",
                lw=0.5,
                ms=2,
                label=str(names[a]) if p == 0 else None,
            )
    ax1.set_ylabel("|G|")
    ax2.set_ylabel("arg G (deg)")
    ax2.set_xlabel("time since first solution (min)")
    if len(ants) <= 20:
        ax2.legend(fontsize=5, ncol=4)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
