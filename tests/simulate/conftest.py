"""Shared simulations for the simulator's tests (built once per session, small)."""

import numpy as np
import pytest

from dsa110.simulate import SimulationConfig, simulate_observation

START = "2026-11-24T03:00:00"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """Two consecutive tiles of the small preset with everything switched on."""
    outdir = tmp_path_factory.mktemp("sim_small")
    tiles = simulate_observation(
        outdir,
        preset="small",
        seed=7,
        start=START,
        n_tiles=2,
        dec_deg=33.0,
        rfi=True,
    )
    return outdir, tiles


@pytest.fixture(scope="session")
def tiny_config():
    """A few subbands of the small preset, for physics tests."""
    return SimulationConfig.preset("small", subbands=(0, 9, 15), n_times=3)


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)
