"""Test configuration shared by every test module.

``NUMBA_ENABLE_CUDASIM=1`` is set here, before numba is imported anywhere, so the
``numba.cuda`` kernels run under Numba's CUDA simulator and can be compared with
the CPU kernels on machines without a GPU. Where CASA is installed, an offline
site configuration is set up for it before any test imports ``casatasks``.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest  # noqa: E402

from dsa110._compat.casa import configure_casa_offline  # noqa: E402

# Where CASA is installed, its interop tests run offline (DESIGN.md §4).
configure_casa_offline()


def pytest_addoption(parser):
    parser.addoption(
        "--runslow", action="store_true", default=False, help="run slow tests"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
