"""Simulated restored images with known sources, shared by the photometry tests."""

import numpy as np
import pytest

from dsa110.photometry.beam import Beam
from dsa110.photometry.simulate import make_wcs, simulate_image

BEAM = Beam(18.0 / 3600, 15.0 / 3600, 30.0)
RMS = 2e-3
SHAPE = (768, 768)
CELL = 3.0
CENTRE = (150.0, 40.0)


def random_positions(n, shape, rng, *, margin=20, min_sep_pix=0.0):
    """Sky positions uniformly inside the image (optionally a minimum separation)."""
    wcs = make_wcs(shape, ra=CENTRE[0], dec=CENTRE[1], cell_arcsec=CELL)
    xs, ys = [], []
    while len(xs) < n:
        x = rng.uniform(margin, shape[1] - margin)
        y = rng.uniform(margin, shape[0] - margin)
        if (
            min_sep_pix
            and xs
            and np.min(np.hypot(np.array(xs) - x, np.array(ys) - y)) < min_sep_pix
        ):
            continue
        xs.append(x)
        ys.append(y)
    ra, dec = wcs.pixel_to_world_values(np.array(xs), np.array(ys))
    return np.asarray(ra), np.asarray(dec)


@pytest.fixture(scope="session")
def field():
    """A 768² image: 250 point sources of 3–300σ, correlated noise, 1 mJy offset."""
    rng = np.random.default_rng(20261124)
    n = 250
    ra, dec = random_positions(n, SHAPE, rng, min_sep_pix=8.0)
    flux = RMS * 10 ** rng.uniform(np.log10(3), np.log10(300), n)
    image = simulate_image(
        SHAPE,
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux,
        rms=RMS,
        background=1e-3,
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=rng,
    )
    return {"image": image, "ra": ra, "dec": dec, "flux": flux}
