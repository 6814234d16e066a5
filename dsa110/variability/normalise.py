"""Per-image flux normalisation with a continuously re-qualified reference ensemble.

Each image (epoch) gets a multiplicative correction ``c`` from up to
``max_references`` stable, compact, high-SNR reference sources near its centre:
``c = median(f_r / B_r)`` over the references after iterative ``clip_sigma``
clipping, where ``B_r`` is the reference's baseline. Every flux in the image is
then divided by ``c`` and its error propagated,
``σ_n² = (σ/c)² + (f σ_c / c²)²``.

Unlike a baseline frozen to the first N epochs, a reference's baseline is the
median of its own *normalised* flux over its latest ``baseline_window`` epochs,
and a reference is re-qualified at every image: it takes part only while the
mean of its squared clipping residuals ``z² = ((q − c)/σ_q)²`` over its latest
``requalify_window`` epochs stays below ``max_reference_chi2``. A reference that
starts to vary is therefore dropped within a few epochs (and clipped at once
when the jump exceeds ``clip_sigma``), and comes back when it is stable again.

The correction is causal (it uses only images processed before), so the
normalised flux of an image never changes afterwards — which is what lets the
metrics be updated incrementally. The first image of a field whose references
have no history defines the flux scale (``c = 1``), unless catalogue fluxes
of the references are given (``reference_flux``), which then set it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError, FileFormatError

__all__ = ["NormalisationConfig", "Normaliser", "sigma_clipped_median"]

#: sqrt(pi/2): the standard error of a median of Gaussian samples over that of a mean.
_MEDIAN_EFFICIENCY = np.sqrt(np.pi / 2.0)


@dataclass(frozen=True)
class NormalisationConfig:
    """Options of the per-image normalisation.

    Attributes
    ----------
    clip_sigma : float
        Clipping threshold on ``|q − median| / σ_q`` (default 3).
    max_references : int
        Most references used per image, nearest the image centre first (20).
    min_reference_snr : float
        Lowest median SNR of an automatically chosen reference, when the table
        has no ``is_reference`` column set (50).
    min_references : int
        Fewer references left after clipping marks the image's correction as
        not OK (its rows are then left out of the metrics) (3).
    baseline_window : int
        Epochs in a reference's running baseline (30).
    requalify_window : int
        Epochs over which a reference's residuals are judged (10).
    max_reference_chi2 : float
        Mean z² above which a reference is dropped (4).
    """

    clip_sigma: float = 3.0
    max_references: int = 20
    min_reference_snr: float = 50.0
    min_references: int = 3
    baseline_window: int = 30
    requalify_window: int = 10
    max_reference_chi2: float = 4.0

    def __post_init__(self):
        for name in ("clip_sigma", "min_reference_snr", "max_reference_chi2"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{name} must be positive")
        for name in (
            "max_references",
            "min_references",
            "baseline_window",
            "requalify_window",
        ):
            if int(getattr(self, name)) < 1:
                raise ConfigurationError(f"{name} must be at least 1")


def sigma_clipped_median(ratio, ratio_err, *, clip_sigma=3.0, max_iter=10):
    """Median of ratios after iterative clipping on their own errors.

    Parameters
    ----------
    ratio : numpy.ndarray
        ``(reference,)`` float64 flux ratios ``f / B``.
    ratio_err : numpy.ndarray
        ``(reference,)`` float64 their 1σ errors.
    clip_sigma : float, keyword-only
        Points with ``|ratio − median| > clip_sigma · ratio_err`` are rejected.
    max_iter : int, keyword-only
        Most clipping iterations.

    Returns
    -------
    median : float
        Median of the kept ratios (NaN when none).
    median_err : float
        Its 1σ error: ``sqrt(π/2) / sqrt(Σ 1/σ²)`` over the kept points, scaled
        up by ``sqrt(χ²ν)`` when their scatter exceeds their errors.
    keep : numpy.ndarray
        ``(reference,)`` bool, the points kept.
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    ratio_err = np.asarray(ratio_err, dtype=np.float64)
    keep = np.isfinite(ratio) & np.isfinite(ratio_err) & (ratio_err > 0)
    if not keep.any():
        return np.nan, np.nan, keep
    for _ in range(max_iter):
        med = np.median(ratio[keep])
        new = keep & (np.abs(ratio - med) <= clip_sigma * ratio_err)
        if not new.any() or np.array_equal(new, keep):
            keep = new if new.any() else keep
            break
        keep = new
    med = float(np.median(ratio[keep]))
    w = 1.0 / ratio_err[keep] ** 2
    err = _MEDIAN_EFFICIENCY / np.sqrt(np.sum(w))
    n = int(keep.sum())
    if n > 1:
        chi2 = np.sum(w * (ratio[keep] - med) ** 2) / (n - 1)
        err *= np.sqrt(max(1.0, chi2))
    return med, float(err), keep


class Normaliser:
    """Causal per-image normalisation that keeps a bounded reference history.

    Parameters
    ----------
    config : NormalisationConfig, optional
        Options (defaults when omitted).
    reference_flux : mapping, keyword-only, optional
        Catalogue fluxes (Jy) of references by ``source_id``: the baseline of
        a reference without history, so that the flux scale is the
        catalogue's rather than that of the first image.
    """

    def __init__(self, config=None, *, reference_flux=None):
        self.config = config or NormalisationConfig()
        self.reference_flux = dict(reference_flux or {})
        c = self.config
        self._depth = max(c.baseline_window, c.requalify_window)
        # source_id -> deque of (flux_norm, z) of the latest epochs
        self._history = {}

    # -- reference bookkeeping -------------------------------------------------
    def _baseline(self, sid):
        hist = self._history.get(sid)
        if not hist:
            return float(self.reference_flux.get(sid, np.nan))
        values = [v for v, _ in list(hist)[-self.config.baseline_window :]]
        return float(np.median(values))

    def is_qualified(self, sid) -> bool:
        """Whether reference ``sid`` currently qualifies (stable recently).

        Parameters
        ----------
        sid : int or str
            Source identifier.

        Returns
        -------
        bool
            True for a reference with history whose mean z² over the latest
            ``requalify_window`` epochs is at most ``max_reference_chi2``.
        """
        hist = self._history.get(sid)
        if not hist:
            return sid in self.reference_flux
        z = np.array([z for _, z in list(hist)[-self.config.requalify_window :]])
        z = z[np.isfinite(z)]
        return z.size == 0 or float(np.mean(z * z)) <= self.config.max_reference_chi2

    def _push(self, sid, flux_norm, z):
        hist = self._history.setdefault(sid, deque(maxlen=self._depth))
        hist.append((float(flux_norm), float(z)))

    # -- the correction ----------------------------------------------------------
    def _reference_rows(self, table):
        """Boolean mask of the rows eligible as references."""
        if table["is_reference"].any():
            return table["is_reference"].to_numpy(bool)
        med_snr = table.groupby("source_id")["snr"].transform("median").to_numpy()
        return med_snr >= self.config.min_reference_snr

    def normalise(self, measurements):
        """Normalise validated measurements image by image, in time order.

        Parameters
        ----------
        measurements : pandas.DataFrame
            Rows following :mod:`dsa110.variability.measurements` (validated).

        Returns
        -------
        table : pandas.DataFrame
            The input rows (sorted by time, image, source) with columns
            ``flux_norm``, ``flux_norm_err``, ``correction``, ``correction_err``
            and ``norm_ok`` added.
        corrections : pandas.DataFrame
            One row per image: ``image_id``, ``time``, ``correction``,
            ``correction_err``, ``n_reference`` (kept), ``n_candidate``,
            ``norm_ok``.
        """
        cfg = self.config
        table = measurements.sort_values(
            ["time", "image_id", "source_id"], kind="stable"
        ).reset_index(drop=True)
        eligible = self._reference_rows(table)
        qa_rows = table["qa_ok"].to_numpy(bool)
        all_sids = table["source_id"].to_numpy()
        all_f = table["flux"].to_numpy()
        all_e = table["flux_err"].to_numpy()
        rows = []
        corr = np.ones(len(table))
        corr_err = np.zeros(len(table))
        ok_rows = np.ones(len(table), dtype=bool)
        for image_id, idx in table.groupby("image_id", sort=False).indices.items():
            img = table.iloc[idx]
            cand = self._nearest(table, img, idx[eligible[idx]])
            # references of an image that failed QA still give it a correction
            # (for display) but never enter the history nor mark it OK
            passed = qa_rows[cand]
            good = passed.any()
            if good:
                cand = cand[passed]
            sids, f, e = all_sids[cand], all_f[cand], all_e[cand]
            base = np.array([self._baseline(s) for s in sids], dtype=np.float64)
            qual = np.array([self.is_qualified(s) for s in sids], dtype=bool)
            usable = np.isfinite(base) & qual
            if not np.isfinite(base).any():
                # a new field: its first image defines the flux scale
                c, c_err, n_kept, ok = 1.0, 0.0, len(cand), bool(good)
                z = np.full(len(cand), np.nan)
            else:
                q = f[usable] / base[usable]
                q_err = e[usable] / base[usable]
                c, c_err, keep = sigma_clipped_median(
                    q, q_err, clip_sigma=cfg.clip_sigma
                )
                n_kept = int(keep.sum())
                ok = bool(good) and n_kept >= cfg.min_references
                if not (np.isfinite(c) and c > 0):
                    c, c_err, ok = 1.0, 0.0, False
                with np.errstate(invalid="ignore", divide="ignore"):
                    z = (f / base - c) / (e / base)
            if good:
                for s, fi, zi in zip(sids, f, z):
                    self._push(s, fi / c, zi)
            corr[idx] = c
            corr_err[idx] = c_err
            ok_rows[idx] = ok
            rows.append(
                (image_id, float(img["time"].iloc[0]), c, c_err, n_kept, len(cand), ok)
            )
        f = table["flux"].to_numpy()
        e = table["flux_err"].to_numpy()
        out = table.copy()
        out["flux_norm"] = f / corr
        out["flux_norm_err"] = np.sqrt((e / corr) ** 2 + (f * corr_err / corr**2) ** 2)
        out["correction"] = corr
        out["correction_err"] = corr_err
        out["norm_ok"] = ok_rows
        corrections = pd.DataFrame(
            rows,
            columns=[
                "image_id",
                "time",
                "correction",
                "correction_err",
                "n_reference",
                "n_candidate",
                "norm_ok",
            ],
        )
        return out, corrections

    def _nearest(self, table, img, cand):
        """Keep the ``max_references`` candidates nearest the image centre."""
        if len(cand) <= self.config.max_references:
            return cand
        if "image_ra" in img and np.isfinite(img["image_ra"].iloc[0]):
            ra0 = float(img["image_ra"].iloc[0])
            dec0 = float(img["image_dec"].iloc[0])
        else:
            ra0 = float(np.degrees(_circular_mean(np.radians(img["ra"].to_numpy()))))
            dec0 = float(np.median(img["dec"].to_numpy()))
        ra = np.radians(table["ra"].to_numpy()[cand])
        dec = np.radians(table["dec"].to_numpy()[cand])
        ra0, dec0 = np.radians(ra0), np.radians(dec0)
        cosd = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(
            ra - ra0
        )
        order = np.argsort(-cosd, kind="stable")
        return np.sort(cand[order[: self.config.max_references]])

    # -- persistence ---------------------------------------------------------------
    def history_frame(self) -> pd.DataFrame:
        """Return the reference history as a table (for persistence).

        Returns
        -------
        pandas.DataFrame
            Columns ``source_id``, ``order`` (0 = oldest kept), ``flux_norm``, ``z``.
        """
        rows = [
            (sid, i, v, z)
            for sid, hist in self._history.items()
            for i, (v, z) in enumerate(hist)
        ]
        return pd.DataFrame(rows, columns=["source_id", "order", "flux_norm", "z"])

    @classmethod
    def from_history(cls, frame, config=None, *, reference_flux=None) -> Normaliser:
        """Rebuild a normaliser from :meth:`history_frame`'s table.

        Parameters
        ----------
        frame : pandas.DataFrame
            The saved history.
        config : NormalisationConfig, optional
            Options.
        reference_flux : mapping, keyword-only, optional
            Catalogue fluxes, as for the constructor.

        Returns
        -------
        Normaliser

        Raises
        ------
        dsa110.errors.FileFormatError
            When a column is missing.
        """
        self = cls(config, reference_flux=reference_flux)
        missing = {"source_id", "order", "flux_norm", "z"} - set(frame.columns)
        if missing:
            raise FileFormatError(
                "reference history", f"missing column(s) {sorted(missing)}"
            )
        for sid, grp in frame.sort_values(["source_id", "order"]).groupby(
            "source_id", sort=False
        ):
            for v, z in zip(grp["flux_norm"], grp["z"]):
                self._push(sid, v, z)
        return self


def _circular_mean(angle):
    return np.arctan2(np.mean(np.sin(angle)), np.mean(np.cos(angle))) % (2 * np.pi)
