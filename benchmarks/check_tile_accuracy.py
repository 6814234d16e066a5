"""Issue 5's imaging acceptance on a full simulated tile's pipeline products.

Usage::

    python benchmarks/check_tile_accuracy.py --products DIR --data DIR [--robust 0]
        [--second PRODUCTS2 DATA2] [--noise-free PRODUCTS0 DATA0]

``--products`` is one tile's product folder written by
``dsa110.pipeline.process_tile`` (``*-image-pb.fits``, ``*-residual.fits``,
``*-sources.csv``); ``--data`` the folder of the simulated tile (its UVH5 files and
``*_truth.npz``). ``bench_pipeline.py --check`` runs this on its own products.

What is compared with the simulation's truth (the acceptance of issue 5: every
source with SNR > 50 found at its true position within 0.1 beam and with its flux
within 2 % after CLEAN and PB correction; the image noise within 20 % of the thermal
expectation):

* flux: forced photometry (:func:`dsa110.photometry.forced_photometry`) at each
  true position, PB-corrected at the source (the fit on the apparent image, divided
  by the primary beam there, as the pipeline measures), against
  ``S·(ν_image/ν_ref)^α``, for the sources where the beam is above the PB limit;
  the count beyond 2 % beside the count the noise alone puts there (each ratio's
  1σ is ratio/SNR: 2 % at SNR 50) and the chance that the noise leaves none;
* position: the pipeline's blind catalogue (``*-sources.csv``) matched to the truth
  within one beam, the offset in units of the restoring beam's geometric mean FWHM;
* noise: the robust σ (MAD) of the residual image inside the primary-beam limit,
  against ``σ_vis/√2 · √(Σw²)/Σw`` — the thermal noise of the Stokes I image for the
  simulation's per-visibility σ and the imaging weights (Briggs, from
  :class:`dsa110.imaging.imager.Imager` on the same tile). The simulator adds the
  noise before the gains, so after calibration σ_vis is ``truth.sigma_jy``.

``--second`` (the same sky, another noise seed) splits the flux errors into noise
and a systematic part; ``--noise-free`` (the same sky without noise,
``bench_pipeline.py --no-noise``) gives the systematic part directly, for the
sources with SNR > 50 in the noisy tile.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _one(folder: Path, pattern: str) -> Path:
    """The file matching ``pattern`` in ``folder``; a clear exit when there is none."""
    found = sorted(folder.glob(pattern))
    if not found:
        raise SystemExit(f"{folder}: no file matching {pattern}")
    return found[0]


def thermal_sigma(data: Path, *, npix: int, cell: float, robust: float, sigma_vis):
    """Thermal σ (Jy/beam) of the tile's Stokes I image with the pipeline's weights."""
    from dsa110.imaging.imager import ImageGeometry, Imager
    from dsa110.io import open_observation
    from dsa110.phasing import rephase

    ds = open_observation(sorted(str(p) for p in data.glob("*_sb??.hdf5")))
    ds = rephase(ds, "median_meridian")
    imager = Imager.from_dataset(
        ds,
        geometry=ImageGeometry(npix=npix, cell_arcsec=cell, epsilon=1e-4),
        robust=robust,
    )
    w = np.asarray(imager.weights.compute(), dtype=np.float64)
    return sigma_vis / np.sqrt(2) * np.sqrt(np.sum(w * w)) / np.sum(w)


def flux_ratios(products: Path, data: Path):
    """Forced photometry at every true position: measured / expected flux and SNR.

    Returns
    -------
    ratio, snr, expected : numpy.ndarray, shape (source,)
        In the truth's source order (ratio NaN off the image or below the PB
        limit); ``expected`` is the true flux at the image's frequency, Jy.
    """
    from dsa110.imaging.pbcor import DEFAULT_PB_LIMIT
    from dsa110.photometry import forced_photometry
    from dsa110.photometry.image import read_image, read_primary_beam
    from dsa110.simulate import load_truth

    truth = load_truth(_one(data, "*_truth.npz"))
    apparent_path = _one(products, "*-image.fits")
    apparent = read_image(apparent_path)
    expected = (
        truth.source_flux
        * (apparent.frequency / truth.config.reference_frequency_hz)
        ** truth.source_spectral_index
    )
    # PREFIX-pb.fits beside PREFIX-image.fits (a glob would also match -image-pb)
    pb_path = apparent_path.with_name(
        apparent_path.name.replace("-image.fits", "-pb.fits")
    )
    beam = read_primary_beam(pb_path, apparent.data.shape)
    phot = forced_photometry(
        apparent,
        np.degrees(truth.source_ra),
        np.degrees(truth.source_dec),
        primary_beam=beam,
        pb_limit=DEFAULT_PB_LIMIT,
    )
    flux = np.where(phot["inside"].to_numpy(), phot["flux"].to_numpy(), np.nan)
    return flux / expected, phot["snr"].to_numpy(), expected


def check(products: Path, data: Path, *, snr_min: float = 50.0):
    """Compare one tile's products with its truth; print and return the figures."""
    import pandas as pd
    from astropy.coordinates import SkyCoord

    from dsa110.photometry.image import read_image
    from dsa110.simulate import load_truth

    truth = load_truth(_one(data, "*_truth.npz"))
    pbcor = read_image(_one(products, "*-image-pb.fits"))
    residual = read_image(_one(products, "*-residual.fits"))
    ra = np.degrees(truth.source_ra)
    dec = np.degrees(truth.source_dec)
    ratio, snr, expected = flux_ratios(products, data)
    inside = np.isfinite(ratio) & (snr > snr_min)

    beam_arcsec = np.sqrt(pbcor.beam.bmaj * pbcor.beam.bmin) * 3600  # FWHM, degrees
    truth_sky = SkyCoord(ra[inside], dec[inside], unit="deg")
    offset = np.full(inside.sum(), np.nan)
    found_csv = list(products.glob("*-sources.csv"))
    if found_csv:
        found = pd.read_csv(found_csv[0])
        found_sky = SkyCoord(
            found["ra"].to_numpy(), found["dec"].to_numpy(), unit="deg"
        )
        idx, sep, _ = truth_sky.match_to_catalog_sky(found_sky)
        offset = np.where(sep.arcsec < beam_arcsec, sep.arcsec / beam_arcsec, np.nan)

    res = residual.data
    valid = np.isfinite(pbcor.data) & np.isfinite(res)
    med = np.median(res[valid])
    sigma_img = 1.482602218505602 * np.median(np.abs(res[valid] - med))

    rows = pd.DataFrame(
        {
            "ra": ra[inside],
            "dec": dec[inside],
            "expected_jy": expected[inside],
            "ratio": ratio[inside],
            "snr": snr[inside],
            "offset_beam": offset,
        }
    ).sort_values("expected_jy", ascending=False)
    n = len(rows)
    n_flux = int(np.sum(np.abs(rows["ratio"] - 1) <= 0.02))
    # At SNR 50 the measurement's own 1σ is 2 % of the flux: also count the sources
    # whose error exceeds both 2 % and three times that noise (|ratio − 1|·SNR > 3).
    n_off = int(
        np.sum(
            (np.abs(rows["ratio"] - 1) > 0.02)
            & (np.abs(rows["ratio"] - 1) * rows["snr"] > 3)
        )
    )
    # How many the noise alone puts beyond 2 %: each ratio's 1σ is ratio/SNR, and
    # the count beyond is a sum of Bernoulli trials with p = P(|N(0, σ)| > 2 %).
    from scipy.special import erfc

    p_beyond = erfc(0.02 / (rows["ratio"] / rows["snr"]).to_numpy() / np.sqrt(2))
    n_noise = float(np.sum(p_beyond))
    n_noise_sd = float(np.sqrt(np.sum(p_beyond * (1 - p_beyond))))
    # the chance that the noise leaves every one within 2 %
    p_all = float(np.prod(1 - p_beyond))
    n_pos = int(np.sum(rows["offset_beam"] <= 0.1))
    n_found = int(np.sum(np.isfinite(rows["offset_beam"])))
    print(rows.head(12).to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(
        f"SNR > {snr_min:g} inside the PB limit: {n} sources; flux within 2 %: {n_flux}; "
        f"beyond 2 %: {n - n_flux} (the noise alone: "
        f"{n_noise:.1f} ± {n_noise_sd:.1f}, "
        f"none with probability {100 * p_all:.1f} %); "
        f"beyond 2 % and 3σ: {n_off}; median ratio {np.median(rows['ratio']):.4f}; "
        f"found within a beam: {n_found}, "
        f"within 0.1 beam: {n_pos} (beam {beam_arcsec:.1f}″); residual σ "
        f"{sigma_img * 1e3:.3f} mJy/beam"
    )
    return rows, sigma_img


def systematic(first, second, *, snr_min: float = 50.0):
    """Split the flux errors into noise and a systematic part, from two noise draws.

    ``first`` and ``second`` are ``(products, data)`` of two simulations of the same
    sky with different noise seeds (``bench_pipeline.py --seed``). The difference of
    a source's two ratios is noise only: its spread in units of the photometry's
    errors says whether those errors are honest (1.0). The mean of the two ratios
    holds the systematic part once; its spread about the median, less the noise's
    share, is the systematic rms per source.

    Returns
    -------
    dict
        ``pull`` (std of the differences in σ), ``systematic_rms``, ``n``.
    """
    r1, s1, _ = flux_ratios(*first)
    r2, s2, _ = flux_ratios(*second)
    use = np.isfinite(r1) & np.isfinite(r2) & (s1 > snr_min)
    e1, e2 = r1[use] / s1[use], r2[use] / s2[use]  # 1σ of each ratio
    pull = float(np.std((r1[use] - r2[use]) / np.hypot(e1, e2)))
    mean = (r1[use] + r2[use]) / 2
    noise_var = np.mean((e1**2 + e2**2) / 4)
    excess = np.mean((mean - np.median(mean)) ** 2) - noise_var
    sys_rms = float(np.sqrt(max(excess, 0.0)))
    print(
        f"two noise draws, {use.sum()} sources with SNR > {snr_min:g}: the ratios' "
        f"difference spreads {pull:.2f}× the photometry's errors (1: honest); "
        f"systematic error {100 * sys_rms:.2f} % rms per source, noise "
        f"{100 * np.sqrt(noise_var):.2f} % rms (of the mean of the two)"
    )
    return {"pull": pull, "systematic_rms": sys_rms, "n": int(use.sum())}


def noise_free(noisy, clean, *, snr_min: float = 50.0):
    """The flux errors without noise, for the sources with SNR > 50 with it.

    ``noisy`` and ``clean`` are ``(products, data)`` of the same sky simulated with
    and without noise (``bench_pipeline.py --no-noise``): the second's errors are
    the imaging's systematic part alone, counted for the sources the acceptance
    counts in the first (a noise-free image has no SNR of its own).

    Returns
    -------
    dict
        ``n``, ``n_within_2pc``, ``max_error``, ``rms_error``, ``median``.
    """
    r1, s1, _ = flux_ratios(*noisy)
    r0, _, _ = flux_ratios(*clean)
    use = np.isfinite(r1) & np.isfinite(r0) & (s1 > snr_min)
    err = r0[use] - 1
    out = {
        "n": int(use.sum()),
        "n_within_2pc": int(np.sum(np.abs(err) <= 0.02)),
        "max_error": float(np.max(np.abs(err))) if use.any() else np.nan,
        "rms_error": float(np.sqrt(np.mean(err**2))) if use.any() else np.nan,
        "median": float(np.median(r0[use])) if use.any() else np.nan,
    }
    print(
        f"without noise, the {out['n']} sources with SNR > {snr_min:g} with it: "
        f"{out['n_within_2pc']} within 2 %, largest error "
        f"{100 * out['max_error']:.2f} %, rms {100 * out['rms_error']:.2f} %, "
        f"median ratio {out['median']:.4f}"
    )
    return out


def compare_noise(
    data: Path, sigma_img: float, *, npix: int, cell: float, robust: float
):
    """Print the residual σ against the tile's thermal σ; return their ratio."""
    from dsa110.simulate import load_truth

    truth = load_truth(_one(data, "*_truth.npz"))
    if not truth.sigma_jy > 0:
        print("the simulation has no noise: no thermal σ to compare with")
        return np.nan
    expected = thermal_sigma(
        data, npix=npix, cell=cell, robust=robust, sigma_vis=truth.sigma_jy
    )
    print(
        f"thermal σ {expected * 1e3:.3f} mJy/beam: image/thermal "
        f"{sigma_img / expected:.2f} (acceptance: within 20 %)"
    )
    return sigma_img / expected


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--robust", type=float, default=0.0)
    parser.add_argument("--npix", type=int, default=2400)
    parser.add_argument("--cell", type=float, default=6.0)
    parser.add_argument("--no-thermal", action="store_true")
    parser.add_argument(
        "--second",
        nargs=2,
        type=Path,
        metavar=("PRODUCTS", "DATA"),
        help="the same sky with another noise seed: split the flux errors into "
        "noise and systematic parts",
    )
    parser.add_argument(
        "--noise-free",
        nargs=2,
        type=Path,
        metavar=("PRODUCTS", "DATA"),
        help="the same sky without noise: its flux errors for the sources with "
        "SNR > 50 here (the systematic part alone)",
    )
    args = parser.parse_args()
    _, sigma_img = check(args.products, args.data)
    if args.second:
        systematic((args.products, args.data), tuple(args.second))
    if args.noise_free:
        noise_free((args.products, args.data), tuple(args.noise_free))
    if not args.no_thermal:
        compare_noise(
            args.data, sigma_img, npix=args.npix, cell=args.cell, robust=args.robust
        )


if __name__ == "__main__":
    main()
