import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.photometry.dask import forced_photometry_stack
from dsa110.photometry.forced import forced_photometry
from dsa110.photometry.simulate import simulate_image
from tests.photometry.conftest import BEAM, CELL, CENTRE, random_positions


def test_stack_equals_per_image_numpy():
    rng = np.random.default_rng(21)
    ra, dec = random_positions(25, (160, 160), rng, margin=10)
    flux = rng.uniform(0.01, 0.1, 25)
    imgs = [
        simulate_image(
            (160, 160),
            beam=BEAM,
            ra=ra,
            dec=dec,
            flux=flux * (1 + 0.1 * k),
            rms=2e-3,
            cell_arcsec=CELL,
            centre=CENTRE,
            rng=k,
        )
        for k in range(5)
    ]
    cube = da.from_array(
        np.stack([im.data for im in imgs]), chunks=(2, 160, 160)
    )  # uneven: 2,2,1
    out = forced_photometry_stack(cube, ra, dec, wcs=imgs[0].wcs, beam=BEAM).compute()
    assert out.shape == (5, 25, 3)
    for k, im in enumerate(imgs):
        ref = forced_photometry(im, ra, dec)
        # same kernel, same inputs: identical up to summation order
        assert_allclose(out[k, :, 0], ref["flux"], rtol=1e-12, atol=1e-15)
        assert_allclose(out[k, :, 1], ref["flux_err"], rtol=1e-12)


def test_stack_rejects_spatial_chunks():
    cube = da.zeros((2, 64, 64), chunks=(1, 32, 64))
    with pytest.raises(ValueError, match="image axis"):
        forced_photometry_stack(cube, [150.0], [40.0], wcs=None, beam=BEAM)
