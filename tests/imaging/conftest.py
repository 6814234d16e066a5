"""Shared fixtures of the imaging tests: small random uv coverages and their DFT."""

import numpy as np
import pytest

from dsa110.telescope.beam import SPEED_OF_LIGHT


def dft_dirty(uvw, freq, vis, npix, pixsize, wgt=None):
    """Brute-force dirty image ``Re Σ wgt V exp(−2πi (u l + v m + w (n − 1)))``."""
    l = (np.arange(npix) - npix // 2) * pixsize
    lg, mg = np.meshgrid(l, l, indexing="ij")
    nm1 = np.sqrt(1.0 - lg**2 - mg**2) - 1.0
    vis = np.asarray(vis, dtype=np.complex128)
    if wgt is not None:
        vis = vis * wgt
    out = np.zeros((npix, npix))
    for ic, f in enumerate(freq):
        u, v, w = (uvw * f / SPEED_OF_LIGHT).T
        ph = np.exp(
            -2j
            * np.pi
            * (u[:, None, None] * lg + v[:, None, None] * mg + w[:, None, None] * nm1)
        )
        out += np.real(np.einsum("r,rxy->xy", vis[:, ic], ph))
    return out


@pytest.fixture
def wide_field():
    """A small array with large w (a wide field): 150 rows × 3 channels, 48² pixels."""
    rng = np.random.default_rng(42)
    nrow, nchan = 150, 3
    uvw = rng.uniform(-1.0, 1.0, (nrow, 3)) * np.array([80.0, 80.0, 2000.0])
    freq = np.linspace(1.31e9, 1.5e9, nchan)
    vis = rng.standard_normal((nrow, nchan)) + 1j * rng.standard_normal((nrow, nchan))
    wgt = rng.uniform(0.0, 2.0, (nrow, nchan))
    wgt[rng.uniform(size=wgt.shape) < 0.1] = 0.0
    return dict(uvw=uvw, freq=freq, vis=vis, wgt=wgt, npix=48, pixsize=5e-4)
