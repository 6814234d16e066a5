"""Benchmark: our whole imaging of a tile (dsa110 image) against WSClean, side by side.

Simulates a DSA-110 tile (all 96 antennas, point sources, noise) with
``dsa110.testing.make_visibility_dataset``, rephases it to the median meridian,
writes it as a Measurement Set (``dsa110.io.ms.write_ms``) for WSClean, and times

* ours: ``image_tile`` (weights, w-gridding, Cotton–Schwab CLEAN with auto-mask and
  auto-threshold, beam fit, restore, PB correction) + FITS/PNG products, from the
  in-memory dataset;
* WSClean 3.x on the MS with the same size, cell, weighting, niter, thresholds,
  mgain and threads (it writes its FITS products too).

Prints both wall times, the speed ratio (WSClean / ours; goal ≥ 2) and the peak
fluxes of the simulated sources in both restored images.

Usage::

    python benchmarks/bench_imaging.py --ntime 24 --nchan-per-subband 48 --npix 4096  # full tile
    python benchmarks/bench_imaging.py --ntime 2 --nchan-per-subband 2 --npix 2048    # shared box
    # the pipeline's small simulated tile (12 antennas, 64 channels, 6 integrations,
    # one chunk per subband as the reader gives it)
    python benchmarks/bench_imaging.py --nant 12 --ntime 6 --nchan-per-subband 4 \
        --npix 1024 --cell 6 --niter 300 --max-major 2 --freq-chunks 16 --nsources 3

Besides wall time, the CPU time of this process (``time.process_time()``) and the
load average are printed: the shared development box is noisy.
"""

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ntime", type=int, default=24)
    parser.add_argument("--nchan-per-subband", type=int, default=48)
    parser.add_argument("--npix", type=int, default=4096)
    parser.add_argument("--cell", type=float, default=3.0)
    parser.add_argument("--niter", type=int, default=10000)
    parser.add_argument("--nthreads", type=int, default=2)
    parser.add_argument("--nsources", type=int, default=10)
    parser.add_argument("--nant", type=int, default=None, help="antennas (default all)")
    parser.add_argument("--max-major", type=int, default=10)
    parser.add_argument(
        "--bda-loss",
        type=float,
        default=0.01,
        help="ours: baseline-dependent averaging bound (the pipeline's 0.01; 0: none). "
        "WSClean images every channel",
    )
    parser.add_argument(
        "--freq-chunks", type=int, default=1, help="dask chunks along frequency"
    )
    args = parser.parse_args()

    from dsa110.imaging.fits import write_products
    from dsa110.imaging.imager import ImageGeometry
    from dsa110.imaging.modes import image_tile, radec_to_pixel
    from dsa110.io.ms import write_ms
    from dsa110.phasing import median_meridian, rephase
    from dsa110.telescope import ACTIVE_ANTENNAS
    from dsa110.testing import PointSource, make_visibility_dataset

    if shutil.which("wsclean") is None:
        raise SystemExit("wsclean is not installed (apt-get install wsclean)")
    import os

    from dsa110.imaging.imager import Imager

    ants = np.asarray(ACTIVE_ANTENNAS) - 1
    if args.nant:
        ants = ants[np.linspace(0, ants.size - 1, args.nant).astype(int)]
    kw = dict(
        n_time=args.ntime, n_chan_per_subband=args.nchan_per_subband, antennas=ants
    )
    ra0, dec0 = median_meridian(make_visibility_dataset(**dict(kw, n_time=1)))
    rng = np.random.default_rng(5)
    half = 0.35 * args.npix * args.cell / 3600
    sources = [
        PointSource(ra0 + np.radians(dx) / np.cos(dec0), dec0 + np.radians(dy), f)
        for dx, dy, f in zip(
            rng.uniform(-half, half, args.nsources),
            rng.uniform(-half, half, args.nsources),
            rng.uniform(0.05, 1.0, args.nsources),
        )
    ]
    t0 = time.perf_counter()
    ds = make_visibility_dataset(sources=sources, noise_sigma=0.5, rng=rng, **kw)
    ds = rephase(ds, "median_meridian")
    flag = np.asarray(ds["FLAG"].values).copy()
    flag[:, np.asarray(ds["antenna1"].values) == np.asarray(ds["antenna2"].values)] = (
        True
    )
    ds = ds.assign(FLAG=(ds["FLAG"].dims, flag))
    if args.freq_chunks > 1:
        ds = ds.chunk({"frequency": -(-ds.sizes["frequency"] // args.freq_chunks)})
    print(
        f"simulated {ds.sizes['time']} × {ds.sizes['baseline_id']} × "
        f"{ds.sizes['frequency']} × 2 visibilities in {time.perf_counter() - t0:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ms = Path(tmp) / "tile.ms"
        write_ms(ds, ms)
        geometry = ImageGeometry(args.npix, args.cell, 1e-4, True)
        # warm the JIT caches on a tiny image (not timed)
        image_tile(
            ds.isel(time=slice(0, 1), frequency=slice(0, 2)),
            center=None,
            geometry=ImageGeometry(64, 4.0, 1e-4, True),
            niter=10,
        )
        imager = Imager.from_dataset(
            ds, geometry=geometry, nthreads=args.nthreads, bda_loss=args.bda_loss
        )
        imager.dirty()  # warm-up at this size (corrections and phasors are cached)
        t0, c0 = time.perf_counter(), time.process_time()
        imager.dirty()
        print(
            f"one dirty image: {time.perf_counter() - t0:.2f} s wall, "
            f"{time.process_time() - c0:.2f} s CPU ({imager.plan.nplanes} w planes, "
            f"{len(imager.parts)} part(s) of "
            f"{sum(p.vis.size for p in imager.parts) / 1e6:.1f} M visibilities, "
            f"{max(p.vis.npartitions for p in imager.parts)} chunk(s))"
        )
        t0, c0 = time.perf_counter(), time.process_time()
        ours = image_tile(
            ds,
            center=None,
            geometry=geometry,
            weighting="briggs",
            robust=0.0,
            niter=args.niter,
            auto_threshold=1.5,
            auto_mask=4.0,
            mgain=0.8,
            max_major=args.max_major,
            nthreads=args.nthreads,
            bda_loss=args.bda_loss,
        )
        t_tile, c_tile = time.perf_counter() - t0, time.process_time() - c0
        write_products(ours, Path(tmp) / "ours")
        t_ours = time.perf_counter() - t0
        cmd = [
            "wsclean",
            "-quiet",
            "-size",
            str(args.npix),
            str(args.npix),
            "-scale",
            f"{args.cell}asec",
            "-weight",
            "briggs",
            "0",
            "-niter",
            str(args.niter),
            "-auto-threshold",
            "1.5",
            "-auto-mask",
            "4",
            "-mgain",
            "0.8",
            "-nmiter",
            str(args.max_major),
            "-pol",
            "I",
            "-j",
            str(args.nthreads),
            "-name",
            str(Path(tmp) / "ws"),
            str(ms),
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        t_ws = time.perf_counter() - t0
        from astropy.io import fits

        ws = np.asarray(fits.getdata(Path(tmp) / "ws-image.fits"), np.float64)[0, 0]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"image_tile {t_tile:8.2f} s wall, {c_tile:.2f} s CPU "
        f"({ours.params['niter_done']} components, "
        f"{ours.params['major_cycles']} major cycles)"
    )
    print(f"ours    {t_ours:8.2f} s  (image_tile + FITS/PNG products)")
    print(f"WSClean {t_ws:8.1f} s")
    print(f"speed ratio WSClean/ours: {t_ws / t_ours:.2f}×")
    for s in sorted(sources, key=lambda s: -s.flux)[:5]:
        ix, iy = radec_to_pixel(s.ra, s.dec, ours.centre, args.cell, args.npix)
        i, j = int(round(float(ix))), int(round(float(iy)))
        a = ours.restored[i - 1 : i + 2, j - 1 : j + 2].max()
        # WSClean's FITS plane is (y, x) with RA to the left and CRPIX = N/2 + 1
        x_ws = args.npix - i
        b = ws[j - 1 : j + 2, x_ws - 1 : x_ws + 2].max()
        print(
            f"  source {s.flux:.3f} Jy (apparent): ours {a:.4f}  WSClean {b:.4f}  "
            f"ratio {a / b:.4f}"
        )


if __name__ == "__main__":
    main()
