"""Dataset-level imaging: Stokes I, imaging weights, dirty image, PSF and model prediction.

An :class:`Imager` binds a visibility dataset (one phase centre: rephase a tile to
its median meridian first, :func:`dsa110.phasing.rephase`) to an image geometry and
a weighting. It computes the imaging weights once (one density grid over all the
data), and then makes dirty images of the data or of residual visibilities through
the dask layer — every chunk grids onto its own uv grids, the grids are summed and
Fourier transformed once.

Images are ``(l, m)`` arrays: ``l`` toward east (increasing RA), ``m`` toward north,
pixel ``(npix // 2, npix // 2)`` at the phase centre. Dirty images are in Jy/beam
(divided by the sum of the imaging weights, so the PSF peaks at 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dask
import dask.array as da
import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.errors import ConfigurationError, DSA110Error
from dsa110.imaging import dask as imaging_dask
from dsa110.imaging.kernels import plan_gridding
from dsa110.imaging.weighting import WEIGHTINGS, briggs_f2
from dsa110.telescope.beam import SPEED_OF_LIGHT

__all__ = [
    "ImagingError",
    "ImageGeometry",
    "Imager",
    "make_dirty_image",
    "make_psf",
    "stokes_i",
]


class ImagingError(DSA110Error, ValueError):
    """A dataset cannot be imaged as asked (several phase centres, nothing unflagged...)."""


@dataclass(frozen=True)
class ImageGeometry:
    """Image size, pixel size and accuracy.

    Attributes
    ----------
    npix : int
        Pixels on a side (even).
    cell_arcsec : float
        Pixel size, arcseconds.
    epsilon : float
        Gridding accuracy.
    do_wgridding : bool
        Correct for ``w`` (needed for DSA-110's wide field).
    """

    npix: int = 4096
    cell_arcsec: float = 3.0
    epsilon: float = 1e-4
    do_wgridding: bool = True

    @property
    def cell_rad(self):
        """Pixel size, radians."""
        return float(np.radians(self.cell_arcsec / 3600.0))


def stokes_i(ds):
    """Stokes I visibilities and weights from XX and YY.

    ``I = (w_XX V_XX + w_YY V_YY) / (w_XX + w_YY)`` over unflagged products, with
    weight ``w_XX + w_YY`` (the inverse-variance combination for an unpolarised
    sky); zero where both are flagged and for autocorrelations.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (:mod:`dsa110.schema`).

    Returns
    -------
    vis, weight : dask.array.Array
        ``(time, baseline_id, frequency)`` complex and float32.
    """
    pols = [str(p) for p in ds[schema.POLARIZATION].values]
    missing = {"XX", "YY"} - set(pols)
    if missing:
        raise ImagingError(
            f"polarization: Stokes I needs XX and YY, missing {sorted(missing)}"
        )
    vis = _as_dask(ds["VISIBILITY"].data)
    flag = _as_dask(ds["FLAG"].data)
    weight = _as_dask(ds["WEIGHT"].data)
    ix, iy = pols.index("XX"), pols.index("YY")
    w = da.where(flag | ~da.isfinite(vis), 0, weight).astype(np.float32)
    w = da.where(w > 0, w, 0)
    # autocorrelations carry no image information (u = v = w = 0): never image them
    cross = np.asarray(ds["antenna1"].values) != np.asarray(ds["antenna2"].values)
    w = w * da.from_array(cross.astype(np.float32))[None, :, None, None]
    wx, wy = w[..., ix], w[..., iy]
    vx = da.where(wx > 0, vis[..., ix], 0)
    vy = da.where(wy > 0, vis[..., iy], 0)
    wsum = wx + wy
    vi = (wx * vx + wy * vy) / da.where(wsum > 0, wsum, 1)
    return vi.astype(vis.dtype), wsum


def _as_dask(x):
    if isinstance(x, da.Array):
        return x
    return da.from_array(np.asarray(x), chunks=np.shape(x))


def _split(n, k):
    """``n`` split into ``k`` near-equal parts."""
    q, r = divmod(n, k)
    return tuple(q + (i < r) for i in range(k))


def _imaging_chunks(shape, chunks, max_chunks):
    """Chunks of ``(time, baseline_id, frequency)`` with at most ``max_chunks`` blocks.

    Keeps the given chunks when they are few enough; otherwise splits along time
    first (then baselines, then frequency) into ``max_chunks`` near-equal blocks.
    """
    if np.prod([len(c) for c in chunks]) <= max_chunks:
        return chunks
    out = [(n,) for n in shape]
    left = max_chunks
    for axis in (0, 1, 2):
        k = max(1, min(left, shape[axis]))
        out[axis] = _split(shape[axis], k)
        left //= k
        if left <= 1:
            break
    return tuple(out)


def _single_centre(ds):
    ra = np.asarray(ds["phase_center_ra"].values, dtype=np.float64)
    dec = np.asarray(ds["phase_center_dec"].values, dtype=np.float64)
    if np.ptp(ra) > 1e-9 or np.ptp(dec) > 1e-9:
        raise ImagingError(
            "phase_center_ra/phase_center_dec: the integrations have different phase "
            "centres; rephase the dataset to one centre first "
            "(dsa110.phasing.rephase(ds, 'median_meridian'))"
        )
    return float(ra[0]), float(dec[0])


@dataclass
class Imager:
    """Image one dataset: weights computed once, dirty images and predictions on demand.

    Build it with :meth:`from_dataset`.

    Attributes
    ----------
    ds : xarray.Dataset
        The (single-centre) visibility dataset.
    geometry : ImageGeometry
    uvw : dask.array.Array
        ``(time, baseline_id, uvw_label)`` float64.
    vis : dask.array.Array
        ``(time, baseline_id, frequency)`` Stokes I visibilities.
    weights : dask.array.Array
        ``(time, baseline_id, frequency)`` imaging weights.
    freq : numpy.ndarray
        ``(frequency,)`` Hz.
    plan : GridPlan
    sum_weights : float
        Sum of the imaging weights (the PSF's unnormalised peak).
    phase_centre : (float, float)
        ICRS (ra, dec), radians.
    params : dict
        The imaging parameters (for FITS history).
    """

    ds: xr.Dataset
    geometry: ImageGeometry
    uvw: da.Array
    vis: da.Array
    weights: da.Array
    freq: np.ndarray
    plan: object
    sum_weights: float
    phase_centre: tuple
    params: dict = field(default_factory=dict)
    nthreads: int = 1
    u_max: float | None = None
    w_range: tuple = (0.0, 0.0)

    @classmethod
    def from_dataset(
        cls,
        ds,
        *,
        geometry=None,
        weighting="briggs",
        robust=0.0,
        taper_arcsec=None,
        uv_range=(0.0, np.inf),
        nthreads=1,
        max_chunks=None,
    ):
        """Prepare imaging of ``ds``.

        Parameters
        ----------
        ds : xarray.Dataset
            Visibility dataset with one phase centre.
        geometry : ImageGeometry, keyword-only
            Image size, cell and accuracy (defaults: DSA-110 full tile).
        weighting : {"natural", "uniform", "briggs"}, keyword-only
        robust : float, keyword-only
            Briggs robustness in [−2, 2].
        taper_arcsec : float, keyword-only
            Gaussian taper FWHM, arcsec.
        uv_range : (float, float), keyword-only
            uv-distance range, wavelengths.
        nthreads : int, keyword-only
            Threads per gridding task.
        max_chunks : int, keyword-only
            Most chunks (gridding tasks) of the visibilities. Every chunk grids onto
            its own stack of oversampled w planes and Fourier transforms its own
            planes to degrid, so the cost of an image grows with the number of
            chunks whatever their size: the Stokes I visibilities are rechunked to
            at most this many (default: ``os.cpu_count() // nthreads``, at least 1;
            raise it on a cluster).

        Returns
        -------
        Imager

        Raises
        ------
        ImagingError
            Several phase centres, no unflagged data, or a cell too large.
        ConfigurationError
            Bad weighting options.
        """
        geometry = geometry or ImageGeometry()
        if weighting not in WEIGHTINGS:
            raise ConfigurationError(
                f"weighting={weighting!r}: expected one of {WEIGHTINGS}"
            )
        if not -2.0 <= robust <= 2.0:
            raise ConfigurationError(f"robust={robust!r}: expected a value in [-2, 2]")
        centre = _single_centre(ds)
        vis, nat = stokes_i(ds)
        if max_chunks is None:
            max_chunks = max(1, (os.cpu_count() or 1) // max(1, int(nthreads)))
        chunks = _imaging_chunks(vis.shape, vis.chunks, int(max_chunks))
        vis, nat = vis.rechunk(chunks), nat.rechunk(chunks)
        uvw = ds["UVW"].data
        uvw = _as_dask(uvw).rechunk(vis.chunks[:2] + (3,)).astype(np.float64)
        # The weight density, the weights and every major cycle read these: compute
        # the chain behind them (read, flag, apply, rephase, Stokes I) once, together.
        vis, nat, uvw = dask.persist(vis, nat, uvw)
        freq = np.asarray(ds[schema.FREQUENCY].values, dtype=np.float64)
        n, cell = geometry.npix, geometry.cell_rad
        grid = dict(npix_x=n, npix_y=n, pixsize_x=cell, pixsize_y=cell)
        density = f2 = None
        if weighting != "natural":
            density = imaging_dask.weight_density(
                uvw, nat, freq, uv_range=uv_range, **grid
            ).compute()
            if weighting == "briggs":
                f2 = briggs_f2(density, float(density.sum()), robust)
        weights = imaging_dask.imaging_weights(
            uvw,
            nat,
            freq,
            density,
            f2=f2,
            weighting=weighting,
            robust=robust,
            taper_arcsec=taper_arcsec,
            uv_range=uv_range,
            **grid,
        )
        weights = weights.persist()
        sum_w, wabs, uvmax = da.compute(
            weights.sum(dtype=np.float64),
            da.stack([da.min(abs(uvw[..., 2])), da.max(abs(uvw[..., 2]))]),
            da.max(abs(uvw[..., :2])),
        )
        if not sum_w > 0:
            raise ImagingError(
                "VISIBILITY: no unflagged data with positive weight to image"
            )
        umax = float(uvmax) * freq.max() / SPEED_OF_LIGHT
        if umax * cell >= 0.5:
            raise ImagingError(
                f"cell_arcsec={geometry.cell_arcsec}: too coarse for the longest baseline "
                f"({umax:.0f} λ); choose a cell below {np.degrees(0.5 / umax) * 3600:.2f}″"
            )
        w_range = (
            float(wabs[0]) * freq.min() / SPEED_OF_LIGHT,
            float(wabs[1]) * freq.max() / SPEED_OF_LIGHT,
        )
        plan = plan_gridding(
            epsilon=geometry.epsilon,
            dtype=vis.dtype,
            w_range=w_range,
            do_wgridding=geometry.do_wgridding,
            u_max=umax,
            **grid,
        )
        params = dict(
            npix=n,
            cell_arcsec=geometry.cell_arcsec,
            epsilon=geometry.epsilon,
            wgridding=geometry.do_wgridding,
            weighting=weighting,
            robust=robust,
            taper_arcsec=taper_arcsec,
            uv_range=list(uv_range),
        )
        return cls(
            ds,
            geometry,
            uvw,
            vis,
            weights,
            freq,
            plan,
            float(sum_w),
            centre,
            params,
            nthreads,
            umax,
            w_range,
        )

    @property
    def ref_frequency(self):
        """Weighted mean frequency of the image, Hz."""
        wf = self.weights.sum(axis=(0, 1)).compute()
        return float(np.sum(wf * self.freq) / np.sum(wf))

    def channel_weights(self):
        """Sum of imaging weights per channel, ``(frequency,)`` float64."""
        return np.asarray(self.weights.sum(axis=(0, 1), dtype=np.float64).compute())

    def time_weights(self):
        """Sum of imaging weights per integration, ``(time,)`` float64."""
        return np.asarray(self.weights.sum(axis=(1, 2), dtype=np.float64).compute())

    def dirty(self, vis=None):
        """Dirty image of ``vis`` (default: the data), Jy/beam.

        Parameters
        ----------
        vis : dask.array.Array, optional
            ``(time, baseline_id, frequency)`` visibilities chunked like the data.

        Returns
        -------
        numpy.ndarray
            ``(npix, npix)`` real image.
        """
        vis = self.vis if vis is None else vis
        img = imaging_dask.dirty_image(
            self.uvw,
            vis,
            self.weights,
            self.freq,
            plan=self.plan,
            nthreads=self.nthreads,
        )
        return np.asarray(img.compute()) / self.sum_weights

    def psf(self, *, oversize=1, do_wgridding=None):
        """Point-spread function (peak 1 at the centre pixel).

        Parameters
        ----------
        oversize : int, keyword-only
            Make it ``oversize`` times larger than the image (2 lets CLEAN subtract
            the sidelobes of a component anywhere in the image from everywhere).
        do_wgridding : bool, keyword-only
            Override the image's w-gridding (a w-less PSF is much cheaper at twice
            the size and good enough for CLEAN's minor cycle, whose errors the major
            cycles remove).

        Returns
        -------
        numpy.ndarray
            ``(oversize · npix, oversize · npix)``.
        """
        ones = da.ones(self.vis.shape, chunks=self.vis.chunks, dtype=self.vis.dtype)
        plan = self.plan
        use_w = plan.do_wgridding if do_wgridding is None else bool(do_wgridding)
        if oversize != 1 or use_w != plan.do_wgridding:
            n = self.geometry.npix * int(oversize)
            w_range = self.w_range
            plan = plan_gridding(
                npix_x=n,
                npix_y=n,
                pixsize_x=plan.pixsize_x,
                pixsize_y=plan.pixsize_y,
                epsilon=plan.kernel.epsilon,
                dtype=plan.real_dtype,
                w_range=w_range if use_w else (0.0, 0.0),
                do_wgridding=use_w,
                u_max=self.u_max,
            )
        img = imaging_dask.dirty_image(
            self.uvw, ones, self.weights, self.freq, plan=plan, nthreads=self.nthreads
        )
        return np.asarray(img.compute()) / self.sum_weights

    def predict(self, model):
        """Model visibilities of a model image (Jy/pixel), lazily.

        Parameters
        ----------
        model : numpy.ndarray
            ``(npix, npix)`` model image.

        Returns
        -------
        dask.array.Array
            ``(time, baseline_id, frequency)``, chunked like the data.
        """
        return imaging_dask.model_visibilities(
            self.uvw,
            self.freq,
            model,
            plan=self.plan,
            vis_chunks=self.vis.chunks,
            nthreads=self.nthreads,
        )

    def residual(self, model):
        """Dirty image of the data minus the model's visibilities, Jy/beam."""
        return self.dirty(self.vis - self.predict(model))

    def coords(self):
        """``l`` and ``m`` of the pixels, radians: two ``(npix,)`` float64 arrays."""
        n, cell = self.geometry.npix, self.geometry.cell_rad
        lm = (np.arange(n) - n // 2) * cell
        return lm, lm.copy()

    def to_dataarray(self, image, name):
        """Wrap an image as an ``xr.DataArray`` with ``l``/``m`` coordinates and metadata."""
        lc, mc = self.coords()
        return xr.DataArray(
            image,
            dims=("l", "m"),
            coords={"l": lc, "m": mc},
            name=name,
            attrs={
                "phase_center_ra": self.phase_centre[0],
                "phase_center_dec": self.phase_centre[1],
                "ref_frequency": self.ref_frequency,
                "units": "Jy/beam",
                "sum_weights": self.sum_weights,
                **{f"param_{k}": str(v) for k, v in self.params.items()},
            },
        )


def make_dirty_image(
    ds,
    *,
    npix=4096,
    cell_arcsec=3.0,
    epsilon=1e-4,
    do_wgridding=True,
    nthreads=1,
    **weighting,
):
    """Dirty image (Jy/beam) of a single-centre dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (rephased to one centre).
    npix, cell_arcsec, epsilon, do_wgridding : keyword-only
        See :class:`ImageGeometry`.
    nthreads : int, keyword-only
    **weighting
        ``weighting``, ``robust``, ``taper_arcsec``, ``uv_range`` of :meth:`Imager.from_dataset`.

    Returns
    -------
    xarray.DataArray
        ``(l, m)`` dirty image.
    """
    geom = ImageGeometry(npix, cell_arcsec, epsilon, do_wgridding)
    imager = Imager.from_dataset(ds, geometry=geom, nthreads=nthreads, **weighting)
    return imager.to_dataarray(imager.dirty(), "dirty")


def make_psf(
    ds,
    *,
    npix=4096,
    cell_arcsec=3.0,
    epsilon=1e-4,
    do_wgridding=True,
    nthreads=1,
    **weighting,
):
    """Point-spread function (peak 1) of a single-centre dataset; see :func:`make_dirty_image`.

    Returns
    -------
    xarray.DataArray
        ``(l, m)`` PSF.
    """
    geom = ImageGeometry(npix, cell_arcsec, epsilon, do_wgridding)
    imager = Imager.from_dataset(ds, geometry=geom, nthreads=nthreads, **weighting)
    return imager.to_dataarray(imager.psf(), "psf")
