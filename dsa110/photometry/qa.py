"""Astrometry and flux-scale quality assessment of an image against a catalog.

The observatory's epoch gates are configurable checks (:class:`QAThresholds`):
the median flux ratio (image / catalog, compact bright sources) within
[0.8, 1.2], completeness against the catalog ≥ 60%, and the image rms ≤ 2×
the expected noise floor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError

__all__ = ["QAThresholds", "QAReport", "image_qa"]


@dataclass(frozen=True)
class QAThresholds:
    """Pass/fail limits of the per-image QA.

    Parameters
    ----------
    flux_ratio_range : tuple of float
        Allowed median flux ratio (image / catalog).
    min_completeness : float
        Minimum fraction of catalog sources (expected S/N ≥ ``completeness_snr``)
        that are detected.
    max_rms_factor : float
        Maximum image rms in units of the noise floor.
    max_offset_arcsec : float
        Maximum systematic position offset (any direction).
    min_matches : int
        Fewest bright compact catalog matches for the flux-ratio and astrometry
        gates to be evaluated; with fewer (a median of one or two confused
        matches says nothing about the flux scale) those checks are ``None``.
    """

    flux_ratio_range: tuple = (0.8, 1.2)
    min_completeness: float = 0.6
    max_rms_factor: float = 2.0
    max_offset_arcsec: float = float("inf")
    min_matches: int = 3


@dataclass
class QAReport:
    """Result of :func:`image_qa` (units: arcsec, Jy/beam, dimensionless ratios)."""

    n_matched: int
    offset_ra_arcsec: float
    offset_dec_arcsec: float
    offset_ra_err_arcsec: float
    offset_dec_err_arcsec: float
    offset_scatter_arcsec: float
    flux_ratio: float
    flux_ratio_scatter: float
    completeness: float
    n_expected: int
    rms: float
    rms_floor: float
    checks: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every evaluated check passed."""
        return all(v for v in self.checks.values() if v is not None)

    def to_dict(self) -> dict:
        """Return the report as a JSON-friendly dict."""
        d = asdict(self)
        d["passed"] = self.passed
        return d


def image_qa(
    image,
    catalog: pd.DataFrame,
    *,
    sources: pd.DataFrame | None = None,
    background=None,
    rms_floor=None,
    match_radius_arcsec=None,
    bright_snr=10.0,
    completeness_snr=10.0,
    thresholds: QAThresholds = QAThresholds(),
) -> QAReport:
    """Compare an image's detections with a reference catalog.

    Parameters
    ----------
    image : Image
        The image.
    catalog : pandas.DataFrame
        Reference catalog with ``ra``, ``dec`` (deg), ``flux_int`` (Jy) and
        optionally ``resolved`` (bool).
    sources : pandas.DataFrame, keyword-only
        Output of :func:`~dsa110.photometry.finding.find_sources` (computed
        when omitted).
    background : BackgroundGrid, keyword-only
        Background/rms grid (estimated when omitted).
    rms_floor : float, keyword-only
        Expected noise (Jy/beam); the rms check is skipped when omitted.
    match_radius_arcsec : float, keyword-only
        Match radius (default: half the beam's major FWHM).
    bright_snr : float, keyword-only
        Detections used for astrometry and flux scale: S/N ≥ this, unresolved,
        single-component islands, matched to unresolved catalog sources.
    completeness_snr : float, keyword-only
        Catalog sources whose expected S/N (flux / local rms) ≥ this count
        towards completeness.
    thresholds : QAThresholds, keyword-only

    Returns
    -------
    QAReport
    """
    from dsa110.catalogs.crossmatch import (
        crossmatch,  # deferred: avoid an import cycle at load
    )
    from dsa110.photometry.background import estimate_background
    from dsa110.photometry.finding import find_sources

    for col in ("ra", "dec", "flux_int"):
        if col not in catalog:
            raise ConfigurationError(f"catalog lacks column {col!r}")
    beam, wcs = image.beam, image.wcs
    if background is None:
        background = estimate_background(
            image.data, beam_fwhm_pix=beam.fwhm_pixels(wcs)
        )
    if sources is None:
        sources = find_sources(image, background=background)
    radius = (
        0.5 * beam.bmaj * 3600 if match_radius_arcsec is None else match_radius_arcsec
    )
    rms_img = float(np.nanmedian(background.rms))

    ny, nx = image.shape
    x, y = wcs.world_to_pixel_values(
        catalog["ra"].to_numpy(), catalog["dec"].to_numpy()
    )
    inside = (x > 0) & (x < nx - 1) & (y > 0) & (y < ny - 1)
    cat = catalog[inside].reset_index(drop=True)
    _, crms = background.at(x[inside], y[inside])
    compact_cat = (
        ~cat["resolved"].to_numpy(bool)
        if "resolved" in cat
        else np.ones(len(cat), bool)
    )

    # astrometry and flux scale from bright, compact, isolated detections
    good = (
        (sources["snr"] >= bright_snr)
        & ~sources["resolved"]
        & (sources["n_components"] == 1)
    )
    det = sources[good]
    idx, _ = crossmatch(
        det["ra"].to_numpy(),
        det["dec"].to_numpy(),
        cat["ra"].to_numpy(),
        cat["dec"].to_numpy(),
        radius_arcsec=radius,
    )
    ok = idx >= 0
    ok[ok] &= compact_cat[idx[ok]]
    d, c = det[ok], cat.iloc[idx[ok]]
    n = int(ok.sum())
    if n:
        cosd = np.cos(np.radians(c["dec"].to_numpy()))
        dra = (
            ((d["ra"].to_numpy() - c["ra"].to_numpy() + 180) % 360 - 180) * cosd * 3600
        )
        ddec = (d["dec"].to_numpy() - c["dec"].to_numpy()) * 3600
        ratio = d["peak_flux"].to_numpy() / c["flux_int"].to_numpy()
        off_ra, off_dec = float(np.median(dra)), float(np.median(ddec))
        # standard error of a median: 1.2533 σ / sqrt(N), σ from the MAD
        s_ra = 1.4826 * np.median(np.abs(dra - off_ra))
        s_dec = 1.4826 * np.median(np.abs(ddec - off_dec))
        e_ra, e_dec = 1.2533 * s_ra / np.sqrt(n), 1.2533 * s_dec / np.sqrt(n)
        scatter = float(np.hypot(s_ra, s_dec))
        fr = float(np.median(ratio))
        fr_s = float(1.4826 * np.median(np.abs(ratio - fr)))
    else:
        off_ra = off_dec = e_ra = e_dec = scatter = fr = fr_s = float("nan")

    # completeness against the catalog
    expected = (cat["flux_int"].to_numpy() / crms) >= completeness_snr
    n_exp = int(expected.sum())
    if n_exp:
        j, _ = crossmatch(
            cat["ra"].to_numpy()[expected],
            cat["dec"].to_numpy()[expected],
            sources["ra"].to_numpy(),
            sources["dec"].to_numpy(),
            radius_arcsec=radius,
        )
        completeness = float(np.mean(j >= 0))
    else:
        completeness = float("nan")

    lo, hi = thresholds.flux_ratio_range
    enough = n >= thresholds.min_matches
    checks = {
        "flux_ratio": (bool(lo <= fr <= hi) if np.isfinite(fr) else False)
        if enough
        else None,
        "completeness": bool(completeness >= thresholds.min_completeness)
        if np.isfinite(completeness)
        else False,
        "rms": None
        if rms_floor is None
        else bool(rms_img <= thresholds.max_rms_factor * rms_floor),
        "astrometry": bool(np.hypot(off_ra, off_dec) <= thresholds.max_offset_arcsec)
        if enough and np.isfinite(off_ra)
        else None,
    }
    return QAReport(
        n_matched=n,
        offset_ra_arcsec=off_ra,
        offset_dec_arcsec=off_dec,
        offset_ra_err_arcsec=float(e_ra),
        offset_dec_err_arcsec=float(e_dec),
        offset_scatter_arcsec=scatter,
        flux_ratio=fr,
        flux_ratio_scatter=fr_s,
        completeness=completeness,
        n_expected=n_exp,
        rms=rms_img,
        rms_floor=float("nan") if rms_floor is None else float(rms_floor),
        checks=checks,
    )
