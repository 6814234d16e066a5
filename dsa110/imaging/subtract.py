"""Bright sources subtracted from the visibilities before imaging, restored after.

A tile calibrated on its own calibrator transit holds that calibrator — 3C48 is
16 Jy, ~60 000 times the image noise — at its centre. CLEAN can model it, but its
steep spectrum then needs a second Taylor term (every prediction and gridding pass
twice) and its sidelobes a fourth major cycle: on a full tile the imaging took
~50 s instead of ~25 s. The calibrator's visibilities are known better than
CLEAN can model them: the solve made the calibrated data match its model (flux,
spectrum, and the primary beam of every integration and channel). As CASA's
``uvsub`` or WSClean's ``-subtract-model`` users do, the model is subtracted from
the visibilities by a direct Fourier transform
(:func:`dsa110.calibration.predict.predict_model`) and the field imaged without
it; the source is then put back into the restored image as a restoring-beam
Gaussian at its exact position, with the flux the image gives a point source
there (:func:`apparent_flux`), so that the products and the photometry see it as
before. The model image holds CLEAN's components only.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.errors import ConfigurationError

__all__ = ["subtract_sources", "apparent_flux", "add_point_sources"]

#: Correlation products an unpolarised source appears in with its Stokes I flux.
PARALLEL_HANDS = ("XX", "YY", "RR", "LL")


def subtract_sources(ds: xr.Dataset, sky) -> xr.Dataset:
    """Subtract a sky model's visibilities from the parallel hands (lazy).

    Parameters
    ----------
    ds : xarray.Dataset
        Calibrated visibility dataset (:mod:`dsa110.schema`), at any phase centres.
    sky : source or sequence of sources
        Unpolarised sources with their spectra
        (:func:`dsa110.calibration.predict.sky_arrays`), seen through the primary
        beam of each integration and channel.

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``VISIBILITY − model`` in ``XX``/``YY`` (``RR``/``LL``); the
        cross hands, flags and weights unchanged.
    """
    from dsa110.calibration.predict import predict_model

    pols = [str(p) for p in ds[schema.POLARIZATION].values]
    parallel = np.array([p in PARALLEL_HANDS for p in pols])
    if not parallel.any():
        raise ConfigurationError(
            f"polarization: subtracting an unpolarised model needs one of "
            f"{list(PARALLEL_HANDS)}, the dataset has {pols}"
        )
    vis = ds["VISIBILITY"]
    model = predict_model(ds, sky, beam=True).astype(vis.dtype)
    hands = xr.DataArray(parallel.astype(vis.real.dtype), dims=(schema.POLARIZATION,))
    return ds.assign(VISIBILITY=(vis - model * hands).astype(vis.dtype))


def apparent_flux(ds: xr.Dataset, sky, *, time_weights, freq_weights) -> np.ndarray:
    """Return the flux an MFS image gives each source, before PB correction.

    ``Σ_t Σ_c w_t w_c S(ν_c) B(t, c) / (Σ_t w_t Σ_c w_c)``: the source's spectrum
    through the primary beam of every integration and channel, averaged with the
    imaging weights — the effective beam's weighting
    (:func:`dsa110.imaging.pbcor.effective_primary_beam`), so that dividing by
    that beam gives the beam-weighted mean flux density, and the flux for a flat
    spectrum.

    Parameters
    ----------
    ds : xarray.Dataset
        The visibilities that were imaged (their times and frequencies).
    sky : source or sequence of sources
    time_weights, freq_weights : array-like
        ``(time,)`` and ``(frequency,)`` sums of the imaging weights.

    Returns
    -------
    numpy.ndarray
        ``(source,)`` Jy/beam.
    """
    from dsa110.calibration.predict import sky_arrays, source_geometry
    from dsa110.telescope import airy_beam

    freq = np.asarray(ds[schema.FREQUENCY].values, np.float64)
    tw = np.asarray(time_weights, np.float64)
    fw = np.asarray(freq_weights, np.float64)
    if tw.shape != (ds.sizes[schema.TIME],) or fw.shape != freq.shape:
        raise ConfigurationError(
            f"time_weights/freq_weights: expected ({ds.sizes[schema.TIME]},) and "
            f"{freq.shape}, got {tw.shape} and {fw.shape}"
        )
    ra, dec, spec, _ = sky_arrays(sky, freq)
    _, offset = source_geometry(ds, ra, dec, beam=True)  # (time, source)
    beam = airy_beam(offset[:, :, None], freq[None, None, :])  # (time, source, chan)
    seen = np.einsum("t,tsc,sc,c->s", tw, beam, spec, fw)
    return seen / (tw.sum() * fw.sum())


def add_point_sources(image, pixels, fluxes, beam, cell_arcsec):
    """Add restoring-beam Gaussians at fractional pixel positions (in place).

    Parameters
    ----------
    image : numpy.ndarray
        ``(l, m)`` Jy/beam.
    pixels : (array-like, array-like)
        Fractional ``(l, m)`` pixel positions
        (:func:`dsa110.imaging.modes.radec_to_pixel`).
    fluxes : array-like
        Peak of each Gaussian, Jy/beam.
    beam : dsa110.imaging.beam.Beam
    cell_arcsec : float

    Returns
    -------
    numpy.ndarray
        ``image``.

    Raises
    ------
    ConfigurationError
        When the positions and fluxes differ in number.

    Notes
    -----
    Each Gaussian is drawn within 3 major-axis FWHM of its peak (where it has
    fallen to 1.5e-11), not over the whole image.
    """
    from dsa110.imaging.beam import gaussian_image

    xs, ys, fluxes = (
        np.atleast_1d(np.asarray(a, np.float64)) for a in (*pixels, fluxes)
    )
    if not xs.shape == ys.shape == fluxes.shape:
        raise ConfigurationError(
            f"pixels/fluxes: {xs.shape} and {ys.shape} positions for {fluxes.shape} "
            "fluxes"
        )
    half = int(np.ceil(3.0 * beam.bmaj / cell_arcsec)) + 1
    n_l, n_m = image.shape
    for x, y, s in zip(xs, ys, fluxes):
        i0, j0 = int(round(float(x))), int(round(float(y)))
        a0, a1 = max(i0 - half, 0), min(i0 + half + 1, n_l)
        b0, b1 = max(j0 - half, 0), min(j0 + half + 1, n_m)
        if a0 >= a1 or b0 >= b1:
            continue
        window = (a1 - a0, b1 - b0)
        image[a0:a1, b0:b1] += (
            s * gaussian_image(window, beam, cell_arcsec, centre=(x - a0, y - b0))
        ).astype(image.dtype)
    return image
