"""Interop: the same tile written as an MS and imaged by WSClean agrees with ours.

Skipped where WSClean (Debian's ``wsclean``) or the MS writer is not available.
"""

import shutil
import subprocess

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging.imager import ImageGeometry
from dsa110.imaging.modes import image_tile, radec_to_pixel
from dsa110.phasing import median_meridian, rephase
from dsa110.testing import PointSource, core_antennas, make_visibility_dataset
from tests.imaging.test_tile import subpixel_peak

pytestmark = pytest.mark.skipif(shutil.which("wsclean") is None, reason="needs wsclean")

NPIX, CELL = 256, 12.0


def test_wsclean_agrees(tmp_path):
    ms = pytest.importorskip("dsa110.io.ms")
    write_ms = getattr(ms, "write_ms", None)
    if write_ms is None:
        pytest.skip("dsa110.io.ms.write_ms is not available")
    ants = core_antennas(step=2)
    empty = make_visibility_dataset(n_time=2, n_chan_per_subband=1, antennas=ants)
    ra0, dec0 = median_meridian(empty)
    rng = np.random.default_rng(4)
    offsets = [(0.0, 0.0), (0.25, 0.15), (-0.2, -0.25)]
    fluxes = [0.5, 0.3, 0.2]
    sources = [
        PointSource(ra0 + np.radians(dx) / np.cos(dec0), dec0 + np.radians(dy), f)
        for (dx, dy), f in zip(offsets, fluxes)
    ]
    ds = make_visibility_dataset(
        sources=sources,
        n_time=2,
        n_chan_per_subband=1,
        antennas=ants,
        noise_sigma=0.02,
        rng=rng,
    )
    ds = rephase(ds, "median_meridian")
    flag = np.asarray(ds["FLAG"].values).copy()
    auto = np.asarray(ds["antenna1"].values) == np.asarray(ds["antenna2"].values)
    flag[:, auto] = True  # WSClean images autocorrelations unless they are flagged
    ds = ds.assign(FLAG=(ds["FLAG"].dims, flag))
    path = tmp_path / "tile.ms"
    write_ms(ds, path)
    ours = image_tile(
        ds,
        center=None,
        geometry=ImageGeometry(NPIX, CELL, 1e-5),
        weighting="briggs",
        robust=0.0,
        niter=5000,
        auto_threshold=1.5,
        auto_mask=4.0,
        mgain=0.8,
        nthreads=2,
    )
    cmd = [
        "wsclean",
        "-quiet",
        "-size",
        str(NPIX),
        str(NPIX),
        "-scale",
        f"{CELL}asec",
        "-weight",
        "briggs",
        "0",
        "-niter",
        "5000",
        "-auto-threshold",
        "1.5",
        "-auto-mask",
        "4",
        "-mgain",
        "0.8",
        "-pol",
        "I",
        "-j",
        "2",
        "-name",
        str(tmp_path / "ws"),
        str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(tmp_path / "ws-image.fits") as hdul:
        ws_header = hdul[0].header
        ws_plane = np.asarray(hdul[0].data, np.float64)[0, 0]  # (y, x)
    ws_wcs = WCS(ws_header).celestial
    for s in sources:
        ix, iy = radec_to_pixel(s.ra, s.dec, ours.centre, CELL, NPIX)
        x1, y1, f1 = subpixel_peak(ours.restored, float(ix), float(iy))
        from dsa110.imaging.pbcor import pixel_radec

        cell = np.radians(CELL / 3600)
        ra1, dec1 = pixel_radec(
            (x1 - NPIX // 2) * cell, (y1 - NPIX // 2) * cell, *ours.centre
        )
        # WSClean's own pixel grid and WCS (its reference pixel is N/2 + 1 on both axes)
        px, py = ws_wcs.world_to_pixel(SkyCoord(s.ra, s.dec, unit="rad"))
        x2, y2, f2 = subpixel_peak(ws_plane.T, float(px), float(py))
        sky2 = ws_wcs.pixel_to_world(x2, y2)
        sep = SkyCoord(ra1, dec1, unit="rad").separation(sky2).arcsec
        # acceptance: peak fluxes within 2 %, positions within one pixel
        assert_allclose(f1, f2, rtol=0.02)
        assert_allclose(sep, 0.0, atol=CELL)
