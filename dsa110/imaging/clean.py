"""Deconvolution: Högbom minor cycles inside Cotton–Schwab major cycles.

The minor cycle works on the "active" pixels only — those of the residual (inside
the mask) brighter than a fraction of the cycle's stopping level — and subtracts a
PSF patch from them, so that its cost does not grow with the image size. Each major
cycle then degrids the accumulated model and recomputes the residual exactly from
the visibilities (Cotton–Schwab), which also removes the errors of the approximate
minor cycle.

Stopping: ``niter`` (total components), an absolute ``threshold`` (Jy/beam) and an
``auto_threshold`` in units of the residual's robust σ (1.4826 × MAD), whichever is
reached first. ``mgain`` is the fraction of the peak the minor cycle removes before
the next major cycle (WSClean's ``-mgain``).

With ``nterms > 1`` the model is a Taylor polynomial in frequency about the image's
reference frequency, ``I(ν) = Σ_t I_t x^t`` with ``x = (ν − ν_ref) / ν_ref``
(multi-term multi-frequency synthesis, Rau & Cornwell 2011): the minor cycle works
on the Taylor-weighted residuals with the Taylor-weighted PSFs and places, at each
step, the point component whose ``T`` coefficients explain most of them; each major
cycle predicts ``Σ_t x^t I_t``. This removes the residual sidelobes a single
flat-spectrum model leaves around a bright source with a steep spectrum.

References
----------
Högbom, J. A. (1974), A&AS 15, 417. Schwab, F. R. (1984), AJ 89, 1076.
Rau, U. & Cornwell, T. J. (2011), A&A 532, A71.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dsa110._compat.numba import JIT_OPTIONS
from dsa110.errors import ConfigurationError

__all__ = [
    "CleanResult",
    "hogbom_minor_cycle",
    "multiterm_minor_cycle",
    "mad_sigma",
    "circle_mask",
    "cotton_schwab",
]


@njit(**JIT_OPTIONS)
def _hogbom(values, px, py, psf, model, gain, stop, niter):
    n = values.shape[0]
    pcx = psf.shape[0] // 2
    pcy = psf.shape[1] // 2
    done = 0
    peak = 0.0
    while done < niter:
        best = -1
        peak = 0.0
        for k in range(n):
            a = abs(values[k])
            if a > peak:
                peak = a
                best = k
        if best < 0 or peak <= stop:
            break
        amp = gain * values[best]
        model[px[best], py[best]] += amp
        bx = px[best]
        by = py[best]
        for k in range(n):
            dx = px[k] - bx + pcx
            dy = py[k] - by + pcy
            if 0 <= dx < psf.shape[0] and 0 <= dy < psf.shape[1]:
                values[k] -= amp * psf[dx, dy]
        done += 1
    return done, peak


@njit(**JIT_OPTIONS)
def _explained(values, k, hinv):
    """Return ``a · v`` at tracked pixel ``k`` (explained by ``a = H⁻¹ v``)."""
    nterm = values.shape[0]
    explained = 0.0
    for i in range(nterm):
        ai = 0.0
        for j in range(nterm):
            ai += hinv[i, j] * values[j, k]
        explained += ai * values[i, k]
    return explained


@njit(**JIT_OPTIONS)
def _multiterm_hogbom(values, px, py, psfs, hinv, models, gain, stop, niter):
    # psfs: (l, m, 2T − 1), the terms last: the values one subtraction reads share
    # a cache line (the tracked pixels land anywhere in a PSF of ~100 MB per term)
    nterm, n = values.shape
    pcx = psfs.shape[0] // 2
    pcy = psfs.shape[1] // 2
    amp = np.empty(nterm)
    best = -1
    most = 0.0
    peak = 0.0
    for k in range(n):
        explained = _explained(values, k, hinv)
        if explained > most:
            most = explained
            best = k
        peak = max(peak, abs(values[0, k]))
    done = 0
    while done < niter and best >= 0 and peak > stop:
        for i in range(nterm):
            ai = 0.0
            for j in range(nterm):
                ai += hinv[i, j] * values[j, best]
            amp[i] = gain * ai
        bx = px[best]
        by = py[best]
        for i in range(nterm):
            models[i, bx, by] += amp[i]
        # subtract the component and search for the next in one pass
        best = -1
        most = 0.0
        peak = 0.0
        for k in range(n):
            dx = px[k] - bx + pcx
            dy = py[k] - by + pcy
            if 0 <= dx < psfs.shape[0] and 0 <= dy < psfs.shape[1]:
                for i in range(nterm):
                    sub = 0.0
                    for j in range(nterm):
                        sub += amp[j] * psfs[dx, dy, i + j]
                    values[i, k] -= sub
            explained = _explained(values, k, hinv)
            if explained > most:
                most = explained
                best = k
            peak = max(peak, abs(values[0, k]))
        done += 1
    return done, peak


def _active_pixels(residual, mask, stop, active_fraction, max_active):
    """Indices of the brightest pixels (inside ``mask``) the minor cycle tracks."""
    absr = np.abs(residual)
    if mask is not None:
        absr = np.where(mask, absr, 0.0)
    idx = np.flatnonzero(absr > active_fraction * stop)
    if idx.size > max_active:
        idx = idx[np.argpartition(absr.ravel()[idx], -max_active)[-max_active:]]
    return idx


def multiterm_minor_cycle(
    residuals,
    psfs,
    models,
    *,
    gain=0.1,
    stop=0.0,
    niter=1000,
    mask=None,
    active_fraction=0.5,
    max_active=200_000,
    terms_last=False,
):
    """Multi-term (MT-MFS) Högbom CLEAN on the brightest pixels of the residuals.

    Parameters
    ----------
    residuals : sequence of numpy.ndarray
        ``T`` Taylor-weighted ``(l, m)`` residual images ``R_t`` (not modified).
    psfs : sequence of numpy.ndarray
        ``2T − 1`` Taylor-weighted PSF patches ``P_s`` (``P_0`` peaks at 1 at its
        centre ``(n // 2, n // 2)``): a sequence or ``(2T − 1, n, n)`` array, or
        with ``terms_last`` an ``(n, n, 2T − 1)`` array.
    models : numpy.ndarray
        ``(T, l, m)`` Taylor-coefficient images (Jy/pixel), updated in place.
    gain, stop, niter, mask, active_fraction, max_active : keyword-only
        As for :func:`hogbom_minor_cycle`; ``stop`` applies to ``|R_0|``.
    terms_last : bool, keyword-only
        ``psfs`` is ``(n, n, 2T − 1)``, the layout the loop reads (the three
        values one subtraction needs share a cache line: 1.3× faster on a full
        tile's 26 000 tracked pixels); otherwise it is transposed to it (a copy).

    Returns
    -------
    niter_done : int
    peak : float
        The peak ``|R_0|`` among the tracked pixels after the last component.
    """
    nterm = len(residuals)
    # (float32 PSFs stay float32: the products are formed in float64 anyway)
    if not terms_last:
        stacked = (
            psfs
            if isinstance(psfs, np.ndarray)
            else np.stack([np.asarray(p) for p in psfs])
        )
        psfs = np.moveaxis(np.asarray(stacked), 0, -1)
    psfs = _contiguous_float(psfs)
    if psfs.ndim != 3 or psfs.shape[2] != 2 * nterm - 1:
        raise ValueError(
            f"psfs: expected {2 * nterm - 1} Taylor PSFs for {nterm} terms, "
            f"got shape {psfs.shape} (terms {'last' if terms_last else 'first'})"
        )
    c = (psfs.shape[0] // 2, psfs.shape[1] // 2)
    hessian = np.array(
        [[psfs[c + (i + j,)] for j in range(nterm)] for i in range(nterm)],
        dtype=np.float64,
    )
    hinv = np.linalg.inv(hessian)
    idx = _active_pixels(residuals[0], mask, stop, active_fraction, max_active)
    if idx.size == 0:
        return 0, 0.0
    px, py = np.unravel_index(idx, residuals[0].shape)
    values = np.stack([np.asarray(r).ravel()[idx] for r in residuals]).astype(
        np.float64
    )
    done, peak = _multiterm_hogbom(
        values,
        px.astype(np.int64),
        py.astype(np.int64),
        psfs,
        hinv,
        models,
        float(gain),
        float(stop),
        int(niter),
    )
    return int(done), float(peak)


def _contiguous_float(a):
    """Return ``a`` as a C-contiguous float32/float64 array (no copy when it is one)."""
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return np.ascontiguousarray(a)


def hogbom_minor_cycle(
    residual,
    psf,
    model,
    *,
    gain=0.1,
    stop=0.0,
    niter=1000,
    mask=None,
    active_fraction=0.5,
    max_active=200_000,
):
    """Högbom CLEAN on the brightest pixels of a residual.

    Parameters
    ----------
    residual : numpy.ndarray
        ``(l, m)`` residual image, Jy/beam (not modified).
    psf : numpy.ndarray
        ``(l', m')`` PSF patch, peak 1 at its centre ``(n // 2, n // 2)``.
    model : numpy.ndarray
        ``(l, m)`` model image (Jy/pixel), updated in place.
    gain : float, keyword-only
        Loop gain.
    stop : float, keyword-only
        Stop when the peak absolute residual falls to this level.
    niter : int, keyword-only
        Maximum number of components.
    mask : numpy.ndarray, optional
        ``(l, m)`` bool: where components may be placed.
    active_fraction : float, keyword-only
        Pixels brighter than ``active_fraction × stop`` are tracked.
    max_active : int, keyword-only
        At most this many brightest pixels are tracked.

    Returns
    -------
    niter_done : int
    peak : float
        The last peak absolute residual among the tracked pixels.
    """
    idx = _active_pixels(residual, mask, stop, active_fraction, max_active)
    if idx.size == 0:
        return 0, 0.0
    px, py = np.unravel_index(idx, residual.shape)
    values = residual.ravel()[idx].astype(np.float64)
    done, peak = _hogbom(
        values,
        px.astype(np.int64),
        py.astype(np.int64),
        _contiguous_float(psf),
        model,
        float(gain),
        float(stop),
        int(niter),
    )
    return int(done), float(peak)


def mad_sigma(image, mask=None):
    """Robust noise: 1.4826 × the median absolute deviation (outside ``mask``).

    Parameters
    ----------
    image : numpy.ndarray
    mask : numpy.ndarray, optional
        bool, pixels to exclude.

    Returns
    -------
    float
    """
    values = image[~mask] if mask is not None else image.ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    med = np.median(values)
    return float(1.4826 * np.median(np.abs(values - med)))


def circle_mask(shape, centres, radius_pixels):
    """Union of circles on an ``(l, m)`` pixel grid.

    Parameters
    ----------
    shape : (int, int)
    centres : array-like
        ``(n, 2)`` pixel positions ``(ix, iy)``.
    radius_pixels : float or array-like
        Radius of each circle, pixels.

    Returns
    -------
    numpy.ndarray
        bool ``shape``.
    """
    mask = np.zeros(shape, dtype=bool)
    centres = np.atleast_2d(np.asarray(centres, dtype=np.float64))
    radius = np.broadcast_to(
        np.asarray(radius_pixels, dtype=np.float64), (centres.shape[0],)
    )
    for (cx, cy), r in zip(centres, radius):
        x0, x1 = max(0, int(cx - r - 1)), min(shape[0], int(cx + r + 2))
        y0, y1 = max(0, int(cy - r - 1)), min(shape[1], int(cy + r + 2))
        if x0 >= x1 or y0 >= y1:
            continue
        xx = np.arange(x0, x1)[:, None] - cx
        yy = np.arange(y0, y1)[None, :] - cy
        mask[x0:x1, y0:y1] |= xx * xx + yy * yy <= r * r
    return mask


@dataclass
class CleanResult:
    """Products of :func:`cotton_schwab`.

    Attributes
    ----------
    model, residual, psf : numpy.ndarray
        ``(l, m)`` images (Jy/pixel, Jy/beam, peak 1).
    niter : int
        Components found.
    major_cycles : int
    threshold : float
        The final stopping level, Jy/beam.
    sigma : float
        Robust σ of the final residual, Jy/beam.
    mask : numpy.ndarray or None
        The final clean mask.
    history : list of dict
        Peak, σ and components per major cycle.
    spectral_terms : list of numpy.ndarray
        With ``nterms > 1``: the Taylor-coefficient images ``I_1 …`` (Jy/pixel);
        ``model`` is ``I_0``, the flux at the reference frequency.
    """

    model: np.ndarray
    residual: np.ndarray
    psf: np.ndarray
    niter: int
    major_cycles: int
    threshold: float
    sigma: float
    mask: np.ndarray | None = None
    history: list = field(default_factory=list)
    spectral_terms: list = field(default_factory=list)


def cotton_schwab(
    imager,
    *,
    niter=10000,
    threshold=0.0,
    auto_threshold=3.0,
    gain=0.1,
    mgain=0.8,
    max_major=10,
    mask=None,
    auto_mask=None,
    psf_patch=257,
    dirty=None,
    psf=None,
    nterms=1,
):
    """Cotton–Schwab CLEAN of an :class:`dsa110.imaging.imager.Imager`.

    Parameters
    ----------
    imager : Imager
        Visibilities, weights and image geometry.
    niter : int, keyword-only
        Maximum number of components in all.
    threshold : float, keyword-only
        Absolute stopping level, Jy/beam.
    auto_threshold : float, keyword-only
        Stopping level in units of the residual's robust σ (0 disables).
    gain : float, keyword-only
        Loop gain (0, 1].
    mgain : float, keyword-only
        Major-cycle gain (0, 1]: each minor cycle stops at ``(1 − mgain) × peak``.
    max_major : int, keyword-only
        Maximum number of major cycles.
    mask : numpy.ndarray, optional
        ``(l, m)`` bool clean mask (e.g. :func:`circle_mask` around catalogue sources).
    auto_mask : float, keyword-only
        First clean (unmasked) down to ``auto_mask × σ``, then continue down to
        ``auto_threshold × σ`` only where the model already has components (the
        semantics of WSClean's ``-auto-mask``). Not used with ``mask``: the
        components then lie inside it, so the second phase's mask would be
        ``mask`` itself, and the first phase only held CLEAN above the threshold
        for a major cycle (with few cycles, for good: the 3 of a full tile ended
        at ``auto_mask`` σ).
    psf_patch : int, keyword-only
        Smallest PSF patch the minor cycle subtracts; it always covers the image when
        the PSF is computed here (twice the image size).
    dirty, psf : numpy.ndarray, optional
        Precomputed dirty image and PSF (ideally twice the image size); with
        ``nterms > 1`` only the plain (Taylor-0) ones.
    nterms : int, keyword-only
        Taylor terms of the model's spectrum (1: flat, MFS; 2–3: MT-MFS, at
        ``nterms`` residual images and ``2 nterms − 1`` minor-cycle PSFs, and
        ``nterms`` predictions per major cycle).

    Returns
    -------
    CleanResult
    """
    for name, value in (("gain", gain), ("mgain", mgain)):
        if not 0 < value <= 1:
            raise ConfigurationError(f"{name}={value!r}: must lie in (0, 1]")
    if int(nterms) < 1:
        raise ConfigurationError(f"nterms={nterms!r}: expected at least 1")
    nterms = int(nterms)
    residual = imager.dirty() if dirty is None else dirty
    residuals = [residual] + [imager.dirty(taylor=t) for t in range(1, nterms)]
    npix = residual.shape[0]
    if psf is None:
        # the exact (w-gridded) PSF for the products and the beam fit, and w-less
        # PSFs twice the image size for the minor cycle
        psf = imager.psf()
        bigs = [
            imager.psf(oversize=2, do_wgridding=False, taylor=t)
            for t in range(2 * nterms - 1)
        ]
    else:
        bigs = [psf] + [
            imager.psf(oversize=2, do_wgridding=False, taylor=t)
            for t in range(1, 2 * nterms - 1)
        ]
    # the minor cycle subtracts a PSF large enough to reach every pixel of the image
    n = bigs[0].shape[0]
    half = min(max(psf_patch // 2, npix), n // 2 - 1)
    c = n // 2
    # one contiguous stack, filled as the full-size PSFs are let go: no minor cycle
    # copies them again (multi-term: the terms along the last axis, as its loop
    # reads them)
    m = 2 * half + 1
    shape = (1, m, m) if nterms == 1 else (m, m, len(bigs))
    patches = np.empty(shape, dtype=np.result_type(*bigs, np.float32))
    for i in range(len(bigs)):
        window = bigs[i][c - half : c + half + 1, c - half : c + half + 1]
        if nterms == 1:
            patches[i] = window
        else:
            patches[:, :, i] = window
        bigs[i] = None
    models = np.zeros((nterms,) + residual.shape, dtype=np.float64)
    model = models[0]
    total = 0
    history = []
    user_mask = None if mask is None else np.asarray(mask, dtype=bool)
    active_mask = user_mask
    # auto-masking phase started (WSClean's -auto-mask semantics); with the user's
    # mask there is no first phase: the model's components ∪ the mask is the mask
    masking = user_mask is not None
    stop_level = threshold
    for major in range(max_major):
        sigma = mad_sigma(residual, active_mask)
        level = auto_mask if (auto_mask and not masking) else auto_threshold
        stop_level = max(threshold, level * sigma)
        search = np.abs(
            residual if active_mask is None else np.where(active_mask, residual, 0)
        )
        peak = float(search.max())
        history.append(dict(peak=peak, sigma=sigma, niter=total, masked=masking))
        if peak <= stop_level and auto_mask and not masking and total < niter:
            # reached the auto-mask level: from now on, clean deeper where the
            # model already has components (and inside the user's mask)
            masking = True
            grown = model != 0
            active_mask = grown if user_mask is None else (grown | user_mask)
            stop_level = max(
                threshold, auto_threshold * mad_sigma(residual, active_mask)
            )
            peak = float(np.abs(np.where(active_mask, residual, 0)).max())
        if peak <= stop_level or total >= niter:
            break
        if len(history) > 2 and peak > 2.0 * history[-2]["peak"]:
            break  # diverging (e.g. a PSF too small for the image): keep what we have
        cycle_stop = max(stop_level, (1.0 - mgain) * peak)
        cycle = dict(gain=gain, stop=cycle_stop, niter=niter - total, mask=active_mask)
        if nterms == 1:
            done, _ = hogbom_minor_cycle(residual, patches[0], model, **cycle)
        else:
            done, _ = multiterm_minor_cycle(
                residuals, patches, models, terms_last=True, **cycle
            )
        total += done
        if done == 0:
            break
        if nterms == 1:
            residual = imager.residual(model.astype(imager.plan.real_dtype))
        else:
            residuals = imager.residual_terms(models.astype(imager.plan.real_dtype))
            residual = residuals[0]
    pool = getattr(imager, "stack_pool", None)
    if pool is not None:
        pool.clear()  # the passes are over: restoring and writing need no stacks
    return CleanResult(
        model,
        residual,
        psf,
        total,
        len(history),
        stop_level,
        mad_sigma(residual),
        active_mask,
        history,
        [m for m in models[1:]],
    )
