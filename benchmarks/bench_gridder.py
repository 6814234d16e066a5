"""Benchmark: our w-gridder (dsa110.imaging.kernels) against ducc0.wgridder, side by side.

A DSA-110-like random uv coverage (baselines up to 2.6 km, |w| up to 150 m) with the
full-tile shape 4656 baselines × NTIME integrations × 768 channels, imaged at
4096² × 3″ with the same epsilon and thread count by both. Prints visibilities per
second for vis2dirty and dirty2vis, the speed ratio (ours / ducc0) and the relative
L2 difference between the two results.

Usage::

    python benchmarks/bench_gridder.py --ntime 24 --nthreads 16   # a full tile
    python benchmarks/bench_gridder.py --ntime 2 --nthreads 2     # shared 2-core box
"""

import argparse
import os
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ntime", type=int, default=24)
    parser.add_argument("--nchan", type=int, default=768)
    parser.add_argument("--nbl", type=int, default=4656)
    parser.add_argument("--npix", type=int, default=4096)
    parser.add_argument("--cell", type=float, default=3.0, help="arcsec")
    parser.add_argument("--epsilon", type=float, default=1e-4)
    parser.add_argument("--nthreads", type=int, default=2)
    parser.add_argument(
        "--double", action="store_true", help="complex128 instead of 64"
    )
    args = parser.parse_args()

    import ducc0

    from dsa110.imaging.kernels import dirty2vis, vis2dirty

    rng = np.random.default_rng(1)
    nrow = args.nbl * args.ntime
    r = 2600 * np.sqrt(rng.uniform(0, 1, nrow))
    th = rng.uniform(0, 2 * np.pi, nrow)
    uvw = np.stack([r * np.cos(th), r * np.sin(th), rng.uniform(-150, 150, nrow)], 1)
    freq = np.linspace(1311.4e6, 1498.6e6, args.nchan)
    ctype = np.complex128 if args.double else np.complex64
    vis = (
        rng.standard_normal((nrow, args.nchan))
        + 1j * rng.standard_normal((nrow, args.nchan))
    ).astype(ctype)
    pix = np.radians(args.cell / 3600)
    kw = dict(
        npix_x=args.npix,
        npix_y=args.npix,
        pixsize_x=pix,
        pixsize_y=pix,
        epsilon=args.epsilon,
        nthreads=args.nthreads,
    )
    # warm up the JIT on a few rows (compilation is cached; not timed)
    vis2dirty(uvw[:50], freq, vis[:50], **kw)
    dirty2vis(
        uvw[:50],
        freq,
        np.zeros((args.npix, args.npix), vis.real.dtype),
        **{k: v for k, v in kw.items() if not k.startswith("npix")},
    )
    nvis = vis.size
    print(
        f"{nrow} rows × {args.nchan} channels = {nvis / 1e6:.1f} M visibilities, "
        f"{args.npix}² × {args.cell}″, epsilon {args.epsilon}, {args.nthreads} threads, "
        f"{np.dtype(ctype).name}"
    )

    t0, c0 = time.perf_counter(), time.process_time()
    ours = vis2dirty(uvw, freq, vis, do_wgridding=True, **kw)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    ref = ducc0.wgridder.vis2dirty(
        uvw=uvw,
        freq=freq,
        vis=vis,
        do_wgridding=True,
        divide_by_n=False,
        flip_u=True,
        flip_v=True,
        **kw,
    )
    t_ducc, c_ducc = time.perf_counter() - t0, time.process_time() - c0
    diff = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
    print(
        f"vis2dirty  ours {t_ours:7.2f} s ({nvis / t_ours / 1e6:6.2f} Mvis/s)  "
        f"ducc0 {t_ducc:7.2f} s ({nvis / t_ducc / 1e6:6.2f} Mvis/s)  "
        f"ratio {t_ducc / t_ours:.2f}×  rel. diff {diff:.1e}\n"
        f"           CPU: ours {c_ours:.2f} s, ducc0 {c_ducc:.2f} s, "
        f"ratio {c_ducc / c_ours:.2f}×"
    )

    img = rng.standard_normal((args.npix, args.npix)).astype(vis.real.dtype)
    kw2 = {k: v for k, v in kw.items() if not k.startswith("npix")}
    t0, c0 = time.perf_counter(), time.process_time()
    v1 = dirty2vis(uvw, freq, img, do_wgridding=True, **kw2)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    v2 = ducc0.wgridder.dirty2vis(
        uvw=uvw,
        freq=freq,
        dirty=img,
        do_wgridding=True,
        divide_by_n=False,
        flip_u=True,
        flip_v=True,
        **kw2,
    )
    t_ducc, c_ducc = time.perf_counter() - t0, time.process_time() - c0
    diff = np.linalg.norm(v1 - v2) / np.linalg.norm(v2)
    print(
        f"dirty2vis  ours {t_ours:7.2f} s ({nvis / t_ours / 1e6:6.2f} Mvis/s)  "
        f"ducc0 {t_ducc:7.2f} s ({nvis / t_ducc / 1e6:6.2f} Mvis/s)  "
        f"ratio {t_ducc / t_ours:.2f}×  rel. diff {diff:.1e}\n"
        f"           CPU: ours {c_ours:.2f} s, ducc0 {c_ducc:.2f} s, "
        f"ratio {c_ducc / c_ours:.2f}×"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
