"""Dataset-level imaging: Stokes I, imaging weights, dirty image, PSF and model prediction.

An :class:`Imager` binds a visibility dataset (one phase centre: rephase a tile to
its median meridian first, :func:`dsa110.phasing.rephase`) to an image geometry and
a weighting. It computes the imaging weights once (one density grid over all the
data), and then makes dirty images of the data or of residual visibilities through
the dask layer — every chunk grids onto its own uv grids, the grids are summed and
Fourier transformed once. With ``bda_loss > 0`` the visibilities are first averaged
in frequency by baseline (:mod:`dsa110.imaging.averaging`): the imager then holds
one part per averaging factor, all gridded onto the same planes.

Images are ``(l, m)`` arrays: ``l`` toward east (increasing RA), ``m`` toward north,
pixel ``(npix // 2, npix // 2)`` at the phase centre. Dirty images are in Jy/beam
(divided by the sum of the imaging weights, so the PSF peaks at 1).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
from dataclasses import dataclass, field

import dask
import dask.array as da
import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.errors import ConfigurationError, DSA110Error
from dsa110.imaging import dask as imaging_dask
from dsa110.imaging.averaging import VisibilityPart, average_by_baseline
from dsa110.imaging.kernels import plan_gridding
from dsa110.imaging.stokes import stokes_i_block
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

    Raises
    ------
    ConfigurationError
        For a size that is not an even integer ≥ 16, a cell that is not a
        positive finite number, or an ``epsilon`` outside (0, 0.1).
    """

    npix: int = 2400
    cell_arcsec: float = 6.0
    epsilon: float = 1e-4
    do_wgridding: bool = True

    def __post_init__(self):
        if int(self.npix) != self.npix or self.npix < 16 or self.npix % 2:
            raise ConfigurationError(
                f"npix={self.npix!r}: the image size must be an even number ≥ 16"
            )
        if not (np.isfinite(self.cell_arcsec) and self.cell_arcsec > 0):
            raise ConfigurationError(
                f"cell_arcsec={self.cell_arcsec!r}: expected a positive pixel size"
            )
        if not (np.isfinite(self.epsilon) and 0 < self.epsilon < 0.1):
            raise ConfigurationError(
                f"epsilon={self.epsilon!r}: the gridding accuracy must lie in (0, 0.1)"
            )

    @property
    def cell_rad(self):
        """Pixel size, radians."""
        return float(np.radians(self.cell_arcsec / 3600.0))


def stokes_i(ds):
    """Stokes I visibilities and weights from XX and YY.

    ``I = (w_XX V_XX + w_YY V_YY) / (w_XX + w_YY)`` over unflagged products, with
    weight ``w_XX + w_YY`` (the inverse-variance combination for an unpolarised
    sky); zero where both are flagged and for autocorrelations. One
    :func:`dsa110.imaging.stokes.stokes_i_block` per chunk (a Numba kernel).

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
    # the kernel needs both polarizations of a sample in one chunk
    vis, flag, weight = (a.rechunk({3: -1}) for a in (vis, flag, weight))
    # autocorrelations carry no image information (u = v = w = 0): never image them
    cross = np.asarray(ds["antenna1"].values) != np.asarray(ds["antenna2"].values)
    # one task per chunk makes both (a tuple); each output picks its half, so
    # computed together (the imager persists them together) the kernel runs once
    pairs = da.blockwise(
        stokes_i_block,
        "tbf",
        vis,
        "tbfp",
        flag,
        "tbfp",
        weight,
        "tbfp",
        da.from_array(cross, chunks=(vis.chunks[1],)),
        "b",
        concatenate=True,
        dtype=vis.dtype,
        meta=np.empty((0, 0, 0), vis.dtype),
        ix=pols.index("XX"),
        iy=pols.index("YY"),
    )
    return tuple(
        pairs.map_blocks(
            operator.itemgetter(i), dtype=dtype, meta=np.empty((0, 0, 0), dtype)
        )
        for i, dtype in enumerate((vis.dtype, np.dtype(np.float32)))
    )


def _as_dask(x):
    if isinstance(x, da.Array):
        return x
    return da.from_array(np.asarray(x), chunks=np.shape(x))


def _degrid_into(
    vis, uvw, freq, grids, times, chans, *, plan, planes, nthreads, chan_weights=None
):
    """Add the planes' share of ``vis[t0:t1, :, c0:c1]`` (in place).

    ``chan_weights`` (``(c1 − c0,)``), when given, multiplies each channel's share.
    """
    from dsa110.imaging.kernels import degrid_planes

    (t0, t1), (c0, c1) = times, chans
    sub = uvw[t0:t1]
    piece = np.ascontiguousarray(vis[t0:t1, :, c0:c1]).reshape(-1, c1 - c0)
    wgt = None
    if chan_weights is not None:
        wgt = np.broadcast_to(np.asarray(chan_weights, plan.real_dtype), piece.shape)
    degrid_planes(
        grids,
        sub.reshape(-1, 3),
        freq[c0:c1],
        wgt,
        plan=plan,
        planes=planes,
        nthreads=nthreads,
        out=piece,
    )
    if not np.shares_memory(piece, vis):  # a copy (a channel range): write it back
        vis[t0:t1, :, c0:c1] = piece.reshape(sub.shape[:2] + (c1 - c0,))


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


@dataclass(frozen=True)
class DriftBeamBlock:
    """A block of integrations at one of the beam's frequencies, relative to the image.

    Attributes
    ----------
    time_start, time_stop : int
        Integrations ``[time_start, time_stop)``.
    freq_nodes : tuple of float
        The frequencies (Hz, ascending) the block's beam is evaluated at; between
        them it is interpolated linearly, beyond the outer ones extrapolated.
    node : int
        Which of ``freq_nodes`` this block's ``ratio`` is at.
    ratio : numpy.ndarray
        ``(npix, npix)`` the block's beam at that frequency over the image's
        effective beam (with one node: the block's mean beam over the band).
    """

    time_start: int
    time_stop: int
    freq_nodes: tuple
    node: int
    ratio: np.ndarray

    def channel_weights(self, freq):
        """Return the node's share of the interpolated beam at each frequency.

        Parameters
        ----------
        freq : numpy.ndarray
            ``(chan,)`` Hz.

        Returns
        -------
        numpy.ndarray
            ``(chan,)`` float64: the linear interpolation's weight of this node (1
            at it, 0 at its neighbours and beyond; > 1 or < 0 where the outer
            segments are extrapolated). The nodes' weights sum to 1.
        """
        return _node_weights(freq, self.freq_nodes, self.node)


def _node_weights(freq, nodes, node):
    """Linear interpolation's weight of ``nodes[node]`` at ``freq`` (extrapolated)."""
    freq = np.asarray(freq, np.float64)
    nodes = np.asarray(nodes, np.float64)
    if nodes.size == 1:
        return np.ones(freq.shape)
    seg = np.clip(np.searchsorted(nodes, freq) - 1, 0, nodes.size - 2)
    t = (freq - nodes[seg]) / (nodes[seg + 1] - nodes[seg])
    return np.where(seg == node, 1 - t, 0.0) + np.where(seg + 1 == node, t, 0.0)


@dataclass
class Imager:
    """Image one dataset: weights computed once, dirty images and predictions on demand.

    Build it with :meth:`from_dataset`.

    Attributes
    ----------
    ds : xarray.Dataset
        The (single-centre) visibility dataset.
    geometry : ImageGeometry
    parts : list of VisibilityPart
        The Stokes I visibilities to image with their imaging weights (``weight``):
        one part, or one per baseline-averaging factor.
    freq : numpy.ndarray
        ``(frequency,)`` Hz, the dataset's channels.
    plan : GridPlan
    sum_weights : float
        Sum of the imaging weights (the PSF's unnormalised peak).
    phase_centre : (float, float)
        ICRS (ra, dec), radians.
    params : dict
        The imaging parameters (for FITS history).
    nthreads : int
        Threads per gridding task.
    u_max : float
        Longest ``|u|``, wavelengths.
    w_range : (float, float)
        Range of ``|w|``, wavelengths.
    drift_beam : list of DriftBeamBlock or None
        Set by :meth:`use_drift_beam`: model predictions apply each block's beam.
    stack_pool : dsa110.imaging.dask.StackPool or None
        The w-plane stacks one gridding or prediction pass hands to the next (the
        Imager holds them between passes; they go with it). None: each pass
        allocates its own (a full tile, one single-threaded task per CPU: ~10 %
        slower, ~0.25 GB lower peak).
    """

    ds: xr.Dataset
    geometry: ImageGeometry
    parts: list
    freq: np.ndarray
    plan: object
    sum_weights: float
    phase_centre: tuple
    params: dict = field(default_factory=dict)
    nthreads: int = 1
    u_max: float | None = None
    w_range: tuple = (0.0, 0.0)
    drift_beam: list | None = None
    stack_pool: imaging_dask.StackPool | None = field(
        default_factory=imaging_dask.StackPool, repr=False
    )
    _ref_frequency: float | None = field(default=None, repr=False)
    _smearing_inputs: tuple | None = field(default=None, repr=False)

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
        bda_loss=0.0,
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
        bda_loss : float, keyword-only
            Baseline-dependent averaging in frequency: the largest fractional loss
            of a point source's amplitude (bandwidth smearing) at the image's edge
            (half its width) that averaging may cause; 0 (default) averages
            nothing. 0.01 keeps about 30 % of a DSA-110 tile's visibilities
            (:mod:`dsa110.imaging.averaging`).

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
        if not 0.0 <= bda_loss < 1.0:
            raise ConfigurationError(
                f"bda_loss={bda_loss!r}: expected a value in [0, 1)"
            )
        centre = _single_centre(ds)
        vis, nat = stokes_i(ds)
        freq = np.asarray(ds[schema.FREQUENCY].values, dtype=np.float64)
        uvw = _as_dask(ds["UVW"].data).astype(np.float64)
        uvw = uvw.rechunk(vis.chunks[:2] + (3,))
        n, cell = geometry.npix, geometry.cell_rad
        averaged = average_by_baseline(
            uvw, vis, nat, freq, radius_rad=n * cell / 2, max_loss=float(bda_loss)
        )
        if max_chunks is None:
            max_chunks = max(1, (os.cpu_count() or 1) // max(1, int(nthreads)))
        parts = []
        for part in averaged:
            chunks = _imaging_chunks(part.vis.shape, part.vis.chunks, int(max_chunks))
            parts.append(
                VisibilityPart(
                    uvw=part.uvw.rechunk(chunks[:2] + (3,)),
                    vis=part.vis.rechunk(chunks),
                    weight=part.weight.rechunk(chunks),
                    freq=part.freq,
                    baselines=part.baselines,
                    factor=part.factor,
                )
            )
        # The weight density, the weights and every major cycle read these: compute
        # the chain behind them (read, flag, apply, rephase, Stokes I, averaging)
        # once, together.
        parts = dask.persist(*parts)
        grid = dict(npix_x=n, npix_y=n, pixsize_x=cell, pixsize_y=cell)
        density = f2 = None
        if weighting != "natural":
            density = sum(
                imaging_dask.weight_density(
                    p.uvw, p.weight, p.freq, uv_range=uv_range, **grid
                )
                for p in parts
            ).compute()
            if weighting == "briggs":
                f2 = briggs_f2(density, float(density.sum()), robust)
        parts = [
            dataclasses.replace(
                p,
                weight=imaging_dask.imaging_weights(
                    p.uvw,
                    p.weight,
                    p.freq,
                    density,
                    f2=f2,
                    weighting=weighting,
                    robust=robust,
                    taper_arcsec=taper_arcsec,
                    uv_range=uv_range,
                    **grid,
                ),
            )
            for p in parts
        ]
        parts = list(dask.persist(*parts))
        sums = [
            da.stack(
                [
                    p.weight.sum(dtype=np.float64),
                    da.min(abs(p.uvw[..., 2])) * p.freq.min(),
                    da.max(abs(p.uvw[..., 2])) * p.freq.max(),
                    da.max(abs(p.uvw[..., :2])) * p.freq.max(),
                ]
            )
            for p in parts
        ]
        sums = np.asarray(da.compute(*sums)).reshape(len(parts), 4)
        sum_w = float(sums[:, 0].sum()) if len(parts) else 0.0
        if not sum_w > 0:
            raise ImagingError(
                "VISIBILITY: no unflagged data with positive weight to image"
            )
        umax = float(sums[:, 3].max()) / SPEED_OF_LIGHT
        if umax * cell >= 0.5:
            raise ImagingError(
                f"cell_arcsec={geometry.cell_arcsec}: too coarse for the longest baseline "
                f"({umax:.0f} λ); choose a cell below {np.degrees(0.5 / umax) * 3600:.2f}″"
            )
        w_range = (
            float(sums[:, 1].min()) / SPEED_OF_LIGHT,
            float(sums[:, 2].max()) / SPEED_OF_LIGHT,
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
            bda_loss=float(bda_loss),
        )
        return cls(
            ds,
            geometry,
            parts,
            freq,
            plan,
            sum_w,
            centre,
            params,
            nthreads,
            umax,
            w_range,
        )

    @property
    def weights(self):
        """Imaging weights of the one part ``(time, baseline, frequency)`` (no averaging).

        Raises
        ------
        ImagingError
            The visibilities were averaged into several parts (see :attr:`parts`).
        """
        if len(self.parts) != 1:
            raise ImagingError(
                f"weights: the visibilities are averaged into {len(self.parts)} parts "
                "(bda_loss > 0); read Imager.parts"
            )
        return self.parts[0].weight

    @property
    def ref_frequency(self):
        """Weighted mean frequency of the image, Hz."""
        wf = self.channel_weights()
        return float(np.sum(wf * self.freq) / np.sum(wf))

    def channel_weights(self):
        """Sum of imaging weights per channel of the dataset, ``(frequency,)`` float64.

        An averaged visibility's weight is shared equally by the channels it averages.
        """
        sums = da.compute(
            *[p.weight.sum(axis=(0, 1), dtype=np.float64) for p in self.parts]
        )
        out = np.zeros(self.freq.shape, np.float64)
        for part, wf in zip(self.parts, sums):
            out += np.repeat(np.asarray(wf) / part.factor, part.factor)
        return out

    def smearing_response(self, dir_l, dir_m):
        """Return what the baseline-dependent averaging keeps of a point source.

        See :func:`dsa110.imaging.averaging.smearing_response`: 1 everywhere
        without averaging (``bda_loss=0``), down to ``1 − bda_loss`` at worst at
        the image's edge. Multiplied into the primary beam, it corrects the
        averaging's flux loss as the beam corrects the dishes'.

        Parameters
        ----------
        dir_l, dir_m : numpy.ndarray
            Direction cosines ``l``, ``m`` relative to the phase centre (the
            same shape).

        Returns
        -------
        numpy.ndarray
            Shape of ``dir_l``, float64.
        """
        from dsa110.imaging.averaging import smearing_response

        if all(p.factor == 1 for p in self.parts) or self.freq.size < 2:
            return np.ones(np.shape(dir_l))
        if self._smearing_inputs is None:
            # computed once: image_tile asks at the subtracted sources and on
            # the map's grid
            averaged = [p for p in self.parts if p.factor > 1]
            rest = [p for p in self.parts if p.factor == 1]
            sums = da.compute(
                *[p.weight.sum(axis=2, dtype=np.float64) for p in averaged],
                *[p.weight.sum(dtype=np.float64) for p in rest],
                *[p.uvw for p in averaged],
            )
            k = len(averaged)
            weights = list(sums[:k]) + [
                np.atleast_1d(w) for w in sums[k : k + len(rest)]
            ]
            uvws = list(sums[k + len(rest) :]) + [np.zeros((1, 3))] * len(rest)
            factors = [p.factor for p in averaged] + [1] * len(rest)
            width = float(np.median(np.diff(np.sort(self.freq))))
            self._smearing_inputs = (uvws, weights, factors, width)
        return smearing_response(*self._smearing_inputs, dir_l, dir_m)

    def time_weights(self):
        """Sum of imaging weights per integration, ``(time,)`` float64."""
        sums = da.compute(
            *[p.weight.sum(axis=(1, 2), dtype=np.float64) for p in self.parts]
        )
        return np.sum(np.asarray(sums, np.float64), axis=0)

    def taylor_factors(self, part, power):
        """``((ν − ν_ref) / ν_ref) ** power`` of a part's channels, ``(frequency,)``.

        ``ν_ref`` is :attr:`ref_frequency`: the multi-term (MT-MFS) expansion of a
        source's spectrum ``I(ν) = Σ_t I_t x^t`` is about it.
        """
        if self._ref_frequency is None:
            self._ref_frequency = self.ref_frequency
        x = (part.freq - self._ref_frequency) / self._ref_frequency
        return (x**power).astype(part.weight.dtype)

    def _weights(self, taylor):
        if taylor == 0:
            return [p.weight for p in self.parts]
        return [p.weight * self.taylor_factors(p, taylor) for p in self.parts]

    def dirty(self, vis=None, *, taylor=0):
        """Dirty image of ``vis`` (default: the data), Jy/beam.

        Parameters
        ----------
        vis : list of dask.array.Array, optional
            One ``(time, baseline, frequency)`` array per part, chunked like the
            part's visibilities.
        taylor : int, keyword-only
            Weight each visibility by ``x ** taylor`` too (the Taylor-weighted
            residuals of multi-term CLEAN; see :meth:`taylor_factors`).

        Returns
        -------
        numpy.ndarray
            ``(npix, npix)`` real image.
        """
        vis = [p.vis for p in self.parts] if vis is None else vis
        weights = self._weights(taylor)
        img = imaging_dask.dirty_image(
            [(p.uvw, v, w, p.freq) for p, v, w in zip(self.parts, vis, weights)],
            plan=self.plan,
            nthreads=self.nthreads,
            pool=self.stack_pool,
        )
        return np.asarray(img.compute()) / self.sum_weights

    def psf(self, *, oversize=1, do_wgridding=None, taylor=0, times=None):
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
        taylor : int, keyword-only
            The PSF of the Taylor weights ``x ** taylor`` (multi-term CLEAN's;
            still divided by the sum of the plain weights).
        times : slice, keyword-only
            The PSF of these integrations alone (a snapshot's: divided by
            their sum of weights); default all.

        Returns
        -------
        numpy.ndarray
            ``(oversize · npix, oversize · npix)``.
        """
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
        sel = slice(None) if times is None else times
        parts = [
            (
                p.uvw[sel],
                da.ones_like(p.vis[sel]),
                w[sel],
                p.freq,
            )
            for p, w in zip(self.parts, self._weights(taylor))
        ]
        if times is None:
            sum_weights = self.sum_weights
        else:
            plain = [p.weight[sel] for p in self.parts]
            sum_weights = float(sum(w.sum() for w in plain).compute())
        img = imaging_dask.dirty_image(
            parts, plan=plan, nthreads=self.nthreads, pool=self.stack_pool
        )
        return np.asarray(img.compute()) / sum_weights

    def use_drift_beam(
        self, pointing_ra, pointing_dec, *, time_chunks=4, freq_chunks=4
    ):
        """Predict the model through the drifting primary beam from now on.

        DSA-110 points at the meridian while the sky drifts through its beam, so a
        source's apparent flux changes across a tile (and, the beam scaling with
        wavelength, across the band). CLEAN's model is in the units of the image's
        effective beam ``B̄`` (the weighted mean over integrations and channels, the
        beam the products are corrected by); with this, each of ``time_chunks``
        blocks of integrations is predicted from ``model × B_block(ν) / B̄``, the
        block's mean beam at ``freq_chunks`` frequencies (the mean frequencies of
        as many equal ranges of channels) interpolated linearly between them.

        The beam of a source far from the centre changes steeply across the band
        (∝ ν^−2.5 at 1.7°): one constant beam per range of channels left a
        sawtooth in the model's spectrum whose sidelobes stayed in the residual
        (0.7 % of an edge source with two ranges); the interpolation leaves
        0.2 % of the beam there (rms over the band; 0.03 % at 1.4°). Each node
        and block costs one set of w-plane FFTs per prediction; each visibility
        is degridded from the two nodes about its frequency.

        Parameters
        ----------
        pointing_ra, pointing_dec : array-like
            ``(time,)`` pointing centre of each integration, radians.
        time_chunks, freq_chunks : int, keyword-only
            Blocks of consecutive integrations, and frequencies of the beam (1 and
            1: the mean beam only, i.e. no change; one frequency: the block's
            mean beam over the band).
        """
        from dsa110.imaging.pbcor import effective_primary_beam

        for name, value in (("time_chunks", time_chunks), ("freq_chunks", freq_chunks)):
            if int(value) < 1:
                raise ConfigurationError(f"{name}={value!r}: expected at least 1")
        ntime = self.parts[0].vis.shape[0]
        pra, pdec = (
            np.asarray(pointing_ra, np.float64),
            np.asarray(pointing_dec, np.float64),
        )
        if pra.size not in (1, ntime) or pdec.size not in (1, ntime):
            raise ConfigurationError(
                f"pointing_ra/pointing_dec: expected one value or {ntime} (one per "
                f"integration), got {pra.size} and {pdec.size}"
            )
        pra = np.broadcast_to(pra.ravel(), (ntime,))
        pdec = np.broadcast_to(pdec.ravel(), (ntime,))
        tw, fw = self.time_weights(), self.channel_weights()
        beam = functools.partial(
            effective_primary_beam,
            self.geometry.npix,
            self.geometry.cell_rad,
            self.phase_centre,
        )
        mean = beam(pra, pdec, self.freq, time_weights=tw, freq_weights=fw)
        inside = mean > 1e-3
        tedges = np.linspace(0, ntime, min(int(time_chunks), ntime) + 1).astype(int)
        nchan = self.freq.size
        fedges = np.linspace(0, nchan, min(int(freq_chunks), nchan) + 1).astype(int)
        # one node per range of channels with weight: its weighted mean frequency
        nodes = tuple(
            sorted(
                float(np.average(self.freq[c0:c1], weights=fw[c0:c1]))
                for c0, c1 in zip(fedges[:-1], fedges[1:])
                if fw[c0:c1].sum() > 0
            )
        )
        # each node's share of the band's weighted mean under the interpolation
        shares = [
            np.average(_node_weights(self.freq, nodes, k), weights=fw)
            for k in range(len(nodes))
        ]
        blocks = []
        for t0, t1 in zip(tedges[:-1], tedges[1:]):
            if tw[t0:t1].sum() <= 0:
                continue
            block_beam = functools.partial(
                beam, pra[t0:t1], pdec[t0:t1], time_weights=tw[t0:t1]
            )
            # the block's mean beam over the band, which the interpolation is
            # scaled to keep: the beam's curvature across the band would bias the
            # model's apparent flux (Airy beam: −0.05 % at 1.7°, −0.15 % at 2°)
            band_mean = block_beam(self.freq, freq_weights=fw)
            if len(nodes) == 1:
                node_beams = [band_mean]
            else:
                node_beams = [
                    block_beam(np.array([node]), freq_weights=np.ones(1))
                    for node in nodes
                ]
                interpolated = sum(c * b for c, b in zip(shares, node_beams))
                scale = np.where(
                    interpolated > 0,
                    band_mean / np.where(interpolated > 0, interpolated, 1),
                    1.0,
                )
                node_beams = [b * scale for b in node_beams]
            for k, b in enumerate(node_beams):
                ratio = np.where(inside, b / np.where(inside, mean, 1), 1.0)
                blocks.append(
                    DriftBeamBlock(
                        int(t0),
                        int(t1),
                        nodes,
                        k,
                        ratio.astype(self.plan.real_dtype),
                    )
                )
        self.drift_beam = blocks

    def _predict_drift(self, model):
        """Model visibilities block by block through the drifting beam (eager).

        One set of planes at a time; the parts' degridding of a block runs as
        concurrent dask tasks (the small parts' loops use two threads poorly).
        """
        from dsa110.imaging import kernels as np_kernels

        plan = self.plan
        uvws = [np.asarray(p.uvw.compute(), np.float64) for p in self.parts]
        out = [np.zeros(p.vis.shape, plan.complex_dtype) for p in self.parts]
        batch = imaging_dask._planes_per_batch(plan)
        # one stack of planes for every block and batch (from and back to the
        # pool the gridding passes share, see StackPool)
        shape = (batch, plan.grid_rows, plan.ngy)
        stack = (
            np.empty(shape, plan.complex_dtype)
            if self.stack_pool is None
            else self.stack_pool.take(shape, plan.complex_dtype)
        )
        for block in self.drift_beam:
            image = (model * block.ratio).astype(plan.real_dtype)
            # each part's channels this node reaches and their weights (the same
            # for every batch of planes)
            reach = []
            for part, uvw, vis in zip(self.parts, uvws, out):
                share = block.channel_weights(part.freq)
                chans = np.flatnonzero(share)
                if chans.size:
                    c0, c1 = int(chans[0]), int(chans[-1]) + 1
                    weights = None if np.all(share[c0:c1] == 1) else share[c0:c1]
                    reach.append((part.freq, uvw, vis, (c0, c1), weights))
            for first in range(0, plan.nplanes, batch):
                planes = range(first, min(first + batch, plan.nplanes))
                grids = np_kernels.image_to_planes(
                    image,
                    plan=plan,
                    planes=planes,
                    nthreads=self.nthreads,
                    out=stack[: len(planes)],
                )
                tasks = [
                    dask.delayed(_degrid_into)(
                        vis,
                        uvw,
                        freq,
                        grids,
                        (block.time_start, block.time_stop),
                        chans,
                        plan=plan,
                        planes=planes,
                        nthreads=self.nthreads,
                        chan_weights=weights,
                    )
                    for freq, uvw, vis, chans, weights in reach
                ]
                dask.compute(*tasks, scheduler="threads")
                del grids, tasks
        if self.stack_pool is not None:
            self.stack_pool.give(stack)
        return out

    def predict(self, model):
        """Model visibilities of a model image (Jy/pixel), lazily.

        Through the drifting primary beam after :meth:`use_drift_beam` (then
        computed at once, block by block, to hold one set of planes at a time).

        Parameters
        ----------
        model : numpy.ndarray
            ``(npix, npix)`` model image.

        Returns
        -------
        list of dask.array.Array
            ``(time, baseline, frequency)`` per part, chunked like its visibilities.
        """
        if self.drift_beam:
            predicted = self._predict_drift(np.asarray(model, self.plan.real_dtype))
            return [
                da.from_array(v, chunks=p.vis.chunks)
                for p, v in zip(self.parts, predicted)
            ]
        return imaging_dask.model_visibilities(
            [(p.uvw, p.freq, p.vis.chunks) for p in self.parts],
            model,
            plan=self.plan,
            nthreads=self.nthreads,
        )

    def residual_visibilities(self, models):
        """The data minus a multi-term model's visibilities, per part.

        Parameters
        ----------
        models : sequence of numpy.ndarray
            ``T`` ``(npix, npix)`` images ``I_t``: the model's spectrum is
            ``Σ_t I_t x^t`` (:meth:`taylor_factors`).

        Returns
        -------
        list of dask.array.Array
            ``data − Σ_t x^t predict(I_t)``, chunked like each part's
            visibilities: computed at once through the drifting beam
            (:meth:`use_drift_beam`, in the prediction's own arrays), else lazy
            (persisted for several terms).
        """
        dtype = self.plan.real_dtype
        if self.drift_beam:
            # the model's visibilities summed in the first term's arrays, then
            # the residual written over them: no copy of the data
            total = self._predict_drift(np.asarray(models[0], dtype))
            for t, model in enumerate(models[1:], start=1):
                predicted = self._predict_drift(np.asarray(model, dtype))
                for part, acc, m in zip(self.parts, total, predicted):
                    m *= self.taylor_factors(part, t)
                    acc += m
                del predicted  # one term's visibilities alive besides the sum
            for part, r in zip(self.parts, total):
                np.subtract(part.vis.compute(), r, out=r)
            resid = [
                da.from_array(r, chunks=p.vis.chunks) for p, r in zip(self.parts, total)
            ]
        else:
            resid = [p.vis for p in self.parts]
            for t, model in enumerate(models):
                predicted = self.predict(np.asarray(model, dtype))
                resid = [
                    r - (m * self.taylor_factors(p, t) if t else m)
                    for p, r, m in zip(self.parts, resid, predicted)
                ]
            if len(models) > 1:  # every Taylor-weighted image reads them
                resid = list(dask.persist(*resid))
        return resid

    def residual_terms(self, models):
        """Taylor-weighted residual images of a multi-term model, Jy/beam.

        Parameters
        ----------
        models : sequence of numpy.ndarray
            As :meth:`residual_visibilities`.

        Returns
        -------
        list of numpy.ndarray
            ``[dirty(r, taylor=t) for t < T]`` of ``r = data − Σ_t x^t predict(I_t)``.
        """
        resid = self.residual_visibilities(models)
        return [self.dirty(resid, taylor=t) for t in range(len(models))]

    def residual(self, model):
        """Dirty image of the data minus the model's visibilities, Jy/beam."""
        return self.residual_terms([model])[0]

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
    npix=2400,
    cell_arcsec=6.0,
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
    npix=2400,
    cell_arcsec=6.0,
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
