"""Source measurement on restored images.

Background and noise maps (:func:`estimate_background`), blind source finding
with Gaussian fits (:func:`find_sources`), forced photometry with the Condon
(1997) matched filter (:func:`forced_photometry`), per-image astrometry and
flux-scale QA (:func:`image_qa`), in-band spectral indices
(:func:`inband_spectral_index`) and HEALPix sky coverage (:class:`SurveyCoverage`).
Images are :class:`Image` objects (a 2-D array in Jy/beam, a celestial WCS and
a :class:`Beam`); :func:`read_image` reads them from FITS, and
:func:`read_primary_beam` the primary beam for correcting at each source.
"""

from dsa110.photometry.background import (
    BackgroundGrid,
    background_maps,
    estimate_background,
)
from dsa110.photometry.beam import Beam, deconvolve
from dsa110.photometry.coverage import SurveyCoverage, image_coverage
from dsa110.photometry.dask import forced_photometry_stack
from dsa110.photometry.finding import find_sources
from dsa110.photometry.forced import forced_photometry
from dsa110.photometry.image import Image, read_image, read_primary_beam, write_image
from dsa110.photometry.qa import QAReport, QAThresholds, image_qa
from dsa110.photometry.regions import write_casa_regions, write_ds9_regions, write_table
from dsa110.photometry.simulate import simulate_image
from dsa110.photometry.spectral import fit_spectral_index, inband_spectral_index

__all__ = [
    "BackgroundGrid",
    "Beam",
    "Image",
    "QAReport",
    "QAThresholds",
    "SurveyCoverage",
    "background_maps",
    "deconvolve",
    "estimate_background",
    "find_sources",
    "fit_spectral_index",
    "forced_photometry",
    "forced_photometry_stack",
    "image_coverage",
    "image_qa",
    "inband_spectral_index",
    "read_image",
    "read_primary_beam",
    "simulate_image",
    "write_casa_regions",
    "write_ds9_regions",
    "write_image",
    "write_table",
]
