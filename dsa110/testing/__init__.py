"""Helpers for tests and examples: small in-memory datasets that follow the schema."""

from dsa110.testing.datasets import (
    PointSource,
    core_antennas,
    make_transient_dataset,
    make_visibility_dataset,
)

__all__ = [
    "PointSource",
    "core_antennas",
    "make_transient_dataset",
    "make_visibility_dataset",
]
