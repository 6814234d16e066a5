"""A small simulated demo night (calibrator + target tile per day) shared by the pipeline tests."""

import shutil

import pytest


@pytest.fixture(scope="session")
def demo_night(tmp_path_factory):
    from dsa110.pipeline.demo import simulate_demo_night

    raw = tmp_path_factory.mktemp("night") / "raw"
    sky = simulate_demo_night(raw, n_days=2, n_catalog=12)
    return raw, sky


def _make_config(data_dir, *extra):
    from dsa110.pipeline.config import load_config

    return load_config(
        overrides=[
            f"runtime.data_dir={data_dir}",
            "imaging.npix=512",
            "imaging.cell_arcsec=8.0",
            "imaging.niter=100",
            "imaging.major_cycles=1",
            *extra,
        ]
    )


@pytest.fixture
def night_copy(demo_night, tmp_path):
    raw, sky = demo_night
    dst = tmp_path / "raw"
    shutil.copytree(raw, dst)
    return dst, sky


@pytest.fixture
def make_config():
    """Build a small-imaging pipeline configuration for a data directory."""
    return _make_config
