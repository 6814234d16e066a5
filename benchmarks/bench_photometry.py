"""Benchmark: background/rms, forced photometry and source finding, against AegeanTools.

Run:  python benchmarks/bench_photometry.py [--size 4800] [--npos 10000]

1. Forced photometry of ``--npos`` positions on a ``--size``² image (goal: 10,000
   positions on 4800² in < 2 s), with the background grid given and including
   its estimation.
2. Background/rms maps: dsa110 (Numba, coarse grid + bilinear) vs AegeanTools
   BANE on the same ``--bane-size``² image, side by side, with the ratio.
3. Blind source finding: dsa110 ``find_sources`` vs Aegean on the same
   ``--find-size``² image: time, completeness above 7σ, false detections, the
   scatter of positions and fluxes.
4. Forced photometry vs Aegean's priorised fitting at the same positions.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def _field(size, n, rng, rms=2e-3, fmin=3, fmax=300):
    from dsa110.photometry import Beam, simulate_image
    from dsa110.photometry.simulate import make_wcs

    beam = Beam(18 / 3600, 15 / 3600, 30.0)
    wcs = make_wcs((size, size), ra=150.0, dec=40.0, cell_arcsec=3.0)
    x = rng.uniform(15, size - 15, n)
    y = rng.uniform(15, size - 15, n)
    ra, dec = wcs.pixel_to_world_values(x, y)
    flux = rms * 10 ** rng.uniform(np.log10(fmin), np.log10(fmax), n)
    img = simulate_image(
        (size, size),
        beam=beam,
        ra=ra,
        dec=dec,
        flux=flux,
        rms=rms,
        background=5e-4,
        cell_arcsec=3.0,
        centre=(150.0, 40.0),
        rng=rng,
    )
    return img, np.asarray(ra), np.asarray(dec), flux


_CPU = {}


def _best(fn, repeat=3):
    """Return the best wall time of ``repeat`` runs (its CPU time goes to _CPU)."""
    times, cpus = [], []
    out = None
    for _ in range(repeat):
        c = time.process_time()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    _CPU["last"] = cpus[int(np.argmin(times))]
    return min(times), out


def bench_forced(size, npos, rng):
    from dsa110.photometry import estimate_background, forced_photometry

    print(f"\n## forced photometry: {npos} positions on a {size}x{size} image")
    img, ra, dec, flux = _field(size, npos, rng, fmin=0.5, fmax=50)
    fwhm = img.beam.fwhm_pixels(img.wcs)
    estimate_background(img.data[:512, :512], beam_fwhm_pix=fwhm)  # compile
    forced_photometry(img, ra[:10], dec[:10])  # compile
    t_bkg, grid = _best(lambda: estimate_background(img.data, beam_fwhm_pix=fwhm))
    c_bkg = _CPU["last"]
    t_fp, res = _best(lambda: forced_photometry(img, ra, dec, background=grid))
    c_fp = _CPU["last"]
    z = (res["flux"].to_numpy() - flux) / res["flux_err"].to_numpy()
    print(
        f"background grid:        {t_bkg:7.3f} s wall  {c_bkg:7.3f} s CPU (all threads)"
    )
    print(
        f"forced (grid given):    {t_fp:7.3f} s wall  {c_fp:7.3f} s CPU   goal < 2 s"
        f" wall: "
        f"{'PASS' if t_fp < 2 else 'FAIL'}"
    )
    print(
        f"forced incl. background:{t_bkg + t_fp:7.3f} s wall  {c_bkg + c_fp:7.3f} s CPU"
    )
    print(
        f"pulls: |z|<1 {np.mean(abs(z) < 1):.3f}  |z|<3 {np.mean(abs(z) < 3):.4f} "
        f" std {np.std(z):.3f}"
        f"  joint groups: {(res['n_group'] > 1).sum()} sources"
    )
    return img


def bench_bane(size, rng, tmp):
    from dsa110.photometry import estimate_background, write_image

    print(f"\n## background/rms maps on {size}x{size}: dsa110 vs AegeanTools BANE")
    img, *_ = _field(size, size * size // 20000, rng)
    fwhm = img.beam.fwhm_pixels(img.wcs)
    t_ours, grid = _best(
        lambda: estimate_background(img.data, beam_fwhm_pix=fwhm).maps(), 2
    )
    print(
        f"dsa110 (grid + full maps): {t_ours:7.3f} s   median rms"
        f" {np.median(grid[1]) * 1e3:.4f} mJy (truth 2)"
    )
    try:
        from AegeanTools import BANE
    except ImportError:
        print("AegeanTools not installed: `pip install AegeanTools` for the comparison")
        return
    path = os.path.join(tmp, "bane.fits")
    write_image(img, path, overwrite=True)
    t = time.perf_counter()
    BANE.filter_image(path, os.path.join(tmp, "bane"), cores=1)
    t_bane = time.perf_counter() - t
    from astropy.io import fits

    rms_bane = fits.getdata(os.path.join(tmp, "bane_rms.fits"))
    print(
        f"BANE (1 core):             {t_bane:7.3f} s   median rms"
        f" {np.nanmedian(rms_bane) * 1e3:.4f} mJy"
    )
    print(f"speed ratio BANE/dsa110:   {t_bane / t_ours:7.1f}x")


def _score(
    name, t, ra, dec, peak, err_peak, truth_ra, truth_dec, truth_flux, rms, beam_arcsec
):
    from dsa110.catalogs import crossmatch

    radius = beam_arcsec / 2
    idx, _ = crossmatch(truth_ra, truth_dec, ra, dec, radius_arcsec=radius)
    back, _ = crossmatch(ra, dec, truth_ra, truth_dec, radius_arcsec=radius)
    bright = truth_flux >= 7 * rms
    ok = (idx >= 0) & (truth_flux > 50 * rms)
    dpos = (
        np.hypot(
            (ra[idx[ok]] - truth_ra[ok]) * np.cos(np.radians(truth_dec[ok])),
            dec[idx[ok]] - truth_dec[ok],
        )
        * 3600
    )
    m = idx >= 0
    z = (peak[idx[m]] - truth_flux[m]) / err_peak[idx[m]]
    print(
        f"{name:8s} {t:7.2f} s  n={len(ra):5d} "
        f" complete(>7σ)={np.mean(idx[bright] >= 0):.3f}  "
        f"false={np.mean(back < 0):.4f}  "
        f'pos rms(SNR>50)={np.sqrt(np.mean(dpos**2)):.3f}"  '
        f"flux pull std={np.std(z):.2f}"
    )


def bench_find(size, rng, tmp):
    from dsa110.photometry import (
        estimate_background,
        find_sources,
        forced_photometry,
        write_image,
    )

    n = size * size // 4000
    print(
        f"\n## blind source finding on {size}x{size} ({n} sources, 3-300σ): dsa110"
        f" vs Aegean"
    )
    img, ra, dec, flux = _field(size, n, rng)
    find_sources(img)  # compile
    t_ours, res = _best(lambda: find_sources(img), 1)
    bmaj = img.beam.bmaj * 3600
    _score(
        "dsa110",
        t_ours,
        res["ra"].to_numpy(),
        res["dec"].to_numpy(),
        res["peak_flux"].to_numpy(),
        res["peak_flux_err"].to_numpy(),
        ra,
        dec,
        flux,
        2e-3,
        bmaj,
    )
    try:
        from AegeanTools.source_finder import SourceFinder
    except ImportError:
        print("AegeanTools not installed: `pip install AegeanTools` for the comparison")
        return
    import logging

    logging.getLogger("Aegean").setLevel(logging.ERROR)
    path = os.path.join(tmp, "find.fits")
    write_image(img, path, overwrite=True)
    sf = SourceFinder(log=logging.getLogger("Aegean"))
    t = time.perf_counter()
    found = sf.find_sources_in_image(
        path, innerclip=5, outerclip=3, cores=1, progress=False
    )
    t_aeg = time.perf_counter() - t
    a = np.array(
        [(s.ra, s.dec, s.peak_flux, s.err_peak_flux) for s in found], float
    ).reshape(-1, 4)
    a[:, 3] = np.where(a[:, 3] > 0, a[:, 3], np.nan)
    _score(
        "Aegean", t_aeg, a[:, 0], a[:, 1], a[:, 2], a[:, 3], ra, dec, flux, 2e-3, bmaj
    )
    print(
        f"speed ratio Aegean/dsa110: {t_aeg / t_ours:.1f}x (Aegean on 1 core, incl."
        f" its own BANE; dsa110 incl. its background)"
    )

    print(
        "\n## forced photometry at the true positions: dsa110 vs Aegean priorised fit"
    )
    grid = estimate_background(img.data, beam_fwhm_pix=img.beam.fwhm_pixels(img.wcs))
    t_fp, fp = _best(lambda: forced_photometry(img, ra, dec, background=grid))
    z = (fp["flux"].to_numpy() - flux) / fp["flux_err"].to_numpy()
    print(
        f"dsa110   {t_fp:7.3f} s  |z|<1 {np.mean(abs(z) < 1):.3f}  |z|<3"
        f" {np.mean(abs(z) < 3):.4f}"
    )
    from AegeanTools.catalogs import save_catalog
    from AegeanTools.models import ComponentSource

    prior = []
    for i in range(ra.size):
        c = ComponentSource()
        c.ra, c.dec, c.peak_flux = float(ra[i]), float(dec[i]), float(flux[i])
        c.a, c.b, c.pa = img.beam.bmaj * 3600, img.beam.bmin * 3600, img.beam.bpa
        c.psf_a, c.psf_b, c.psf_pa = c.a, c.b, c.pa
        c.island, c.source = i, 0
        prior.append(c)
    cat_path = os.path.join(
        tmp, "prior.vot"
    )  # FITS writing fails in Aegean 2.3.5 + astropy 8
    save_catalog(cat_path, prior, meta={})
    cat_path = os.path.join(tmp, "prior_comp.vot")
    t = time.perf_counter()
    try:
        pf = sf.priorized_fit_islands(
            path, catalogue=cat_path, cores=1, stage=1, progress=False, doregroup=True
        )
        t_pf = time.perf_counter() - t
        p = np.array(
            [(s.ra, s.dec, s.peak_flux, s.err_peak_flux) for s in pf], float
        ).reshape(-1, 4)
        _, j = _match(ra, dec, p[:, 0], p[:, 1])
        good = j >= 0
        zp = (p[j[good], 2] - flux[good]) / np.where(
            p[j[good], 3] > 0, p[j[good], 3], np.nan
        )
        print(
            f"Aegean   {t_pf:7.3f} s  |z|<1 {np.nanmean(abs(zp) < 1):.3f}  |z|<3"
            f" {np.nanmean(abs(zp) < 3):.4f}"
            f"  ({good.sum()} of {ra.size} measured)"
        )
        print(f"speed ratio Aegean/dsa110: {t_pf / t_fp:.0f}x")
    except Exception as exc:  # noqa: BLE001 - a benchmark reports the peer's failure
        print(f"Aegean priorised fit failed: {exc!r}")


def _match(ra, dec, ra2, dec2):
    from dsa110.catalogs import crossmatch

    i, s = crossmatch(ra, dec, ra2, dec2, radius_arcsec=1.0)
    return s, i


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, default=4800)
    p.add_argument("--npos", type=int, default=10000)
    p.add_argument("--bane-size", type=int, default=2400)
    p.add_argument("--find-size", type=int, default=1200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip", nargs="*", default=[], choices=["forced", "bane", "find"])
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        if "forced" not in args.skip:
            bench_forced(args.size, args.npos, rng)
        if "bane" not in args.skip:
            bench_bane(args.bane_size, rng, tmp)
        if "find" not in args.skip:
            bench_find(args.find_size, rng, tmp)


if __name__ == "__main__":
    main()
