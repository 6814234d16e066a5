"""A bright source subtracted from the visibilities before imaging, restored after."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.errors import ConfigurationError
from dsa110.imaging.imager import ImageGeometry, Imager
from dsa110.imaging.modes import image_tile, radec_to_pixel
from dsa110.imaging.subtract import apparent_flux, subtract_sources
from dsa110.phasing import median_meridian, rephase
from dsa110.telescope import ACTIVE_ANTENNAS, antenna_table
from dsa110.testing import PointSource, make_visibility_dataset

NPIX, CELL = 128, 12.0


def _antennas():
    table = antenna_table()
    idx = np.asarray(ACTIVE_ANTENNAS) - 1
    dist = np.linalg.norm(table.ecef[idx] - table.ecef[idx].mean(axis=0), axis=1)
    return idx[dist < 500][::2]


@pytest.fixture(scope="module")
def field():
    """Noise-free: a 20 Jy steep-spectrum source and a 0.3 Jy flat one."""
    ants = _antennas()
    kw = dict(n_time=4, n_chan_per_subband=3, subbands=[0, 5, 10, 15], antennas=ants)
    ra0, dec0 = median_meridian(make_visibility_dataset(**kw))
    step = np.radians(CELL / 3600)
    bright = PointSource(ra0 + 9 * step / np.cos(dec0), dec0 + 5 * step, 20.0, -0.8)
    faint = PointSource(ra0 - 30 * step / np.cos(dec0), dec0 - 21 * step, 0.3, 0.0)
    return make_visibility_dataset(sources=[bright, faint], **kw), bright, faint


def test_subtracting_the_simulated_sources_leaves_nothing(field):
    ds, bright, faint = field
    out = subtract_sources(ds.chunk({"frequency": 5}), [bright, faint])
    vis = out.VISIBILITY.values
    # the simulator's direct evaluation and the DFT model agree to float32
    assert np.abs(vis).max() < 2e-6 * bright.flux
    assert out.FLAG.equals(ds.FLAG) and out.WEIGHT.equals(ds.WEIGHT)
    one = subtract_sources(ds, [bright]).VISIBILITY.values
    assert np.abs(one).max() > 0.1 * faint.flux  # the faint source is left
    with pytest.raises(ConfigurationError, match="polarization"):
        subtract_sources(ds.assign_coords(polarization=["XY", "YX"]), [bright])
    with pytest.raises(ConfigurationError, match=r"sky\[1\]: '3C48' is not a source"):
        subtract_sources(ds, [bright, "3C48"])


def test_apparent_flux_is_the_dirty_image_at_the_source():
    """With natural weights (separable in time and frequency) the image of a
    point source at the phase centre is exactly the weighted mean visibility:
    here 1.3° off the pointing, through a beam that changes across the band."""
    kw = dict(n_time=4, n_chan_per_subband=3, subbands=[0, 5, 10, 15])
    empty = make_visibility_dataset(antennas=_antennas(), **kw)
    ra0, dec0 = median_meridian(empty)
    far = PointSource(ra0 + np.radians(1.2) / np.cos(dec0), dec0 + 0.01, 5.0, -0.8)
    ds = make_visibility_dataset(sources=[far], antennas=_antennas(), **kw)
    at = rephase(ds, (far.ra, far.dec))
    imager = Imager.from_dataset(
        at, geometry=ImageGeometry(64, CELL, 1e-5), weighting="natural"
    )
    dirty = imager.dirty()
    flux = apparent_flux(
        at,
        [far],
        time_weights=imager.time_weights(),
        freq_weights=imager.channel_weights(),
    )
    assert flux[0] < 0.8 * far.flux  # the beam's attenuation is in it
    assert_allclose(dirty[32, 32], flux[0], rtol=2e-5)
    with pytest.raises(ConfigurationError, match="time_weights"):
        apparent_flux(at, [far], time_weights=[1.0], freq_weights=[1.0])


def test_image_tile_restores_the_subtracted_source(field):
    ds, bright, faint = field
    kw = dict(
        geometry=ImageGeometry(NPIX, CELL, 1e-5),
        weighting="natural",
        niter=3000,
        auto_threshold=0.0,
        threshold=1e-4,
        mgain=0.9,
        max_major=3,
    )
    sub = image_tile(ds, subtract=[bright], **kw)
    flat = image_tile(ds, **kw)  # CLEAN of the steep source with one term
    (record,) = sub.params["subtracted"]
    assert_allclose(
        [record["ra_deg"], record["dec_deg"]], np.degrees([bright.ra, bright.dec])
    )
    x, y = radec_to_pixel(bright.ra, bright.dec, sub.centre, CELL, NPIX)
    ix, iy = int(round(float(x))), int(round(float(y)))
    near = (slice(ix - 8, ix + 9), slice(iy - 8, iy + 9))
    # the bright source is in the restored image at the flux the data give it
    # (the one-term CLEAN's restored image agrees within its residual) ...
    assert_allclose(sub.restored[near].max(), flat.restored[near].max(), rtol=0.01)
    assert_allclose(sub.restored[near].max(), record["jy"], rtol=0.02)
    # ... and not in the model nor the residual, where the one-term CLEAN
    # leaves its spectrum's error
    assert np.abs(sub.model[near]).max() == 0
    assert np.abs(sub.residual).max() < 0.2 * np.abs(flat.residual).max()
    # the faint source comes out at its flux (measured: 0.29996 Jy), where the
    # bright source's residual pulls the one-term CLEAN's 1.3 % low
    x, y = radec_to_pixel(faint.ra, faint.dec, sub.centre, CELL, NPIX)
    fx, fy = int(round(float(x))), int(round(float(y)))
    box = (slice(fx - 2, fx + 3), slice(fy - 2, fy + 3))
    assert_allclose(sub.pbcor[box].max(), faint.flux, rtol=2e-3)
    assert_allclose(flat.pbcor[box].max(), faint.flux, rtol=0.03)


def test_a_source_outside_the_image_is_subtracted_not_restored():
    """A bright neighbour beyond the image's edge leaves its sidelobes in the
    image, which CLEAN cannot model; subtracted, there is nothing to restore."""
    ants = _antennas()
    kw = dict(n_time=2, n_chan_per_subband=2, subbands=[0, 8, 15], antennas=ants)
    ra0, dec0 = median_meridian(make_visibility_dataset(**kw))
    step = np.radians(CELL / 3600)
    outside = PointSource(ra0, dec0 + 90 * step, 5.0)  # 26 pixels beyond the edge
    inside = PointSource(ra0 + 10 * step / np.cos(dec0), dec0 - 12 * step, 0.2)
    ds = make_visibility_dataset(sources=[outside, inside], **kw)
    x, y = radec_to_pixel(outside.ra, outside.dec, median_meridian(ds), CELL, NPIX)
    assert not (0 <= float(x) <= NPIX - 1 and 0 <= float(y) <= NPIX - 1)
    opts = dict(
        geometry=ImageGeometry(NPIX, CELL, 1e-5),
        weighting="natural",
        niter=500,
        auto_threshold=0.0,
        threshold=1e-3,
        max_major=2,
    )
    sub = image_tile(ds, subtract=[outside], **opts)
    kept = image_tile(ds, **opts)
    (record,) = sub.params["subtracted"]
    assert record["restored"] is False
    # its sidelobes are gone from the image; nothing of it was added back
    x, y = radec_to_pixel(inside.ra, inside.dec, sub.centre, CELL, NPIX)
    ix, iy = int(round(float(x))), int(round(float(y)))
    away = np.ones((NPIX, NPIX), bool)
    away[ix - 6 : ix + 7, iy - 6 : iy + 7] = False
    assert np.abs(sub.restored[away]).max() < 0.1 * np.abs(kept.restored[away]).max()
    # and the source inside comes out at its flux (measured: 0.1998 Jy; with the
    # neighbour's sidelobes over it, 0.103)
    box = (slice(ix - 2, ix + 3), slice(iy - 2, iy + 3))
    assert_allclose(sub.pbcor[box].max(), inside.flux, rtol=0.01)
    assert abs(kept.pbcor[box].max() - inside.flux) > 0.1 * inside.flux
