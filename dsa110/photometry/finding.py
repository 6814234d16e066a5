"""Blind source finding: islands above seed/flood thresholds, elliptical Gaussian fits.

1. Background and rms maps (:mod:`dsa110.photometry.background`).
2. Islands: connected pixels with S/N ≥ ``flood`` (default 3) that contain a
   pixel with S/N ≥ ``seed`` (default 5), labelled with :func:`scipy.ndimage.label`.
3. Components: local maxima of the island at least half a beam apart, above the
   seed threshold and separated from brighter peaks by a dip of ≥ ``dip_sigma`` σ
   (deblending of touching sources).
4. A joint fit of one elliptical Gaussian per component to the island's pixels
   (:func:`scipy.optimize.least_squares`); errors from Condon (1997) with the
   noise correlated over the beam; shapes deconvolved from the beam.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError
from dsa110.photometry.background import BackgroundGrid, estimate_background
from dsa110.photometry.beam import FWHM_TO_SIGMA, axes_from_covariance, deconvolve

__all__ = ["find_sources", "SOURCE_COLUMNS"]

#: Columns of the table :func:`find_sources` returns (units in the docstring).
SOURCE_COLUMNS = (
    "island",
    "component",
    "n_components",
    "ra",
    "dec",
    "ra_err",
    "dec_err",
    "x",
    "y",
    "peak_flux",
    "peak_flux_err",
    "int_flux",
    "int_flux_err",
    "maj",
    "min",
    "pa",
    "dc_maj",
    "dc_min",
    "dc_pa",
    "resolved",
    "rms",
    "bkg",
    "snr",
    "fit_ok",
)


def _rotated(params, c, xx, yy):
    """Component ``c``'s amplitude, widths, cos/sin of its angle and its axes' u, v."""
    amp, x0, y0, sx, sy, th = params[6 * c : 6 * c + 6]
    ct, st = np.cos(th), np.sin(th)
    dx, dy = xx - x0, yy - y0
    u = (ct * dx + st * dy) / sx
    v = (-st * dx + ct * dy) / sy
    return amp, sx, sy, ct, st, u, v


def _gauss(params, xx, yy, k):
    model = np.zeros_like(xx, dtype=float)
    for c in range(k):
        amp, _, _, _, _, u, v = _rotated(params, c, xx, yy)
        model += amp * np.exp(-0.5 * (u * u + v * v))
    return model


def _gauss_jac(params, xx, yy, k):
    """Jacobian of :func:`_gauss`, ``(pixel, 6 k)`` (analytic: a fit's cost was
    ~90 % finite-difference evaluations of the model)."""
    jac = np.empty((xx.size, 6 * k))
    for c in range(k):
        amp, sx, sy, ct, st, u, v = _rotated(params, c, xx, yy)
        e = np.exp(-0.5 * (u * u + v * v))
        g = amp * e
        jac[:, 6 * c] = e
        jac[:, 6 * c + 1] = g * (u * ct / sx - v * st / sy)
        jac[:, 6 * c + 2] = g * (u * st / sx + v * ct / sy)
        jac[:, 6 * c + 3] = g * u * u / sx
        jac[:, 6 * c + 4] = g * v * v / sy
        jac[:, 6 * c + 5] = -g * u * v * (sy / sx - sx / sy)
    return jac


def _peaks(sub, snr, mask, footprint, seed, dip_sigma, max_components):
    """Deblended peak pixels (y, x) of one island, brightest first."""
    from scipy.ndimage import maximum_filter  # deferred: scipy is heavy

    s = np.where(mask, snr, -np.inf)
    local = (
        maximum_filter(s, footprint=footprint, mode="constant", cval=-np.inf) == s
    ) & mask
    local &= snr >= seed
    py, px = np.nonzero(local)
    order = np.argsort(-snr[py, px])
    py, px = py[order], px[order]
    keep = []
    for j in range(py.size):
        ok = True
        for i in keep:
            npt = int(max(abs(py[j] - py[i]), abs(px[j] - px[i]))) + 1
            ly = np.rint(np.linspace(py[i], py[j], npt)).astype(int)
            lx = np.rint(np.linspace(px[i], px[j], npt)).astype(int)
            if snr[py[j], px[j]] - snr[ly, lx].min() < dip_sigma:
                ok = False
                break
        if ok:
            keep.append(j)
        if len(keep) >= max_components:
            break
    return py[keep], px[keep]


def find_sources(
    image,
    *,
    seed=5.0,
    flood=3.0,
    background=None,
    dip_sigma=2.0,
    max_components=8,
    min_island_pixels=4,
    max_fit_beams=50.0,
):
    """Find and fit sources in an image.

    Parameters
    ----------
    image : Image
        Restored image, Jy/beam.
    seed, flood : float, keyword-only
        S/N thresholds for island seeds and island extent.
    background : BackgroundGrid or tuple of numpy.ndarray, keyword-only
        Background and rms (estimated when omitted).
    dip_sigma : float, keyword-only
        A fainter peak is a separate component only when the image dips by at
        least this many σ between it and every brighter peak.
    max_components : int, keyword-only
        Components fitted per island at most.
    min_island_pixels : int, keyword-only
        Smaller islands are ignored.
    max_fit_beams : float, keyword-only
        Islands larger than this many beam areas are fitted only within two
        beam widths of each component's peak.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SOURCE_COLUMNS`: ``ra``/``dec`` (deg), ``ra_err``/``dec_err``
        (arcsec; RA error on the sky, i.e. × cos δ), ``peak_flux`` (Jy/beam),
        ``int_flux`` (Jy), their errors, fitted ``maj``/``min`` (arcsec FWHM) and
        ``pa`` (deg E of N), deconvolved ``dc_*`` (0 when unresolved),
        ``resolved`` (bool), ``rms``/``bkg`` (Jy/beam), ``snr`` (peak/rms),
        ``fit_ok`` (False when the Gaussian fit failed and the peak pixel was
        used, or when the fitted centre lies on a blanked pixel: extrapolated
        from a source's wing beyond a blanked edge).

    References
    ----------
    Condon, J. J. 1997, PASP 109, 166. Hancock et al. 2012, MNRAS 422, 1812 (Aegean).
    """
    from scipy import ndimage  # deferred: scipy is heavy
    from scipy.optimize import least_squares  # deferred: scipy is heavy

    if seed < flood:
        raise ConfigurationError(f"seed ({seed}) must be >= flood ({flood})")
    data = np.asarray(image.data, dtype=np.float64)
    wcs, beam = image.wcs, image.beam
    fwhm = beam.fwhm_pixels(wcs)
    if background is None:
        background = estimate_background(data, beam_fwhm_pix=fwhm)
    if isinstance(background, BackgroundGrid):
        bkg, rms = background.maps()
    else:
        bkg, rms = background
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = (data - bkg) / rms
    snr = np.where(np.isfinite(snr), snr, -np.inf)
    labels, nlab = ndimage.label(snr >= flood, structure=np.ones((3, 3)))
    if nlab == 0:
        return pd.DataFrame({c: [] for c in SOURCE_COLUMNS})
    # each island's peak S/N (ndimage.maximum sorts the whole image: ~1 s at 2400²)
    inside = labels > 0
    peaks = np.full(nlab + 1, -np.inf)
    np.maximum.at(peaks, labels[inside], snr[inside])
    peaks = peaks[1:]
    slices = ndimage.find_objects(labels)

    bcov_pix = beam.pixel_covariance(wcs)
    lam, vec = np.linalg.eigh(bcov_pix)
    bsx, bsy = np.sqrt(lam[1]), np.sqrt(lam[0])
    bth = np.arctan2(vec[1, 1], vec[0, 1])
    minor_px = beam.minor_fwhm_pixels(wcs)
    rad = max(int(minor_px // 2), 1)
    fy, fx = np.mgrid[-rad : rad + 1, -rad : rad + 1]
    footprint = fx**2 + fy**2 <= rad**2
    m = np.asarray(wcs.pixel_scale_matrix, float)
    theta_n2 = (beam.bmaj * beam.bmin) * 3600.0**2  # arcsec², noise correlation = beam
    beam_area_px = 2 * np.pi * bsx * bsy  # Gaussian beam area, pixels

    rows = []
    for lab in range(1, nlab + 1):
        if peaks[lab - 1] < seed:
            continue
        sl = slices[lab - 1]
        # pad the island box by one pixel so the fit sees the edges
        y0, y1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, data.shape[0])
        x0, x1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, data.shape[1])
        isl = labels[y0:y1, x0:x1] == lab
        if isl.sum() < min_island_pixels:
            continue
        fit_mask = ndimage.binary_dilation(isl) & np.isfinite(data[y0:y1, x0:x1])
        sub = data[y0:y1, x0:x1] - bkg[y0:y1, x0:x1]
        ssnr = snr[y0:y1, x0:x1]
        py, px = _peaks(sub, ssnr, isl, footprint, seed, dip_sigma, max_components)
        if py.size == 0:
            j = np.argmax(np.where(isl, ssnr, -np.inf))
            py, px = np.unravel_index([j], isl.shape)
        k = py.size
        if fit_mask.sum() > max_fit_beams * beam_area_px:
            # A very large island (a bright source's sidelobes, diffuse
            # emission): fit each component on the pixels within two beam
            # widths of its peak, not on the whole island (whose dense
            # least-squares cost grows with pixels × parameters²).
            near = np.zeros_like(fit_mask)
            gy, gx = np.mgrid[0 : fit_mask.shape[0], 0 : fit_mask.shape[1]]
            for c in range(k):
                near |= (gy - py[c]) ** 2 + (gx - px[c]) ** 2 <= (2 * fwhm) ** 2
            fit_mask &= near
        yy, xx = np.nonzero(fit_mask)
        dvals = sub[yy, xx]
        sig = rms[y0:y1, x0:x1][yy, xx]
        p0, lo, hi = [], [], []
        for c in range(k):
            amp = sub[py[c], px[c]]
            p0 += [amp, px[c], py[c], bsx, bsy, bth]
            lo += [0.0, px[c] - fwhm, py[c] - fwhm, 0.5 * bsy, 0.5 * bsy, bth - np.pi]
            hi += [
                10 * abs(amp) + 1e-30,
                px[c] + fwhm,
                py[c] + fwhm,
                20 * bsx,
                20 * bsx,
                bth + np.pi,
            ]
        p0 = np.clip(
            np.asarray(p0, float), np.asarray(lo) + 1e-9, np.asarray(hi) - 1e-9
        )
        fit_ok = True
        if yy.size > 6 * k:
            try:
                res = least_squares(
                    lambda p, xx=xx, yy=yy, k=k, dvals=dvals, sig=sig: (
                        (_gauss(p, xx, yy, k) - dvals) / sig
                    ),
                    p0,
                    jac=lambda p, xx=xx, yy=yy, k=k, sig=sig: (
                        _gauss_jac(p, xx, yy, k) / sig[:, None]
                    ),
                    bounds=(lo, hi),
                    x_scale="jac",
                    max_nfev=200 * k,
                )
                params = res.x
                fit_ok = bool(res.success)
            except (ValueError, np.linalg.LinAlgError):
                params, fit_ok = p0, False
        else:
            params, fit_ok = p0, False
        for c in range(k):
            amp, xc, yc, sx, sy, th = params[6 * c : 6 * c + 6]
            ct, st = np.cos(th), np.sin(th)
            rot = np.array([[ct, -st], [st, ct]])
            cov_pix = rot @ np.diag([sx * sx, sy * sy]) @ rot.T
            cov_sky = m @ cov_pix @ m.T * 3600.0**2  # arcsec²
            maj, mnr, pa = axes_from_covariance(cov_sky)
            maj, mnr, pa = float(maj), float(mnr), float(pa)
            dmaj, dmin, dpa = deconvolve(maj / 3600, mnr / 3600, pa, beam)
            ra_c, dec_c = wcs.pixel_to_world_values(xc + x0, yc + y0)
            xi = int(np.clip(np.rint(xc + x0), 0, data.shape[1] - 1))
            yi = int(np.clip(np.rint(yc + y0), 0, data.shape[0] - 1))
            sigma = float(rms[yi, xi])
            # a centre on a blanked pixel was extrapolated from a wing (a
            # source beyond the PB limit's edge): not a measurement
            on_data = bool(np.isfinite(data[yi, xi]))

            # Condon (1997) eq. 41, θ_N² = bmaj·bmin (noise correlated over the beam)
            def rho2(am, an, maj=maj, mnr=mnr, amp=amp, sigma=sigma):
                return (
                    maj
                    * mnr
                    / (4 * theta_n2)
                    * (1 + theta_n2 / maj**2) ** am
                    * (1 + theta_n2 / mnr**2) ** an
                    * (amp / sigma) ** 2
                )

            e_amp = amp * np.sqrt(2.0 / rho2(1.5, 1.5))
            e_maj = maj * np.sqrt(2.0 / rho2(2.5, 0.5))
            e_min = mnr * np.sqrt(2.0 / rho2(0.5, 2.5))
            e_xmaj = maj * FWHM_TO_SIGMA * np.sqrt(2.0 / rho2(2.5, 0.5))
            e_xmin = mnr * FWHM_TO_SIGMA * np.sqrt(2.0 / rho2(0.5, 2.5))
            spa, cpa = np.sin(np.radians(pa)), np.cos(np.radians(pa))
            ra_err = np.sqrt((e_xmaj * spa) ** 2 + (e_xmin * cpa) ** 2)
            dec_err = np.sqrt((e_xmaj * cpa) ** 2 + (e_xmin * spa) ** 2)
            size_ratio = maj * mnr / (beam.bmaj * beam.bmin * 3600.0**2)
            int_flux = amp * size_ratio
            int_err = abs(int_flux) * np.sqrt(
                (e_amp / amp) ** 2
                + theta_n2 / (maj * mnr) * ((e_maj / maj) ** 2 + (e_min / mnr) ** 2)
            )
            # resolved: the fitted major axis exceeds the beam by > 2σ of its error
            resolved = bool(maj - beam.bmaj * 3600 > 2 * e_maj)
            rows.append(
                (
                    lab,
                    c,
                    k,
                    float(ra_c),
                    float(dec_c),
                    float(ra_err),
                    float(dec_err),
                    float(xc + x0),
                    float(yc + y0),
                    float(amp),
                    float(e_amp),
                    float(int_flux),
                    float(int_err),
                    maj,
                    mnr,
                    pa,
                    float(dmaj) * 3600,
                    float(dmin) * 3600,
                    float(dpa),
                    resolved,
                    sigma,
                    float(bkg[yi, xi]),
                    float(amp / sigma),
                    fit_ok and on_data,
                )
            )
    return pd.DataFrame(rows, columns=list(SOURCE_COLUMNS))
