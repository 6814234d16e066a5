"""End-to-end imaging of a simulated tile: positions, fluxes, noise, products."""

import numpy as np
import pytest
import scipy.ndimage
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.errors import ConfigurationError
from dsa110.imaging.fits import read_fits_image, write_products
from dsa110.imaging.imager import ImageGeometry
from dsa110.imaging.modes import image_tile, radec_to_pixel, snapshot_search
from dsa110.phasing import median_meridian
from dsa110.testing import (
    PointSource,
    core_antennas,
    make_transient_dataset,
    make_visibility_dataset,
)

NPIX, CELL = 384, 10.0
NOISE = 0.05  # Jy per real/imaginary part per visibility and polarization


def subpixel_peak(image, ix, iy):
    """Peak position (quadratic fit on 3×3) and value (cubic interpolation) near (ix, iy)."""
    i, j = int(round(ix)), int(round(iy))
    win = image[i - 2 : i + 3, j - 2 : j + 3]
    a, b = np.unravel_index(np.nanargmax(win), win.shape)
    i, j = i - 2 + a, j - 2 + b
    c = image[i - 1 : i + 2, j - 1 : j + 2]
    dx = 0.5 * (c[0, 1] - c[2, 1]) / (c[0, 1] - 2 * c[1, 1] + c[2, 1])
    dy = 0.5 * (c[1, 0] - c[1, 2]) / (c[1, 0] - 2 * c[1, 1] + c[1, 2])
    x, y = i + dx, j + dy
    value = scipy.ndimage.map_coordinates(np.nan_to_num(image), [[x], [y]], order=3)[0]
    return x, y, value


@pytest.fixture(scope="module")
def tile():
    ants = core_antennas(3)
    empty = make_visibility_dataset(n_time=3, n_chan_per_subband=1, antennas=ants)
    ra0, dec0 = median_meridian(empty)
    rng = np.random.default_rng(11)
    offsets = rng.uniform(-0.4, 0.4, (4, 2))
    fluxes = np.array([0.3, 0.2, 0.15, 0.1])  # SNR ≈ 250–800 in the image
    sources = [
        PointSource(ra0 + np.radians(dx) / np.cos(dec0), dec0 + np.radians(dy), f)
        for (dx, dy), f in zip(offsets, fluxes)
    ]
    ds = make_visibility_dataset(
        sources=sources,
        n_time=3,
        n_chan_per_subband=1,
        antennas=ants,
        noise_sigma=NOISE,
        rng=rng,
    )
    products = image_tile(
        ds,
        geometry=ImageGeometry(npix=NPIX, cell_arcsec=CELL, epsilon=1e-5),
        weighting="briggs",
        robust=0.0,
        niter=5000,
        auto_threshold=1.5,
        auto_mask=4.0,
        max_major=10,
        nthreads=2,
    )
    return ds, sources, products


def test_sources_position_and_flux(tile):
    ds, sources, p = tile
    beam_pix = np.sqrt(p.beam.bmaj * p.beam.bmin) / CELL
    for s in sources:
        ix, iy = radec_to_pixel(s.ra, s.dec, p.centre, CELL, NPIX)
        x, y, flux = subpixel_peak(p.pbcor, float(ix), float(iy))
        assert p.pbcor[int(round(x)), int(round(y))] / p.sigma > 50  # all are bright
        # acceptance: within 0.1 beam of the true position, flux within 2 %
        assert_allclose(np.hypot(x - ix, y - iy) / beam_pix, 0.0, atol=0.1)
        assert_allclose(flux, s.flux, rtol=0.02)


def test_noise_is_thermal(tile):
    ds, sources, p = tile
    from dsa110.imaging.imager import Imager

    imager = Imager.from_dataset(
        __import__("dsa110.phasing", fromlist=["rephase"]).rephase(
            ds, "median_meridian"
        ),
        geometry=ImageGeometry(npix=NPIX, cell_arcsec=CELL, epsilon=1e-5),
        robust=0.0,
    )
    w = np.asarray(imager.weights.compute(), dtype=np.float64)
    # Stokes I = (XX + YY) / 2 has σ/√2 per real part; image = Σ w Re(V e^{-iφ}) / Σ w
    expected = NOISE / np.sqrt(2) * np.sqrt(np.sum(w**2)) / np.sum(w)
    # acceptance: the residual's robust σ is within 20 % of the thermal expectation
    assert_allclose(p.sigma, expected, rtol=0.2)


def test_beam_and_psf(tile):
    _, _, p = tile
    n = NPIX // 2
    assert_allclose(p.psf[n, n], 1.0, rtol=1e-4)  # normalised PSF (epsilon 1e-5)
    assert p.beam.bmaj >= p.beam.bmin > 0
    # the restored beam's half-power contour must match the PSF's main lobe
    from dsa110.imaging.beam import gaussian_image

    g = gaussian_image(p.psf.shape, p.beam, CELL)
    core = g > 0.5
    assert_allclose(p.psf[core], g[core], atol=0.08)  # Gaussian vs. real main lobe


def test_beam_fit_leaves_out_a_near_sidelobe():
    """A sidelobe of 0.75 next to the main lobe, joined to it above 0.35 (a
    sparse array's snapshot or subband PSF), is not part of the fitted beam:
    with it the beam came out 2–3× too large."""
    from dsa110.imaging.beam import Beam, fit_beam, gaussian_image

    n, cell = 128, 2.0
    lobe = Beam(16.0, 16.0, 0.0)
    psf = gaussian_image((n, n), lobe, cell)
    # 21" away: 0.53 between the two, 0.76 at the sidelobe's peak
    psf += 0.75 * np.roll(psf, (10, 3), axis=(0, 1))
    psf /= psf[n // 2, n // 2]
    fitted = fit_beam(psf, cell)
    # the sidelobe's own wing widens the main lobe toward it (18.8" measured);
    # with the sidelobe the fit gave 39.5" × 14.1"
    assert_allclose([fitted.bmaj, fitted.bmin], [lobe.bmaj, lobe.bmin], rtol=0.2)


def test_fits_products(tile, tmp_path):
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.wcs import WCS

    ds, sources, p = tile
    files = write_products(p, tmp_path / "tile")
    assert set(files) >= {"image", "image-pb", "residual", "model", "psf", "pb", "png"}
    assert files["png"].stat().st_size > 1000
    header = fits.getheader(files["image-pb"])
    assert header["CTYPE1"] == "RA---SIN" and header["CTYPE4"] == "STOKES"
    assert header["BUNIT"] == "JY/BEAM"
    assert_allclose(header["BMAJ"] * 3600, p.beam.bmaj, rtol=1e-6)
    assert "DATE-OBS" in header and any("robust" in h for h in header["HISTORY"])
    image, _ = read_fits_image(files["image-pb"])
    assert_allclose(image, p.pbcor.astype(np.float32), equal_nan=True, rtol=0, atol=0)
    # the WCS puts the brightest source where it is on the sky; WCSLIB finds
    # nothing to fix in the header (astropy would warn on every read)
    import warnings

    from astropy.wcs import FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", FITSFixedWarning)
        wcs = WCS(header).celestial
    s = sources[0]
    ix, iy = radec_to_pixel(s.ra, s.dec, p.centre, CELL, NPIX)
    x, y, _ = subpixel_peak(p.pbcor, float(ix), float(iy))
    fits_x = NPIX - 1 - x  # RA increases to the left in the file
    sky = wcs.pixel_to_world(fits_x, y)
    sep = sky.separation(SkyCoord(s.ra, s.dec, unit="rad")).arcsec
    assert_allclose(sep, 0.0, atol=0.1 * p.beam.bmin)  # within 0.1 beam


def _separation_arcsec(ra1, dec1, ra2, dec2):
    from astropy.coordinates import SkyCoord

    return (
        SkyCoord(ra1, dec1, unit="rad")
        .separation(SkyCoord(ra2, dec2, unit="rad"))
        .arcsec
    )


def test_snapshot_search_finds_the_transient_not_the_steady_sky():
    """A 1 Jy source in one of four integrations is found there, and nothing
    else: the steady 0.5 Jy source's snapshot sidelobes (which gave 100 peaks
    above 6σ in every integration before the steady sky was subtracted) and
    the noise stay below 6σ."""
    ants = core_antennas(step=4)
    ra0, dec0 = median_meridian(make_visibility_dataset(n_time=4, antennas=ants))
    steady = PointSource(
        ra0 + np.radians(0.3) / np.cos(dec0), dec0 + np.radians(0.2), 0.5
    )
    flash = PointSource(
        ra0 - np.radians(0.4) / np.cos(dec0), dec0 - np.radians(0.3), 1.0
    )

    ds = make_transient_dataset(
        sources=[steady],
        transient=flash,
        integration=2,
        seed=3,
        n_time=4,
        n_chan_per_subband=1,
        antennas=ants,
        noise_sigma=0.05,
    )
    found = snapshot_search(ds, geometry=ImageGeometry(256, 20.0), nsigma=6.0)
    assert len(found) == 1
    (cand,) = found
    assert cand["time_index"] == 2 and cand["time"] == ds["time"].values[2]
    assert _separation_arcsec(cand["ra"], cand["dec"], flash.ra, flash.dec) < 20.0
    # apparent, through the beam 0.5° out; the tile's model holds ≤ 1/4 of it
    assert 0.5 < cand["peak"] < 1.0 and cand["snr"] > 20


def test_snapshot_search_takes_the_tiles_model(tile):
    ds, sources, _ = tile
    geometry = ImageGeometry(npix=NPIX, cell_arcsec=CELL)
    with pytest.raises(ConfigurationError, match="model: shape"):
        snapshot_search(ds, geometry=geometry, model=np.zeros((8, 8)))
    # an empty model subtracts nothing: the brightest peak of the first
    # snapshot is then the brightest source
    found = snapshot_search(
        ds.isel(time=slice(0, 1)),
        geometry=geometry,
        nsigma=8,
        model=np.zeros((NPIX, NPIX)),
    )
    best = max(found, key=lambda c: c["peak"])
    s = sources[0]
    assert _separation_arcsec(best["ra"], best["dec"], s.ra, s.dec) < 2 * CELL


def test_subband_images(tile):
    from dsa110.imaging.modes import image_subbands

    ds, sources, _ = tile
    # 16 channels (one per subband here) in 4 spectral windows of 4 channels
    images = image_subbands(
        ds,
        channels_per_subband=4,
        geometry=ImageGeometry(npix=128, cell_arcsec=30.0),
        niter=200,
        nthreads=2,
    )
    labels, products = zip(*images)
    assert labels == (0, 1, 2, 3)
    refs = [p.ref_frequency for p in products]
    assert np.all(np.diff(refs) > 0)  # ascending frequency
    freq = ds["frequency"].values
    assert_allclose(
        refs[0], freq[:4].mean(), rtol=1e-3
    )  # weighted mean of its channels
    with pytest.raises(ConfigurationError, match="channels_per_subband"):
        next(image_subbands(ds, channels_per_subband=5))


def test_subband_windows_follow_the_dsa110_subbands(tile):
    from dsa110.imaging.modes import subband_windows
    from dsa110.telescope import subband_of_frequency

    ds = tile[0]
    sb = subband_of_frequency(ds["frequency"].values)
    windows = subband_windows(ds)
    # one window per subband present, whatever its channel count, labelled by
    # its number and covering every channel once
    assert [label for label, _ in windows] == sorted(set(sb), key=list(sb).index)
    covered = np.concatenate([np.arange(ds.sizes["frequency"])[s] for _, s in windows])
    assert_array_equal(covered, np.arange(ds.sizes["frequency"]))
    for label, s in windows:
        assert np.all(sb[s] == label)
    # a subband missing from the group: its neighbours keep their numbers
    keep = sb != sb[len(sb) // 2]
    gap = subband_windows(ds.isel(frequency=np.flatnonzero(keep)))
    assert sb[len(sb) // 2] not in [label for label, _ in gap]
    assert len(gap) == len(windows) - 1
