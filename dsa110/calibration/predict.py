"""Sky models and their visibilities at a dataset's phase centres."""

from __future__ import annotations

from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110._compat.array_api import get_array_namespace
from dsa110.errors import ConfigurationError

__all__ = [
    "PointSource",
    "GaussianSource",
    "field_sources",
    "sky_arrays",
    "source_geometry",
    "predict_model",
]


@dataclass(frozen=True)
class PointSource:
    """A point source: ICRS position (radians), flux at 1.4 GHz (Jy), spectral index."""

    ra: float
    dec: float
    flux: float
    spectral_index: float = 0.0


@dataclass(frozen=True)
class GaussianSource:
    """An elliptical Gaussian source.

    Attributes
    ----------
    ra, dec : float
        ICRS position, radians.
    flux : float
        Integrated flux density at 1.4 GHz, Jy.
    major, minor : float
        FWHM axes, radians.
    pa : float
        Position angle of the major axis, north through east, radians.
    spectral_index : float
        Power-law index.
    """

    ra: float
    dec: float
    flux: float
    major: float
    minor: float
    pa: float = 0.0
    spectral_index: float = 0.0


def field_sources(
    catalog,
    pointing_ra: float,
    pointing_dec: float,
    frequency: float,
    *,
    min_apparent_jy: float,
    exclude=(),
    exclude_radius: float = np.radians(2.0 / 60.0),
) -> list[PointSource]:
    """Select the survey sources that the primary beam lets through above a flux.

    A calibrator's point model leaves the rest of the field in the data; solved
    against it, the field's sources bias every antenna's gains by a fraction of
    their apparent flux over the calibrator's (measured on 3C48's transit at
    +33°, a field of 6.1 Jy apparent: 0.2 % rms per antenna, the same in both
    polarizations, which left stripes along the array's arms through every
    bright source of the image). Adding the sources above ``min_apparent_jy``
    to the solve's model removes that bias.

    Parameters
    ----------
    catalog : pandas.DataFrame
        ``ra``, ``dec`` (degrees) and ``flux_int`` (Jy at 1.4 GHz); an
        ``alpha`` column, where present, is the spectral index.
    pointing_ra, pointing_dec : float
        Where the beam points (at the calibrator's transit: its RA), radians.
    frequency : float
        Frequency of the beam (the band's centre), Hz.
    min_apparent_jy : float, keyword-only
        Smallest beam-attenuated flux kept, Jy.
    exclude : sequence of sources, keyword-only
        Sources already modelled (the calibrator): survey entries within
        ``exclude_radius`` of them are left out, not counted twice.
    exclude_radius : float, keyword-only
        Radians (default 2′, a few NVSS beams).

    Returns
    -------
    list of PointSource
        Brightest apparent flux first.
    """
    from dsa110.catalogs import angular_separation
    from dsa110.telescope import airy_beam

    if catalog is None or len(catalog) == 0:
        return []
    ra = np.asarray(catalog["ra"], dtype=np.float64)
    dec = np.asarray(catalog["dec"], dtype=np.float64)
    flux = np.asarray(catalog["flux_int"], dtype=np.float64)
    alpha = (
        np.asarray(catalog["alpha"], dtype=np.float64)
        if "alpha" in catalog
        else np.zeros_like(flux)
    )
    alpha = np.where(np.isfinite(alpha), alpha, 0.0)
    offset = np.radians(
        angular_separation(ra, dec, np.degrees(pointing_ra), np.degrees(pointing_dec))
    )
    apparent = flux * airy_beam(offset, float(frequency))
    keep = np.isfinite(apparent) & (apparent >= min_apparent_jy)
    for src in _as_list(exclude):
        sep = angular_separation(ra, dec, np.degrees(src.ra), np.degrees(src.dec))
        keep &= np.radians(sep) > exclude_radius
    order = np.argsort(-apparent[keep], kind="stable")
    idx = np.flatnonzero(keep)[order]
    return [
        PointSource(
            float(np.radians(ra[k])),
            float(np.radians(dec[k])),
            float(flux[k]),
            float(alpha[k]),
        )
        for k in idx
    ]


def _as_list(sky):
    if hasattr(sky, "ra") and hasattr(sky, "dec"):
        return [sky]
    return list(sky)


def sky_arrays(sky, frequency):
    """Positions, spectra and shapes of a sky model as arrays.

    Parameters
    ----------
    sky : source or sequence of sources
        Objects with ``ra``, ``dec`` (radians) and either a ``flux_density(freq)``
        method (:class:`dsa110.catalogs.calibrators.Calibrator`) or ``flux`` (Jy at
        1.4 GHz) and ``spectral_index``; Gaussians also have ``major``, ``minor``,
        ``pa`` (radians).
    frequency : numpy.ndarray
        ``(frequency,)`` float64 Hz.

    Returns
    -------
    ra, dec : numpy.ndarray
        ``(source,)`` float64 radians.
    spectrum : numpy.ndarray
        ``(source, frequency)`` float64 Jy.
    shape : numpy.ndarray or None
        ``(source, 3)`` float64, or None when every source is a point.
    """
    sources = _as_list(sky)
    if not sources:
        raise ValueError("the sky model has no sources")
    for k, s in enumerate(sources):
        if not (
            hasattr(s, "ra")
            and hasattr(s, "dec")
            and (hasattr(s, "flux_density") or hasattr(s, "flux"))
        ):
            raise ConfigurationError(
                f"sky[{k}]: {s!r} is not a source (needs ra, dec and flux_density "
                "or flux)"
            )
    freq = np.asarray(frequency, dtype=np.float64)
    ra = np.array([s.ra for s in sources], dtype=np.float64)
    dec = np.array([s.dec for s in sources], dtype=np.float64)
    spec = np.empty((len(sources), freq.size))
    for k, s in enumerate(sources):
        if hasattr(s, "flux_density"):
            spec[k] = s.flux_density(freq)
        else:
            spec[k] = s.flux * (freq / 1.4e9) ** getattr(s, "spectral_index", 0.0)
    shape = None
    if any(hasattr(s, "major") for s in sources):
        shape = np.array(
            [
                [
                    getattr(s, "major", 0.0),
                    getattr(s, "minor", 0.0),
                    getattr(s, "pa", 0.0),
                ]
                for s in sources
            ]
        )
    return ra, dec, spec, shape


def source_geometry(ds, ra, dec, *, beam: bool = True):
    """Direction cosines of sources at each phase centre, and their beam offsets.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (:mod:`dsa110.schema`).
    ra, dec : numpy.ndarray
        ``(source,)`` float64 ICRS radians.
    beam : bool, keyword-only
        Also return offsets from the pointing (the meridian at ``pointing_dec``).

    Returns
    -------
    lmn : numpy.ndarray
        ``(time, source, 3)`` float64.
    offset : numpy.ndarray or None
        ``(time, source)`` float64 radians from the pointing centre.
    """
    from dsa110.phasing.uvw import meridian_centers, source_directions, uvw_basis
    from dsa110.telescope import Site

    site = Site(
        ds.attrs["telescope_name"],
        ds.attrs["site_latitude"],
        ds.attrs["site_longitude"],
        ds.attrs["site_height"],
    )
    times = np.asarray(ds[schema.TIME].values, dtype=np.float64)
    basis = uvw_basis(
        ds["phase_center_ra"].values, ds["phase_center_dec"].values, times, site
    )  # (time, 3, 3)
    d = source_directions(ra[:, None], dec[:, None], times[None, :], site)  # (s, t, 3)
    lmn = np.einsum("tkx,stx->tsk", basis, d)
    offset = None
    if beam:
        pra, pdec = meridian_centers(times, ds.attrs["pointing_dec"], site)
        p = source_directions(pra, pdec, times, site)  # (t, 3)
        offset = np.arccos(np.clip(np.einsum("tx,stx->ts", p, d), -1.0, 1.0))
    return lmn, offset


def _predict_block(uvw, frequency, lmn, scale, shape=None):
    xp = get_array_namespace(uvw, frequency)
    if xp is np:
        from dsa110.calibration.kernels import predict_vis
    else:  # deferred: the GPU module needs CuPy only when CuPy chunks arrive
        from dsa110.calibration.cuda import predict_vis
    n_src = lmn.shape[1]
    return predict_vis(
        uvw,
        frequency,
        lmn,
        xp.ones(n_src),
        spectral_index=xp.zeros(n_src),
        beam=scale,
        shape=None if shape is None else xp.asarray(shape),
    )


def peak_beam_response(ds, sky):
    """Each source's largest primary-beam response over the data's integrations.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (:mod:`dsa110.schema`).
    sky : source or sequence of sources
        See :func:`sky_arrays`.

    Returns
    -------
    numpy.ndarray
        ``(source,)`` float64: the Airy beam (pointing at the meridian at
        ``pointing_dec``) at the band's mean frequency, at its largest over
        the integrations.
    """
    from dsa110.telescope import airy_beam

    freq = np.asarray(ds[schema.FREQUENCY].values, dtype=np.float64)
    ra, dec, _, _ = sky_arrays(sky, freq[:1])
    _, offset = source_geometry(ds, ra, dec, beam=True)
    return airy_beam(offset, float(freq.mean())).max(axis=0)


def predict_model(ds, sky, *, beam: bool = True, persist: bool = False) -> xr.DataArray:
    """Model visibilities of ``sky`` at the dataset's phase centres (lazy).

    Spectra (including the Perley & Butler polynomials of primary calibrators)
    and the Airy primary-beam attenuation (:func:`dsa110.telescope.airy_beam`,
    pointing at the meridian at ``pointing_dec``) are folded into one
    ``(time, source, frequency)`` scale passed to the DFT kernel.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset (:mod:`dsa110.schema`).
    sky : source or sequence of sources
        See :func:`sky_arrays` (points and :class:`GaussianSource`).
    beam : bool, keyword-only
        Attenuate by the primary beam.
    persist : bool, keyword-only
        Compute it now and hold its chunks in memory (:func:`dask.persist`), in
        the visibilities' precision (complex64 for DSA-110 data: half the
        memory), for several solves to share.

    Returns
    -------
    xarray.DataArray
        ``(time, baseline_id, frequency)`` complex128, chunked like
        ``ds.VISIBILITY`` (polarization-independent: an unpolarised sky); with
        ``persist``, computed and in the visibilities' dtype.
    """
    from dsa110.telescope import airy_beam

    freq = np.asarray(ds[schema.FREQUENCY].values, dtype=np.float64)
    ra, dec, spec, shape = sky_arrays(sky, freq)
    lmn, offset = source_geometry(ds, ra, dec, beam=beam)
    scale = np.broadcast_to(spec[None], (lmn.shape[0],) + spec.shape).copy()
    if beam:
        scale *= airy_beam(offset[:, :, None], freq[None, None, :])
    vis = ds["VISIBILITY"].data
    uvw = ds["UVW"].data
    if not isinstance(vis, da.Array):
        vis = da.from_array(vis, chunks=vis.shape)
    tchunks, bchunks, fchunks = vis.chunks[0], vis.chunks[1], vis.chunks[2]
    uvw_d = da.asarray(uvw).rechunk((tchunks, bchunks, -1))
    freq_d = da.from_array(freq, chunks=(fchunks,))
    lmn_d = da.from_array(lmn, chunks=(tchunks, -1, -1))
    scale_d = da.from_array(scale, chunks=(tchunks, -1, fchunks))
    model = da.blockwise(
        _predict_block,
        "tbf",
        uvw_d,
        "tbx",
        freq_d,
        "f",
        lmn_d,
        "tsx",
        scale_d,
        "tsf",
        dtype=np.complex128,
        concatenate=True,
        shape=shape,
    )
    if persist:
        # chunks held as computed: no concatenated copy (as compute() makes),
        # and none when a solve wraps them again (as from_array() of NumPy does)
        (model,) = dask.persist(
            model.astype(np.result_type(ds["VISIBILITY"].dtype, np.complex64))
        )
    return xr.DataArray(
        model,
        dims=(schema.TIME, schema.BASELINE, schema.FREQUENCY),
        coords={k: ds[k] for k in (schema.TIME, schema.BASELINE, schema.FREQUENCY)},
        name="MODEL",
    )
