"""Phasing: UVW, apparent coordinates, rephasing (fringestopping)."""

from dsa110.phasing.uvw import baseline_uvw, meridian_centers, source_directions, uvw_basis

__all__ = ["baseline_uvw", "meridian_centers", "source_directions", "uvw_basis"]
