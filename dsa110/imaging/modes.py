"""Imaging modes: a whole tile, per subband, and per-integration snapshots.

:func:`image_tile` rephases all integrations to one centre (the tile's median
meridian by default), CLEANs (Cotton–Schwab), fits the restoring beam, restores,
and divides by the drift-averaged primary beam. :func:`image_subbands` does this
per spectral window (48 channels), and :func:`snapshot_search` makes one dirty
image per integration (each at its own meridian phase centre) and reports peaks
above ``nsigma``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.errors import ConfigurationError
from dsa110.imaging.beam import Beam, fit_beam, restore
from dsa110.imaging.clean import (
    circle_mask,
    cotton_schwab,
    hogbom_minor_cycle,
    mad_sigma,
)
from dsa110.imaging.imager import ImageGeometry, Imager
from dsa110.imaging.pbcor import DEFAULT_PB_LIMIT, effective_primary_beam, pb_correct

__all__ = [
    "ImageProducts",
    "check_clean_options",
    "image_tile",
    "image_subbands",
    "subband_windows",
    "snapshot_search",
    "radec_to_pixel",
    "pixels_inside",
]


@dataclass
class ImageProducts:
    """The images of one imaging run, all ``(l, m)`` arrays (l east, m north).

    Attributes
    ----------
    restored, residual, model, psf, pb, pbcor : numpy.ndarray
        Jy/beam, Jy/beam, Jy/pixel, peak 1, [0, 1], Jy/beam (NaN below the PB limit).
    beam : Beam
    centre : (float, float)
        Phase centre (ra, dec), radians.
    cell_arcsec : float
    ref_frequency, bandwidth : float
        Hz.
    date_obs : str
        ISO UTC time of the first integration's start.
    mid_time : float
        Unix seconds.
    sigma : float
        Robust σ of the residual, Jy/beam.
    params : dict
        Imaging parameters, for the FITS history.
    """

    restored: np.ndarray
    residual: np.ndarray
    model: np.ndarray
    psf: np.ndarray
    pb: np.ndarray
    pbcor: np.ndarray
    beam: Beam
    centre: tuple
    cell_arcsec: float
    ref_frequency: float
    bandwidth: float
    date_obs: str
    mid_time: float
    sigma: float
    telescope: str = "DSA-110"
    params: dict = field(default_factory=dict)

    def to_dataset(self):
        """The products as an ``xr.Dataset`` with ``l``/``m`` coordinates (radians)."""
        n = self.restored.shape[0]
        lm = (np.arange(n) - n // 2) * np.radians(self.cell_arcsec / 3600)
        names = ("restored", "residual", "model", "psf", "pb", "pbcor")
        return xr.Dataset(
            {k: (("l", "m"), getattr(self, k)) for k in names},
            coords={"l": lm, "m": lm},
            attrs=dict(
                bmaj_arcsec=self.beam.bmaj,
                bmin_arcsec=self.beam.bmin,
                bpa_deg=self.beam.bpa,
                phase_center_ra=self.centre[0],
                phase_center_dec=self.centre[1],
                ref_frequency=self.ref_frequency,
                date_obs=self.date_obs,
                sigma=self.sigma,
            ),
        )


def _smearing_map(imager, npix, cell_rad, coarse=17):
    """The averaging's point-source response on the image's pixels (1 without).

    Evaluated on a coarse grid that covers the pixel centres at both ends and
    interpolated by a bicubic spline: it is smooth (quadratic in the distance
    from the centre near it).
    """
    if all(p.factor == 1 for p in imager.parts):
        return np.ones((npix, npix))
    import scipy.interpolate

    pix = np.linspace(0, npix - 1, coarse)
    lm = (pix - npix // 2) * cell_rad
    grid = imager.smearing_response(*np.meshgrid(lm, lm, indexing="ij"))
    coords = np.arange(npix, dtype=np.float64)
    spline = scipy.interpolate.RectBivariateSpline(pix, pix, grid, kx=3, ky=3)
    return np.minimum(spline(coords, coords, grid=True), 1.0)


def radec_to_pixel(ra, dec, centre, cell_arcsec, npix):
    """Pixel ``(ix, iy)`` of ICRS positions in an ``(l, m)`` image (SIN projection).

    Parameters
    ----------
    ra, dec : array-like
        Radians.
    centre : (float, float)
        Phase centre, radians.
    cell_arcsec : float
    npix : int

    Returns
    -------
    ix, iy : numpy.ndarray
        Fractional pixel positions.
    """
    ra0, dec0 = centre
    ra, dec = np.asarray(ra, np.float64), np.asarray(dec, np.float64)
    l = np.cos(dec) * np.sin(ra - ra0)
    m = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(ra - ra0)
    cell = np.radians(cell_arcsec / 3600)
    return l / cell + npix // 2, m / cell + npix // 2


def pixels_inside(ix, iy, npix):
    """Whether fractional pixels ``(ix, iy)`` lie on an ``npix`` × ``npix`` image.

    Between the first and the last pixel centres, inclusive: what a source
    restored into the image needs, and what a source beyond its edge is not.
    """
    ix, iy = np.asarray(ix), np.asarray(iy)
    return (ix >= 0) & (ix <= npix - 1) & (iy >= 0) & (iy <= npix - 1)


def _pointings(ds):
    """Pointing (the meridian at the pointing declination) of each integration."""
    from dsa110.phasing import dataset_site, meridian_centers

    times = np.asarray(ds[schema.TIME].values, dtype=np.float64)
    return meridian_centers(times, float(ds.attrs["pointing_dec"]), dataset_site(ds))


def _date_obs(ds):
    from astropy.time import Time

    t0 = float(ds[schema.TIME].values[0])
    half = float(np.asarray(ds["integration_time"].values)[0]) / 2
    return Time(t0 - half, format="unix", scale="utc").isot


def check_clean_options(*, niter, threshold, auto_threshold, auto_mask, pb_limit):
    """Refuse CLEAN and PB options no image can be made with, before any work.

    Raises
    ------
    ConfigurationError
        Naming the option: ``niter`` below 0, a negative or non-finite
        ``threshold`` or ``auto_threshold``, an ``auto_mask`` level that is
        not positive, a ``pb_limit`` outside (0, 1).
    """
    if int(niter) != niter or niter < 0:
        raise ConfigurationError(f"niter={niter!r}: expected a count ≥ 0")
    for name, value in (("threshold", threshold), ("auto_threshold", auto_threshold)):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigurationError(f"{name}={value!r}: expected a finite value ≥ 0")
    if auto_mask is not None and not (np.isfinite(auto_mask) and auto_mask > 0):
        raise ConfigurationError(
            f"auto_mask={auto_mask!r}: expected a level > 0 σ (None: no auto-mask)"
        )
    if not 0 < pb_limit < 1:
        raise ConfigurationError(f"pb_limit={pb_limit!r}: must lie in (0, 1)")


def image_tile(
    ds,
    *,
    center="median_meridian",
    geometry=None,
    weighting="briggs",
    robust=0.0,
    taper_arcsec=None,
    uv_range=(0.0, np.inf),
    niter=10000,
    threshold=0.0,
    auto_threshold=1.5,
    gain=0.1,
    mgain=0.8,
    max_major=10,
    mask_sources=None,
    mask_radius_arcsec=60.0,
    auto_mask=4.0,
    pb_limit=DEFAULT_PB_LIMIT,
    nthreads=1,
    bda_loss=0.0,
    drift_beam=None,
    nterms=1,
    reuse_stacks=True,
    subtract=None,
    restore_points=True,
):
    """CLEANed, restored and primary-beam-corrected image of a tile.

    Parameters
    ----------
    ds : xarray.Dataset
        Calibrated visibility dataset (:mod:`dsa110.schema`).
    center : str, tuple or None, keyword-only
        Rephase all integrations to this centre first (see
        :func:`dsa110.phasing.resolve_center`); None when ``ds`` already has one centre.
    geometry : ImageGeometry, keyword-only
        Size, cell, accuracy (default: the DSA-110 full-tile default).
    weighting, robust, taper_arcsec, uv_range : keyword-only
        See :meth:`Imager.from_dataset`.
    niter, threshold, auto_threshold, gain, mgain, max_major : keyword-only
        See :func:`dsa110.imaging.clean.cotton_schwab`.
    mask_sources : (ra, dec) arrays, keyword-only
        Radians: restrict CLEAN to circles of ``mask_radius_arcsec`` around them.
    auto_mask : float, keyword-only
        Grow the mask to pixels above this many σ.
    pb_limit : float, keyword-only
        Primary-beam blanking level.
    nthreads : int, keyword-only
    bda_loss : float, keyword-only
        Baseline-dependent averaging in frequency: the largest smearing loss at the
        image's edge (0: none); see :meth:`Imager.from_dataset`.
    drift_beam : (int, int), keyword-only
        ``(time_chunks, freq_chunks)``: predict the CLEAN model through the beam
        of each block of integrations, at ``freq_chunks`` frequencies interpolated
        linearly across the band (:meth:`Imager.use_drift_beam`); None (default)
        predicts the model as seen through the image's mean beam.
    nterms : int, keyword-only
        Taylor terms of CLEAN's spectral model (1: flat; 2–3: multi-term MFS, for
        bright sources with steep spectra); see
        :func:`dsa110.imaging.clean.cotton_schwab`. The products hold the flux at
        the reference frequency.
    reuse_stacks : bool, keyword-only
        Hand the w-plane stacks from one gridding pass to the next
        (:class:`dsa110.imaging.dask.StackPool`): on a full tile with
        ``nthreads=1`` ~10 % faster, the peak ~0.25 GB higher.
    subtract : source or sequence of sources, optional, keyword-only
        Bright sources with known spectra (the calibrator a tile was calibrated
        on) subtracted from the visibilities before imaging, through the beam
        of every integration and channel, and added back to the restored image
        as restoring-beam Gaussians with the flux the image gives them
        (:mod:`dsa110.imaging.subtract`); the model image holds CLEAN's
        components only. Sources outside the image are subtracted and not
        restored (bright neighbours whose sidelobes reach into the image).
    restore_points : bool, keyword-only
        Restore each bright cluster of CLEAN components that is one point
        source (fitted through the PSF:
        :func:`dsa110.imaging.points.fit_point_clusters`) as one
        restoring-beam Gaussian at its sub-pixel position, instead of the
        cluster's pixel components (whose ring shows as ripples around a
        source between pixel centres); residual and model are unchanged.

    Returns
    -------
    ImageProducts

    Raises
    ------
    ConfigurationError
        For an option no image can be made with (see
        :func:`check_clean_options`), before the data are read.
    """
    check_clean_options(
        niter=niter,
        threshold=threshold,
        auto_threshold=auto_threshold,
        auto_mask=auto_mask,
        pb_limit=pb_limit,
    )
    geometry = geometry or ImageGeometry()
    if center is not None:
        from dsa110.phasing import rephase

        pointing = _pointings(ds)
        ds = rephase(ds, center)
    else:
        pointing = _pointings(ds)
    if subtract is not None:
        from dsa110.imaging.subtract import subtract_sources

        ds = subtract_sources(ds, subtract)
    imager = Imager.from_dataset(
        ds,
        geometry=geometry,
        weighting=weighting,
        robust=robust,
        taper_arcsec=taper_arcsec,
        uv_range=uv_range,
        nthreads=nthreads,
        bda_loss=bda_loss,
    )
    if not reuse_stacks:
        imager.stack_pool = None
    if drift_beam is not None:
        imager.use_drift_beam(
            pointing[0],
            pointing[1],
            time_chunks=int(drift_beam[0]),
            freq_chunks=int(drift_beam[1]),
        )
    n, cell = geometry.npix, geometry.cell_arcsec
    mask = centres = None
    if mask_sources is not None:
        ix, iy = radec_to_pixel(*mask_sources, imager.phase_centre, cell, n)
        centres = np.stack([ix, iy], axis=-1)
        mask = circle_mask((n, n), centres, mask_radius_arcsec / cell)
    result = cotton_schwab(
        imager,
        niter=niter,
        threshold=threshold,
        auto_threshold=auto_threshold,
        gain=gain,
        mgain=mgain,
        max_major=max_major,
        mask=mask,
        auto_mask=auto_mask,
        nterms=nterms,
    )
    beam = fit_beam(result.psf, cell)
    points = []
    if restore_points:
        from dsa110.imaging.points import fit_point_clusters, restore_with_points

        # a cluster reaches the edge of its mask circle, whose centre may be
        # up to a pixel from the brightest component that seeds the cluster
        points = fit_point_clusters(
            result.model,
            result.psf,
            result.sigma,
            radius_pixels=mask_radius_arcsec / cell + 1.5,
            centres=centres,
        )
        restored = restore_with_points(
            result.model, result.residual, beam, cell, points
        )
    else:
        restored = restore(result.model, result.residual, beam, cell)
    fweights = imager.channel_weights()
    tweights = imager.time_weights()
    subtracted = None
    if subtract is not None:
        from dsa110.calibration.predict import sky_arrays
        from dsa110.imaging.subtract import add_point_sources, apparent_flux

        flux = apparent_flux(ds, subtract, time_weights=tweights, freq_weights=fweights)
        ra, dec = sky_arrays(subtract, imager.freq)[:2]
        px, py = radec_to_pixel(ra, dec, imager.phase_centre, cell, n)
        # a source outside the image (a bright neighbour whose sidelobes reach
        # in) is only subtracted: there is nothing to restore it into
        inside = pixels_inside(px, py, n)
        # restored as the image holds them: through the averaging's response
        # (the PB-corrected image divides it out with the primary beam)
        flux = flux * imager.smearing_response(
            (px - n // 2) * geometry.cell_rad, (py - n // 2) * geometry.cell_rad
        )
        add_point_sources(restored, (px[inside], py[inside]), flux[inside], beam, cell)
        subtracted = [
            dict(
                ra_deg=float(np.degrees(r)),
                dec_deg=float(np.degrees(d)),
                jy=float(f),
                restored=bool(k),
            )
            for r, d, f, k in zip(ra, dec, flux, inside)
        ]
    pb = effective_primary_beam(
        n,
        geometry.cell_rad,
        imager.phase_centre,
        pointing[0],
        pointing[1],
        imager.freq,
        time_weights=tweights,
        freq_weights=fweights,
    )
    smearing = _smearing_map(imager, n, geometry.cell_rad)
    pb = pb * smearing
    pbcor = pb_correct(restored, pb, pb_limit=pb_limit)
    freq = imager.freq
    ref = float(np.sum(fweights * freq) / np.sum(fweights))
    width = np.asarray(ds["channel_width"].values, np.float64)
    bandwidth = float(freq.max() - freq.min() + np.mean(width))
    times = np.asarray(ds[schema.TIME].values, np.float64)
    params = dict(
        imager.params,
        niter=niter,
        threshold=threshold,
        auto_threshold=auto_threshold,
        auto_mask=auto_mask,
        mask_centres=0 if centres is None else len(centres),
        mask_radius_arcsec=mask_radius_arcsec if centres is not None else None,
        drift_beam=None if drift_beam is None else [int(v) for v in drift_beam],
        gain=gain,
        mgain=mgain,
        pb_limit=pb_limit,
        nterms=nterms,
        niter_done=result.niter,
        major_cycles=result.major_cycles,
        center=str(center),
        restored_points=len(points),
        smearing_min=float(smearing.min()),
    )
    if subtracted is not None:
        params["subtracted"] = subtracted
    return ImageProducts(
        restored,
        result.residual,
        result.model.astype(restored.dtype),
        result.psf,
        pb,
        pbcor,
        beam,
        imager.phase_centre,
        cell,
        ref,
        bandwidth,
        _date_obs(ds),
        float(np.median(times)),
        result.sigma,
        telescope=str(ds.attrs.get("telescope_name", "DSA-110")),
        params=params,
    )


def subband_windows(ds, channels_per_subband=None):
    """The dataset's spectral windows: a label and a channel slice each.

    Parameters
    ----------
    ds : xarray.Dataset
        Channels in ascending frequency.
    channels_per_subband : int, optional
        Windows of this many channels, labelled 0, 1, ... (their number must
        divide the channels). Default: the DSA-110 subbands the frequencies
        fall in (:func:`dsa110.telescope.subband_of_frequency`), labelled by
        subband number, whatever their channel counts (averaged, or a subband
        missing from the group).

    Returns
    -------
    list of (int, slice)
        In ascending frequency.

    Raises
    ------
    ConfigurationError
        When ``channels_per_subband`` is not a positive divisor of the channels.
    """
    nchan = ds.sizes[schema.FREQUENCY]
    if channels_per_subband is not None:
        step = int(channels_per_subband)
        if step <= 0 or nchan % step:
            raise ConfigurationError(
                f"channels_per_subband={channels_per_subband!r}: {nchan} channels "
                "are not a multiple of it"
            )
        return [(k // step, slice(k, k + step)) for k in range(0, nchan, step)]
    from dsa110.telescope import subband_of_frequency  # deferred: telescope model

    sb = subband_of_frequency(np.asarray(ds[schema.FREQUENCY].values))
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sb)) + 1])
    stops = np.concatenate([starts[1:], [nchan]])
    return [(int(sb[a]), slice(int(a), int(b))) for a, b in zip(starts, stops)]


def image_subbands(ds, *, channels_per_subband=None, **kwargs):
    """One :func:`image_tile` per spectral window, made as the caller asks for it.

    A generator: each window's products can be written and dropped before the
    next is made (a full tile's 16 subband images at 4096² would otherwise be
    held at once, ~6 GB).

    Parameters
    ----------
    ds : xarray.Dataset
    channels_per_subband : int, keyword-only
        See :func:`subband_windows` (default: the DSA-110 subbands).
    **kwargs
        Passed to :func:`image_tile`.

    Yields
    ------
    label : int
        The subband number (or window index, see :func:`subband_windows`).
    products : ImageProducts
        In ascending frequency.
    """
    for label, channels in subband_windows(ds, channels_per_subband):
        yield label, image_tile(ds.isel({schema.FREQUENCY: channels}), **kwargs)


#: Blocks of integrations whose beams the snapshot search's own CLEAN predicts
#: through (see :func:`snapshot_search`).
STEADY_SKY_BEAM_BLOCKS = 8


def _steady_sky_model(
    ds, excluded, pointing, *, geometry, niter, freq_chunks, **imaging
):
    """CLEAN model of the tile without the integrations in ``excluded``.

    Predicted through the drifting beam (:data:`STEADY_SKY_BEAM_BLOCKS`
    blocks), so that it predicts each integration (see :func:`snapshot_search`).
    """
    if excluded:
        skip = np.isin(np.arange(ds.sizes[schema.TIME]), sorted(excluded))
        ds = ds.assign(FLAG=ds["FLAG"] | xr.DataArray(skip, dims=schema.TIME))
    imager = Imager.from_dataset(ds, geometry=geometry, **imaging)
    imager.use_drift_beam(
        *pointing, time_chunks=STEADY_SKY_BEAM_BLOCKS, freq_chunks=freq_chunks
    )
    return cotton_schwab(imager, niter=niter, auto_mask=4.0).model


def _snapshot_sources(image, psf, stop, *, cell_arcsec, max_candidates):
    """CLEAN one snapshot's residual with its own PSF; its clusters of components.

    A bright transient's snapshot sidelobes (up to 90 % of it for a sparse
    array's single integration) are then not peaks of their own.

    Parameters
    ----------
    image : numpy.ndarray
        ``(npix, npix)`` residual snapshot, Jy/beam.
    psf : numpy.ndarray
        ``(2 npix, 2 npix)`` its PSF.
    stop : float
        CLEAN's threshold, Jy/beam.

    Returns
    -------
    list of (int, int, float)
        ``(ix, iy, flux)`` per cluster of positive flux, brightest first: the
        pixel of its brightest component and its components' sum.
    """
    model = np.zeros(image.shape, np.float64)
    hogbom_minor_cycle(image, psf, model, gain=0.3, stop=stop, niter=1000)
    ix, iy = np.nonzero(model)
    flux = model[ix, iy]
    # components within a beam of a brighter one are that one's cluster
    radius = max(fit_beam(psf, cell_arcsec).bmaj / cell_arcsec, 1.0)
    clusters = []
    for k in np.argsort(-flux):
        for c in clusters:
            if np.hypot(ix[k] - c[0], iy[k] - c[1]) <= radius:
                c[2] += flux[k]
                break
        else:
            clusters.append([ix[k], iy[k], flux[k]])
    clusters = sorted((c for c in clusters if c[2] > 0), key=lambda c: -c[2])
    return clusters[:max_candidates]


def _snapshot_image(imager, vis, snap):
    """Dirty image of one integration's ``vis`` with the tile's weights (None: none)."""
    from dsa110.imaging import dask as imaging_dask

    weights = [p.weight[snap] for p in imager.parts]
    sum_weights = float(sum(w.sum() for w in weights).compute())
    if sum_weights <= 0:
        return None
    parts = [
        (p.uvw[snap], v, w, p.freq)
        for p, v, w in zip(imager.parts, vis, weights, strict=True)
    ]
    img = imaging_dask.dirty_image(
        parts, plan=imager.plan, nthreads=imager.nthreads, pool=imager.stack_pool
    )
    return np.asarray(img.compute()) / sum_weights


def _snapshot_peaks(imager, model, times, *, nsigma, max_candidates):
    """Transients in each integration's residual image (see :func:`snapshot_search`)."""
    from dsa110.imaging.pbcor import pixel_radec

    n, cell = imager.geometry.npix, imager.geometry.cell_rad
    # through each integration's beam, computed at once (no second copy of
    # the tile's data): every snapshot slices it
    residual = imager.residual_visibilities([model])
    out = []
    for t in range(times.size):
        snap = slice(t, t + 1)
        img = _snapshot_image(imager, [r[snap] for r in residual], snap)
        if img is None:
            continue
        sigma = mad_sigma(img)
        if sigma == 0 or img.max() <= nsigma * sigma:
            continue
        # twice the image: a component's sidelobes reach every pixel; w-less:
        # for the minor cycle only (as CLEAN's own)
        psf = imager.psf(oversize=2, do_wgridding=False, times=snap)
        for ix, iy, _ in _snapshot_sources(
            img,
            psf,
            nsigma * sigma,
            cell_arcsec=imager.geometry.cell_arcsec,
            max_candidates=max_candidates,
        ):
            if img[ix, iy] <= nsigma * sigma:
                continue  # a cluster of components on the wing of another's
            ra, dec = pixel_radec(
                (ix - n // 2) * cell, (iy - n // 2) * cell, *imager.phase_centre
            )
            out.append(
                dict(
                    time=float(times[t]),
                    time_index=t,
                    ra=float(ra),
                    dec=float(dec),
                    peak=float(img[ix, iy]),
                    snr=float(img[ix, iy] / sigma),
                    ix=int(ix),
                    iy=int(iy),
                )
            )
    return out


def snapshot_search(
    ds,
    *,
    geometry=None,
    nsigma=6.0,
    weighting="briggs",
    robust=0.0,
    nthreads=1,
    max_candidates=100,
    center="median_meridian",
    model=None,
    niter=10000,
    beam_freq_chunks=2,
    max_passes=3,
):
    """Transient peaks: each integration's image after the tile's steady sky is removed.

    The tile is rephased to ``center`` and its steady sky taken from ``model``
    or CLEANed (auto-masked, predicted through the drifting beam of
    :data:`STEADY_SKY_BEAM_BLOCKS` blocks of integrations); the model is
    predicted into every integration through that integration's own primary
    beam (:meth:`Imager.use_drift_beam`, one block per integration) and
    subtracted, and each integration's residual
    is imaged alone, with the tile's weights, and searched for peaks above
    ``nsigma`` times its own robust σ. Imaged without the subtraction, a
    snapshot's poor PSF turns every steady source's sidelobes into peaks (one
    0.5 Jy source gave 100 per integration at 10–33σ).

    A transient is in a CLEANed model too, with ``1/N`` of its flux over ``N``
    integrations, deconvolved with the tile's PSF although it has one
    snapshot's: subtracted from every integration, those components leave
    peaks of their own everywhere (a 1 Jy flash in one of four integrations:
    0.11 Jy in the others). So, when the model is CLEANed here and peaks are
    found, the integration holding the brightest one not yet left out is left
    out of the model (CLEANed again) and the search made again, up to
    ``max_passes`` times, until every peak is in an integration left out.

    The model must have been CLEANed through the drifting beam: one CLEANed
    through the image's mean beam holds a source whose apparent flux changes
    across the tile (far from the meridian) as a constant one, slightly
    misplaced, and predicted into single integrations it left up to 40 mJy
    of a 1 Jy source 1.6° out (13 % of its apparent flux; on a full tile, 56
    candidates at bright sources, none transient); through 8 blocks 0.2 mJy,
    through 4 (the pipeline's) 1.2 mJy.

    Parameters
    ----------
    ds : xarray.Dataset
        Calibrated visibilities of one tile.
    geometry : ImageGeometry, keyword-only
    nsigma : float, keyword-only
        Detection level in robust σ of each snapshot.
    weighting, robust, nthreads : keyword-only
    max_candidates : int, keyword-only
        At most this many peaks per snapshot (brightest first).
    center : keyword-only
        Phase centre of every snapshot (:func:`dsa110.phasing.resolve_center`);
        None when ``ds`` has one already.
    model : numpy.ndarray, keyword-only
        ``(npix, npix)`` model of the steady sky for the first search
        (Jy/pixel, in the units of the image's mean beam, as
        :attr:`ImageProducts.model` of :func:`image_tile` with the same
        geometry and centre, and ``drift_beam``); default: CLEANed here with
        up to ``niter`` components, as are the later passes' models.
    niter : int, keyword-only
    beam_freq_chunks : int, keyword-only
        Frequencies of each integration's beam (interpolated across the band).
    max_passes : int, keyword-only
        Searches at most, each with a model CLEANed without one more integration.

    Returns
    -------
    list of dict
        One per candidate: ``time`` (unix s), ``time_index``, ``ra``, ``dec``
        (radians), ``peak`` (Jy/beam, apparent, in the snapshot's residual),
        ``snr``, ``ix``, ``iy``. A snapshot with peaks is CLEANed with its own
        PSF and one candidate reported per cluster of components (within a
        beam): a bright transient's snapshot sidelobes are not candidates.

    Notes
    -----
    Each pass costs a CLEAN of the tile and a prediction through ``N ×
    beam_freq_chunks`` beams (as many sets of w-plane FFTs); each snapshot
    with peaks, a PSF twice the image's size. A full simulated tile (24
    integrations, 2400² pixels of 6″, a steady sky of ~100 sources): ``dsa110
    image --transients 6`` (the tile's CLEAN through 8 × 2 beams, then one
    search) 4.4–5.7 min on 2 cores, 5.6–5.7 GB peak, no candidate; with the
    tile's model CLEANed through the mean beam, 56 (all at bright sources).
    The image must hold the sources the beam sees: in 4096 pixels of 3″
    (3.4°), 54 candidates (7–19 mJy) at bright sources 1.5–1.8° from the
    tile's centre in its first integrations, where they were closest to the
    pointing and the image ends (13 GB peak).
    """
    geometry = geometry or ImageGeometry()
    n = geometry.npix
    if model is not None and np.shape(model) != (n, n):
        raise ConfigurationError(
            f"model: shape {np.shape(model)} differs from the image's ({n}, {n})"
        )
    if int(max_passes) < 1:
        raise ConfigurationError(f"max_passes={max_passes!r}: expected at least 1")
    pointing = _pointings(ds)
    if center is not None:
        from dsa110.phasing import rephase

        ds = rephase(ds, center)
    imaging = dict(weighting=weighting, robust=robust, nthreads=nthreads)
    imager = Imager.from_dataset(ds, geometry=geometry, **imaging)
    times = np.asarray(ds[schema.TIME].values, np.float64)
    imager.use_drift_beam(
        pointing[0], pointing[1], time_chunks=times.size, freq_chunks=beam_freq_chunks
    )
    search = functools.partial(
        _snapshot_peaks,
        imager,
        times=times,
        nsigma=nsigma,
        max_candidates=max_candidates,
    )
    excluded = set()
    for k in range(int(max_passes)):
        if k > 0 or model is None:
            model = _steady_sky_model(
                ds,
                excluded,
                pointing,
                geometry=geometry,
                niter=niter,
                freq_chunks=beam_freq_chunks,
                **imaging,
            )
        found = search(model)
        others = [c for c in found if c["time_index"] not in excluded]
        if not others or len(excluded) + 1 >= times.size:
            break
        excluded.add(max(others, key=lambda c: c["snr"])["time_index"])
    return found
