"""ESE candidates: threshold presets, a composite score and a morphology test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError

__all__ = [
    "Preset",
    "PRESETS",
    "SCORE_WEIGHTS",
    "get_preset",
    "composite_score",
    "select_candidates",
    "Morphology",
    "classify_morphology",
    "classify_table",
]


@dataclass(frozen=True)
class Preset:
    """Thresholds of an ESE candidate search (a source must pass all three).

    Attributes
    ----------
    sigma_dev : float
        Lowest σ-deviation.
    chi2_nu : float
        Lowest reduced χ².
    eta : float
        Lowest η.
    """

    sigma_dev: float
    chi2_nu: float
    eta: float


#: The observatory's presets (σ-deviation / χ²ν / η).
PRESETS = {
    "conservative": Preset(5.0, 4.0, 3.0),
    "moderate": Preset(3.5, 2.5, 2.0),
    "sensitive": Preset(2.5, 1.5, 1.0),
}

#: Weights of σ-deviation, χ²ν and η in the composite score.
SCORE_WEIGHTS = {"sigma_dev": 0.5, "chi2_nu": 0.3, "eta": 0.2}


def get_preset(preset) -> Preset:
    """Return a :class:`Preset` from its name (or pass one through).

    Parameters
    ----------
    preset : str or Preset
        ``"conservative"``, ``"moderate"``, ``"sensitive"`` or a Preset.

    Returns
    -------
    Preset

    Raises
    ------
    dsa110.errors.ConfigurationError
        For an unknown name.
    """
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ConfigurationError(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}"
        ) from None


def composite_score(metrics, *, preset="moderate"):
    """Weighted score of σ-deviation, χ²ν and η, each relative to its threshold.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Columns ``sigma_dev``, ``chi2_nu``, ``eta`` (``(source,)`` float64).
    preset : str or Preset, keyword-only
        Thresholds the metrics are divided by.

    Returns
    -------
    pandas.Series
        ``0.5 σdev/σdev₀ + 0.3 χ²ν/χ²ν₀ + 0.2 η/η₀``: 1 for a source exactly at
        every threshold; NaN where a metric is undefined.

    Notes
    -----
    Dividing by the thresholds puts the three metrics on one scale (χ²ν grows
    as the square of an excursion, σ-deviation linearly), so the weights mean
    what they say.
    """
    p = get_preset(preset)
    return (
        SCORE_WEIGHTS["sigma_dev"] * metrics["sigma_dev"] / p.sigma_dev
        + SCORE_WEIGHTS["chi2_nu"] * metrics["chi2_nu"] / p.chi2_nu
        + SCORE_WEIGHTS["eta"] * metrics["eta"] / p.eta
    ).rename("score")


def select_candidates(metrics, *, preset="moderate", min_epochs=5):
    """Select the sources whose metrics pass every threshold, best first.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Indexed by ``source_id`` with columns ``n``, ``sigma_dev``, ``chi2_nu``,
        ``eta`` (as from :meth:`MetricState.metrics`).
    preset : str or Preset, keyword-only
        The thresholds.
    min_epochs : int, keyword-only
        Fewest measurements for a source to be considered.

    Returns
    -------
    pandas.DataFrame
        The passing rows with a ``score`` column, sorted by descending score.
    """
    p = get_preset(preset)
    m = metrics
    ok = (
        (m["n"] >= min_epochs)
        & (m["sigma_dev"] >= p.sigma_dev)
        & (m["chi2_nu"] >= p.chi2_nu)
        & (m["eta"] >= p.eta)
    )
    out = m.loc[ok].copy()
    out["score"] = composite_score(out, preset=p)
    return out.sort_values("score", ascending=False, kind="stable")


@dataclass(frozen=True)
class Morphology:
    """Result of :func:`classify_morphology`.

    Attributes
    ----------
    label : str
        ``"dip"`` (a plateau below the baseline lasting ≥ ``min_epochs``),
        ``"spike"`` (a brightening lasting ≥ ``min_epochs``), ``"outlier"``
        (a significant excursion too short to be either) or ``"none"``.
    is_ese : bool
        True for ``"dip"`` and ``"spike"``.
    start, stop : int
        Epoch indices (time order) of the longest event run, ``stop``
        exclusive; −1 when there is none.
    has_shoulders : bool
        For a dip: a brightening of ≥ ``threshold``/2 σ within
        ``shoulder_epochs`` epochs on either side of the plateau.
    peak_sigma : float
        Largest |residual| / σ of a single epoch.
    """

    label: str
    is_ese: bool
    start: int
    stop: int
    has_shoulders: bool
    peak_sigma: float


def _longest_run(mask):
    best, start, cur = 0, -1, 0
    for i, v in enumerate(mask):
        cur = cur + 1 if v else 0
        if cur > best:
            best, start = cur, i - cur + 1
    return best, start


def classify_morphology(
    time, flux, flux_err, *, threshold=3.0, min_epochs=3, shoulder_epochs=3
):
    """Tell an ESE-like dip (or multi-epoch spike) from single-epoch outliers.

    Parameters
    ----------
    time : numpy.ndarray
        ``(epoch,)`` float64 MJD.
    flux : numpy.ndarray
        ``(epoch,)`` float64 (normalised) flux.
    flux_err : numpy.ndarray
        ``(epoch,)`` float64 1σ errors.
    threshold : float, keyword-only
        Residual (in σ) that an epoch of an event must exceed.
    min_epochs : int, keyword-only
        Shortest run of consecutive epochs that makes a dip or spike.
    shoulder_epochs : int, keyword-only
        How far from a dip to look for caustic shoulders.

    Returns
    -------
    Morphology

    Notes
    -----
    Residuals are ``z = (f − median(f)) / σ``, the median being a baseline that
    an event covering under half the epochs does not move. They are smoothed
    with a running median of three epochs, which removes any single-epoch
    excursion but keeps a plateau of three or more epochs at its level; a run
    of ≥ ``min_epochs`` smoothed residuals beyond ``threshold`` is an event.
    A significant raw residual without such a run is an ``"outlier"``.
    """
    order = np.argsort(np.asarray(time, dtype=np.float64), kind="stable")
    f = np.asarray(flux, dtype=np.float64)[order]
    e = np.asarray(flux_err, dtype=np.float64)[order]
    if f.size == 0:
        return Morphology("none", False, -1, -1, False, np.nan)
    z = (f - np.median(f)) / e
    peak = float(np.max(np.abs(z)))
    if f.size >= 3:
        padded = np.concatenate([z[:1], z, z[-1:]])
        zs = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    else:
        zs = z
    n_dip, s_dip = _longest_run(zs <= -threshold)
    n_spk, s_spk = _longest_run(zs >= threshold)
    if max(n_dip, n_spk) >= min_epochs:
        if n_dip >= n_spk:
            lo = max(0, s_dip - shoulder_epochs)
            hi = min(f.size, s_dip + n_dip + shoulder_epochs)
            side = np.concatenate([z[lo:s_dip], z[s_dip + n_dip : hi]])
            shoulders = bool(side.size and np.any(side >= 0.5 * threshold))
            return Morphology("dip", True, s_dip, s_dip + n_dip, shoulders, peak)
        return Morphology("spike", True, s_spk, s_spk + n_spk, False, peak)
    if peak >= threshold:
        i = int(np.argmax(np.abs(z)))
        return Morphology("outlier", False, i, i + 1, False, peak)
    return Morphology("none", False, -1, -1, False, peak)


def classify_table(lightcurves, *, threshold=3.0, min_epochs=3, shoulder_epochs=3):
    """Apply :func:`classify_morphology` to every source of a light-curve table.

    Parameters
    ----------
    lightcurves : pandas.DataFrame
        Columns ``source_id``, ``time``, ``flux_norm``, ``flux_norm_err``.
    threshold, min_epochs, shoulder_epochs : keyword-only
        As in :func:`classify_morphology`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``source_id``: ``label``, ``is_ese``, ``start``, ``stop``,
        ``time_start``, ``time_stop`` (MJD of the first and last epoch of the
        event), ``has_shoulders``, ``peak_sigma``.
    """
    rows = {}
    for sid, grp in lightcurves.groupby("source_id", sort=True):
        t = np.sort(grp["time"].to_numpy())
        res = classify_morphology(
            t,
            grp.sort_values("time", kind="stable")["flux_norm"].to_numpy(),
            grp.sort_values("time", kind="stable")["flux_norm_err"].to_numpy(),
            threshold=threshold,
            min_epochs=min_epochs,
            shoulder_epochs=shoulder_epochs,
        )
        rows[sid] = dict(
            res.__dict__,
            time_start=t[res.start] if res.start >= 0 else np.nan,
            time_stop=t[res.stop - 1] if res.start >= 0 else np.nan,
        )
    cols = [
        "label",
        "is_ese",
        "start",
        "stop",
        "time_start",
        "time_stop",
        "has_shoulders",
        "peak_sigma",
    ]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    out.index.name = "source_id"
    return out
