"""Transient and new-source candidates: detections with no catalogue counterpart.

Blind detections (from source finding on the images, or candidates from the
imaging stage's snapshot images) that match no catalogue source within
``match_radius`` are grouped across epochs by position (friends-of-friends with
the same radius). A group seen in at least ``min_epochs`` distinct images is a
*confirmed* new source; one seen once is a *single-epoch* candidate, kept with
its significance; groups in between are *unconfirmed*. Snapshot candidates
(``origin == "snapshot"``) enter the same list and are counted like images.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError
from dsa110.variability.measurements import MeasurementTableError

__all__ = ["DETECTION_COLUMNS", "find_transients"]

#: Required columns of a detection table.
DETECTION_COLUMNS = ("image_id", "time", "ra", "dec", "flux", "flux_err", "snr")


def _unit(ra_deg, dec_deg):
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack(
        [np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]
    )


def _chord(radius_arcsec):
    return 2.0 * np.sin(np.radians(radius_arcsec / 3600.0) / 2.0)


def find_transients(
    detections, catalog=None, *, match_radius=10.0, min_epochs=2, min_snr=5.0
):
    """List detections without a catalogue counterpart, grouped by position.

    Parameters
    ----------
    detections : pandas.DataFrame
        One row per detection: ``image_id``, ``time`` (MJD), ``ra``, ``dec``
        (deg), ``flux``, ``flux_err`` (Jy), ``snr``; optional ``origin``
        (``"image"`` or ``"snapshot"``) and ``catalog_id`` (an existing
        cross-match; null for none).
    catalog : pandas.DataFrame, optional
        Known sources (``ra``, ``dec`` in deg) to match against; when omitted,
        ``catalog_id`` decides.
    match_radius : float, keyword-only
        Cross-match and grouping radius, arcsec.
    min_epochs : int, keyword-only
        Distinct images needed for a confirmed new source.
    min_snr : float, keyword-only
        Detections below this SNR are ignored.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, most significant first: ``candidate_id``,
        ``ra``, ``dec`` (SNR²-weighted mean, deg), ``n_epochs``,
        ``n_detections``, ``first_time``, ``last_time``, ``peak_flux``,
        ``peak_flux_err``, ``peak_snr``, ``significance`` (the peak SNR for one
        epoch, the quadrature sum of the SNRs otherwise), ``status``
        (``"confirmed"``, ``"unconfirmed"``, ``"single_epoch"``) and
        ``origins`` (e.g. ``"image,snapshot"``).

    Raises
    ------
    MeasurementTableError
        When a required column is missing.
    dsa110.errors.ConfigurationError
        For a non-positive radius or ``min_epochs`` < 1.
    """
    # deferred: scipy's spatial and graph modules are only needed here
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if not match_radius > 0 or int(min_epochs) < 1:
        raise ConfigurationError("match_radius must be > 0 and min_epochs >= 1")
    missing = [c for c in DETECTION_COLUMNS if c not in detections.columns]
    if missing:
        raise MeasurementTableError(
            "detection table",
            f"missing column(s) {', '.join(missing)}",
            field=missing[0],
        )
    det = detections[detections["snr"] >= min_snr].copy()
    if "origin" not in det:
        det["origin"] = "image"
    unmatched = np.ones(len(det), dtype=bool)
    if "catalog_id" in det:
        unmatched &= det["catalog_id"].isna().to_numpy()
    if catalog is not None and len(catalog) and len(det):
        tree = cKDTree(_unit(catalog["ra"].to_numpy(), catalog["dec"].to_numpy()))
        dist, _ = tree.query(_unit(det["ra"].to_numpy(), det["dec"].to_numpy()))
        unmatched &= dist > _chord(match_radius)
    det = det[unmatched].reset_index(drop=True)
    cols = [
        "candidate_id",
        "ra",
        "dec",
        "n_epochs",
        "n_detections",
        "first_time",
        "last_time",
        "peak_flux",
        "peak_flux_err",
        "peak_snr",
        "significance",
        "status",
        "origins",
    ]
    if det.empty:
        return pd.DataFrame(columns=cols)
    xyz = _unit(det["ra"].to_numpy(), det["dec"].to_numpy())
    pairs = cKDTree(xyz).query_pairs(_chord(match_radius), output_type="ndarray")
    n = len(det)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    det["group"] = label
    rows = []
    for _, grp in det.groupby("group", sort=False):
        w = grp["snr"].to_numpy() ** 2
        v = (_unit(grp["ra"].to_numpy(), grp["dec"].to_numpy()) * w[:, None]).sum(0)
        ra = np.degrees(np.arctan2(v[1], v[0])) % 360.0
        dec = np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1])))
        # one SNR per image: the best detection in it
        per_image = grp.groupby("image_id")["snr"].max().to_numpy()
        n_ep = per_image.size
        peak = grp.loc[grp["snr"].idxmax()]
        status = (
            "confirmed"
            if n_ep >= min_epochs
            else "single_epoch"
            if n_ep == 1
            else "unconfirmed"
        )
        rows.append(
            (
                ra,
                dec,
                n_ep,
                len(grp),
                grp["time"].min(),
                grp["time"].max(),
                peak["flux"],
                peak["flux_err"],
                peak["snr"],
                float(np.sqrt(np.sum(per_image**2)))
                if n_ep > 1
                else float(peak["snr"]),
                status,
                ",".join(sorted(set(grp["origin"].astype(str)))),
            )
        )
    out = pd.DataFrame(rows, columns=cols[1:])
    out = out.sort_values("significance", ascending=False, kind="stable")
    out.insert(0, "candidate_id", np.arange(len(out)))
    return out.reset_index(drop=True)
