"""Phasing: UVW, apparent coordinates, rephasing (fringestopping)."""

from dsa110.phasing.kernels import rephase_visibilities
from dsa110.phasing.rephase import (
    dataset_site,
    median_meridian,
    rephase,
    resolve_center,
)
from dsa110.phasing.uvw import (
    baseline_uvw,
    meridian_centers,
    source_directions,
    uvw_basis,
)

__all__ = [
    "baseline_uvw",
    "dataset_site",
    "median_meridian",
    "meridian_centers",
    "rephase",
    "rephase_visibilities",
    "resolve_center",
    "source_directions",
    "uvw_basis",
]
