"""Simulate DSA-110 observations as the correlator writes them.

A sky (user point sources plus an NVSS-like random population) seen through the
Airy primary beam, per-antenna complex gains, thermal noise from an SEFD and
optional RFI, written as groups of 16 correlator-format UVH5 files per tile
with the ground truth beside them::

    from dsa110.simulate import simulate_observation, point_source, load_truth
    tiles = simulate_observation("out", preset="small", seed=1, n_tiles=2,
                                 sources=point_source(30.0, 33.0, 5.0))
    truth = load_truth(tiles[0].truth_path)
"""

from dsa110.simulate.config import SimulationConfig, default_sefd, noise_sigma
from dsa110.simulate.instrument import GainModel, RFIModel
from dsa110.simulate.observation import (
    Tile,
    correlator_baselines,
    integration_times,
    simulate_observation,
    unix_to_jd,
)
from dsa110.simulate.sky import SkyModel, point_source, population_counts
from dsa110.simulate.truth import Truth, load_truth

__all__ = [
    "GainModel",
    "RFIModel",
    "SimulationConfig",
    "SkyModel",
    "Tile",
    "Truth",
    "correlator_baselines",
    "default_sefd",
    "integration_times",
    "load_truth",
    "noise_sigma",
    "point_source",
    "population_counts",
    "simulate_observation",
    "unix_to_jd",
]
