"""Imaging: weighting, w-gridding (Numba/CUDA/dask), CLEAN, beams, PB correction, products.

Layers (the codex-africanus/ducc0 shape):

* :mod:`dsa110.imaging.kernels` — the Numba CPU gridder/degridder
  (:func:`vis2dirty`, :func:`dirty2vis`; ES kernel + w-gridding, explicit
  ``epsilon``, precision following the input dtype);
  :mod:`dsa110.imaging.cuda` — the ``numba.cuda`` kernels with the same signature;
  :mod:`dsa110.imaging.dask` — per-chunk grids summed before one FFT per w plane.
* :mod:`dsa110.imaging.imager` — dataset-level dirty images, PSFs and predictions;
  :mod:`dsa110.imaging.clean` — Högbom/Cotton–Schwab; :mod:`dsa110.imaging.beam`;
  :mod:`dsa110.imaging.pbcor`; :mod:`dsa110.imaging.fits`; :mod:`dsa110.imaging.modes`;
  :mod:`dsa110.imaging.mosaic`; :mod:`dsa110.imaging.subtract` (a calibrator's
  visibilities subtracted before imaging and restored after).

Default geometry for a full DSA-110 tile
----------------------------------------
The longest (outrigger) baselines are ≈ 2.6 km, i.e. ``u_max ≈ 13 000 λ`` at the top
of the band (λ ≈ 0.20 m): the synthesized beam is ≈ 1/u_max ≈ 16″ (15–20″ with
robust 0; 43.6″ × 15.9″ on a simulated full tile at +33°). A 6″ cell samples its
minor axis with ≈ 2.7 pixels, below the Nyquist limit ``1 / (2 u_max) ≈ 8″``;
CLEAN's components of a source are then several pixels and the restored fluxes
come from fitted point clusters (:mod:`dsa110.imaging.points`): on simulated full
tiles every source above SNR 50 within 0.1 beam and (but for the noise) 2 % of its
flux, as WSClean's at the same geometry. 2400 pixels of 6″ span 4°: the primary
beam's half-power width is 2.7° at 1.4 GHz (3.0° at 1.31 GHz), and 0.2 of the
peak (the default PB limit) lies at a radius of ≈ 1.85°, so the image holds every
source down to the PB limit along the axes, and CLEANs the sidelobes of those
just outside it. The pipeline images with the same geometry
(``imaging.npix``/``imaging.cell_arcsec``). 4096 pixels of 3″ (the default until
2026-12-07) span 3.4° only: a full tile's snapshot search found 54 false
candidates at bright sources 1.5–1.8° from the tile's centre, where the image
ends, and the tile image needed 6.2 GB and 4 min (``dsa110 image``, 2 cores).
"""

from dsa110.imaging.beam import Beam, fit_beam, restore
from dsa110.imaging.clean import CleanResult, circle_mask, cotton_schwab, mad_sigma
from dsa110.imaging.fits import read_fits_image, write_fits_image, write_products
from dsa110.imaging.imager import (
    ImageGeometry,
    Imager,
    ImagingError,
    make_dirty_image,
    make_psf,
    stokes_i,
)
from dsa110.imaging.kernels import dirty2vis, plan_gridding, vis2dirty
from dsa110.imaging.modes import (
    ImageProducts,
    image_subbands,
    image_tile,
    radec_to_pixel,
    snapshot_search,
)
from dsa110.imaging.pbcor import effective_primary_beam, pb_correct
from dsa110.imaging.subtract import apparent_flux, subtract_sources
from dsa110.imaging.weighting import imaging_weights, weight_density

__all__ = [
    "Beam",
    "CleanResult",
    "ImageGeometry",
    "ImageProducts",
    "Imager",
    "ImagingError",
    "apparent_flux",
    "circle_mask",
    "cotton_schwab",
    "dirty2vis",
    "effective_primary_beam",
    "fit_beam",
    "image_subbands",
    "image_tile",
    "imaging_weights",
    "mad_sigma",
    "make_dirty_image",
    "make_psf",
    "pb_correct",
    "plan_gridding",
    "radec_to_pixel",
    "read_fits_image",
    "restore",
    "snapshot_search",
    "stokes_i",
    "subtract_sources",
    "vis2dirty",
    "weight_density",
    "write_fits_image",
    "write_products",
]
