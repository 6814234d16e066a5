"""CLEAN's pixel components against one Gaussian per point source, on one source.

Usage::

    python benchmarks/check_point_restoring.py [--seeds 10] [--offsets 0,0 0.3,0.4]

Simulates (``dsa110.testing.make_visibility_dataset``) a 1 Jy point source 1.1° from
the phase centre of a 24-integration, 6-subband DSA-110 observation, placed on a
pixel centre or a fraction of a pixel off one, and images it as the pipeline does
(2048² × 6″, Briggs 0, drift beam 4 × 2, baseline-dependent averaging 1 %, a 60″
CLEAN mask, three major cycles) with ``restore_points`` off and on. For each it
prints, against the source's true apparent flux (the beam of every integration
and channel under the imaging weights, :func:`dsa110.imaging.subtract.apparent_flux`):

* noise-free: the sum of CLEAN's components near the source, the flux
  :func:`dsa110.imaging.points.fit_point_clusters` fits through the PSF, and the
  largest difference between the restored image (less the residual) and one
  restoring-beam Gaussian of that flux at the fitted position (the ring's ripples);
* with noise (``--seeds`` draws at SNR ~250): forced photometry of the apparent
  image divided by the primary beam, as the pipeline measures it (mean, its error,
  rms), and the same less the photometry of the same noise without the source
  (its dirty image): what the imaging adds to or takes from the source, without
  the noise's own scatter.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

NPIX, CELL = 2048, 6.0


def _setup():
    from dsa110.imaging.imager import ImageGeometry
    from dsa110.imaging.modes import image_tile
    from dsa110.telescope import ACTIVE_ANTENNAS
    from dsa110.testing import PointSource, make_visibility_dataset

    kw = dict(
        antennas=[a - 1 for a in ACTIVE_ANTENNAS],
        n_time=24,
        n_chan_per_subband=2,
        subbands=range(0, 16, 3),
    )
    geometry = ImageGeometry(npix=NPIX, cell_arcsec=CELL)
    empty = make_visibility_dataset(sources=[PointSource(0.3, 0.5, 0.0)], **kw)
    centre = image_tile(empty, geometry=geometry, niter=0, max_major=1).centre
    return kw, geometry, centre


def _source_at(centre, ix, iy):
    """ICRS (ra, dec) of the (l, m) pixel offset ``(ix, iy)`` (SIN inverse)."""
    ra0, dec0 = centre
    cell = np.radians(CELL / 3600)
    dl, dm = -ix * cell, iy * cell
    dn = np.sqrt(1 - dl * dl - dm * dm)
    dec = np.arcsin(dm * np.cos(dec0) + dn * np.sin(dec0))
    ra = ra0 + np.arctan2(dl, dn * np.cos(dec0) - dm * np.sin(dec0))
    return float(ra), float(dec)


def _image(ds, geometry, src, restore_points):
    from dsa110.imaging.modes import image_tile

    return image_tile(
        ds,
        geometry=geometry,
        niter=20000,
        mgain=0.95,
        max_major=3,
        mask_sources=(np.array([src.ra]), np.array([src.dec])),
        mask_radius_arcsec=60.0,
        drift_beam=(4, 2),
        bda_loss=0.01,
        restore_points=restore_points,
    )


def _true_apparent(ds, geometry, src):
    from dsa110.imaging.imager import Imager
    from dsa110.imaging.subtract import apparent_flux
    from dsa110.phasing import rephase

    dsr = rephase(ds, "median_meridian")
    im = Imager.from_dataset(
        dsr, geometry=geometry, weighting="briggs", robust=0.0, bda_loss=0.01
    )
    tw, fw = im.time_weights(), im.channel_weights()
    return float(apparent_flux(dsr, [src], time_weights=tw, freq_weights=fw)[0])


def _forced(products, src):
    from dsa110.imaging.fits import write_products
    from dsa110.photometry import forced_photometry
    from dsa110.photometry.image import read_image, read_primary_beam

    with tempfile.TemporaryDirectory() as tmp:
        files = write_products(products, Path(tmp) / "p", png=False)
        image = read_image(files["image"])
        pb = read_primary_beam(files["pb"], image.data.shape)
        phot = forced_photometry(
            image,
            np.array([np.degrees(src.ra)]),
            np.array([np.degrees(src.dec)]),
            primary_beam=pb,
            pb_limit=0.2,
        )
    return float(phot["flux"][0])


def _noisy(sources, seed, kw):
    """A noise draw (SNR ~250 for 1 Jy); the same noise for the same ``seed``."""
    from dsa110.testing import make_visibility_dataset

    rng = np.random.default_rng(100 + seed)
    return make_visibility_dataset(sources=sources, noise_sigma=3.0, rng=rng, **kw)


def _stats(v):
    """Mean, its standard error and the rms of ``v`` (NaN errors for one value)."""
    if v.size < 2:
        return float(v.mean()), np.nan, np.nan
    rms = float(v.std(ddof=1))
    return float(v.mean()), rms / np.sqrt(v.size), rms


def main():
    from dsa110.imaging.beam import gaussian_image
    from dsa110.imaging.modes import image_tile, radec_to_pixel
    from dsa110.imaging.points import fit_point_clusters
    from dsa110.testing import PointSource, make_visibility_dataset

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10, help="noise draws")
    parser.add_argument(
        "--offsets",
        nargs="+",
        default=["0,0", "0.3,0.4", "0.5,0.5"],
        help="sub-pixel offsets dx,dy of the noise-free runs",
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    kw, geometry, centre = _setup()
    print("noise-free, 1 Jy at 1.1 deg (apparent ~0.62 Jy); fluxes / true apparent")
    for text in args.offsets:
        dx, dy = (float(v) for v in text.split(","))
        ra, dec = _source_at(centre, 600 + dx, 300 + dy)
        src = PointSource(ra, dec, 1.0)
        ds = make_visibility_dataset(sources=[src], **kw)
        true = _true_apparent(ds, geometry, src)
        p = _image(ds, geometry, src, restore_points=False)
        x, y = (float(v[0]) for v in radec_to_pixel([ra], [dec], p.centre, CELL, NPIX))
        found = fit_point_clusters(p.model, p.psf, 1e-4, radius_pixels=11.5)
        q = min(found, key=lambda c: np.hypot(c.x - x, c.y - y))
        # the ideal: one Gaussian of the fitted flux at the fitted position (the
        # ripples are what the components add to it)
        ideal = q.flux * gaussian_image(p.model.shape, p.beam, CELL, centre=(q.x, q.y))
        ripple = np.abs(p.restored - p.residual - ideal).max() / q.flux
        print(
            f"  offset ({dx}, {dy}) px: CLEAN's sum {q.clean_flux / true:.4f}, "
            f"fitted {q.flux / true:.4f} at {q.x - x:+.3f}, {q.y - y:+.3f} px; "
            f"pixel components' ripples {ripple * 100:.2f} % of the flux"
        )
    if args.seeds < 1:
        return
    print(f"{args.seeds} noise draws at offset (0.3, 0.4): forced photometry / 1 Jy")
    ra, dec = _source_at(centre, 600.3, 300.4)
    src = PointSource(ra, dec, 1.0)
    results = {False: [], True: []}
    noise_only = []
    for seed in range(args.seeds):
        ds = _noisy([src], seed, kw)
        for restore_points in (False, True):
            p = _image(ds, geometry, src, restore_points)
            results[restore_points].append(_forced(p, src))
        empty = _noisy([PointSource(ra, dec, 0.0)], seed, kw)  # the same noise
        dirty = image_tile(
            empty,
            geometry=geometry,
            niter=0,
            max_major=1,
            drift_beam=(4, 2),
            bda_loss=0.01,
        )
        noise_only.append(_forced(dirty, src))
    for restore_points, values in results.items():
        v = np.asarray(values)
        (m, e, r), (dm, de, dr) = _stats(v), _stats(v - np.asarray(noise_only))
        print(
            f"  restore_points={restore_points}: mean {m:.4f} ± {e:.4f}, rms {r:.4f}; "
            f"less the noise alone: {dm:+.5f} ± {de:.5f}, rms {dr:.5f}"
        )
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
