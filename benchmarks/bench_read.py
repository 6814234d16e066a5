"""Read a full DSA-110 group into memory: dsa110 against pyuvdata and a plain read.

Usage::

    python benchmarks/bench_read.py [--data DIR] [--keep] [--rephase]

Without ``--data`` a full-size group (96 antennas, 16 × 48 channels, 24
integrations, ≈ 2.2 GB) is simulated into a temporary directory first. Each
method runs in its own process (so peak memory is its own), with the page cache
warmed by the plain read first, and the script prints times, peak RSS, the
ratio to pyuvdata, and our throughput against the plain sequential read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import peak_rss_gb, plain_read_seconds, run_isolated  # noqa: E402


def _ours(paths):
    from dsa110.io.observation import load_observation, open_observation

    t0 = time.perf_counter()
    ds = open_observation(paths)
    t_open = time.perf_counter() - t0
    out = load_observation(ds)  # VISIBILITY, FLAG, WEIGHT straight into one array each
    elapsed = time.perf_counter() - t0
    n = int(sum(out[v].nbytes for v in ("VISIBILITY", "FLAG", "WEIGHT")))
    return {"seconds": elapsed, "open_seconds": t_open, "bytes": n}


def _ours_dask(paths):
    import dask

    from dsa110.io import open_observation

    t0 = time.perf_counter()
    ds = open_observation(paths)
    vis, flag, weight = dask.compute(
        ds.VISIBILITY.data, ds.FLAG.data, ds.WEIGHT.data, scheduler="threads"
    )
    return {
        "seconds": time.perf_counter() - t0,
        "bytes": int(vis.nbytes + flag.nbytes + weight.nbytes),
    }


def _pyuvdata(paths):
    from pyuvdata import UVData

    import dsa110.telescope  # noqa: F401  (offline IERS)

    t0 = time.perf_counter()
    import numpy as np

    # Each file, then fast_concat along frequency (pyuvdata's fast path for
    # subband files); DSA-110's float32 uvw_array must be made float64 first
    # or pyuvdata's combination check rejects it.
    parts = []
    for p in paths:
        part = UVData.from_file(str(p), file_type="uvh5", run_check=False)
        part.uvw_array = part.uvw_array.astype(np.float64)
        parts.append(part)
    uvd = parts[0].fast_concat(parts[1:], axis="freq", run_check=False)
    elapsed = time.perf_counter() - t0
    return {
        "seconds": elapsed,
        "bytes": int(
            uvd.data_array.nbytes + uvd.flag_array.nbytes + uvd.nsample_array.nbytes
        ),
    }


def _rephase(paths):
    """Rephase a full tile to its median meridian: in memory, then lazily from disk."""
    import dask

    from dsa110.io import open_observation
    from dsa110.phasing import rephase

    ds = open_observation(paths)
    loaded = ds.assign(
        VISIBILITY=(ds.VISIBILITY.dims, ds.VISIBILITY.values),
        UVW=(ds.UVW.dims, ds.UVW.values),
    )
    rephase(
        loaded.isel(time=slice(0, 1), frequency=slice(0, 48)), "median_meridian"
    )  # JIT cache load
    t0 = time.perf_counter()
    out = rephase(loaded, "median_meridian")
    t_mem = time.perf_counter() - t0
    del out, loaded
    t0 = time.perf_counter()
    (vis,) = dask.compute(ds.VISIBILITY.data, scheduler="threads")
    t_read = time.perf_counter() - t0
    del vis
    t0 = time.perf_counter()
    (vis,) = dask.compute(
        rephase(ds, "median_meridian").VISIBILITY.data, scheduler="threads"
    )
    t_lazy = time.perf_counter() - t0
    return {
        "memory_seconds": t_mem,
        "read_seconds": t_read,
        "read_rephase_seconds": t_lazy,
        "n_vis": int(vis.size),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="directory holding one full group")
    parser.add_argument("--keep", action="store_true", help="keep the simulated data")
    parser.add_argument(
        "--method",
        choices=("ours", "ours_dask", "pyuvdata", "rephase"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--skip-pyuvdata", action="store_true")
    parser.add_argument(
        "--rephase", action="store_true", help="also time rephasing the tile"
    )
    args = parser.parse_args()
    if args.method:
        paths = sorted(args.data.glob("*_sb??.hdf5"))
        result = {
            "ours": _ours,
            "ours_dask": _ours_dask,
            "pyuvdata": _pyuvdata,
            "rephase": _rephase,
        }[args.method](paths)
        result["peak_rss_gb"] = peak_rss_gb()
        print(json.dumps(result))
        return
    tmp = None
    if args.data is None:
        from dsa110.simulate import simulate_observation

        tmp = Path(tempfile.mkdtemp(prefix="dsa110-bench-"))
        t0 = time.perf_counter()
        simulate_observation(tmp, preset="full", seed=1, rfi=False)
        print(f"simulated a full group in {time.perf_counter() - t0:.1f} s into {tmp}")
        args.data = tmp
    paths = sorted(args.data.glob("*_sb??.hdf5"))
    plain_read_seconds(paths)  # warm the page cache
    t_plain, n_bytes = plain_read_seconds(paths)
    t_fresh, _ = plain_read_seconds(paths, into_memory=True)
    ours = run_isolated(__file__, "--method", "ours", "--data", str(args.data))
    ours_dask = run_isolated(
        __file__, "--method", "ours_dask", "--data", str(args.data)
    )
    rows = [
        ("plain sequential read (64 MB buffer)", t_plain, float("nan")),
        ("plain read into fresh memory", t_fresh, float("nan")),
        ("dsa110 open + load_observation", ours["seconds"], ours["peak_rss_gb"]),
        ("dsa110 open + dask.compute", ours_dask["seconds"], ours_dask["peak_rss_gb"]),
    ]
    pyuv = None
    if not args.skip_pyuvdata:
        pyuv = run_isolated(__file__, "--method", "pyuvdata", "--data", str(args.data))
        rows.append(
            (
                "pyuvdata UVData.from_file (16 files)",
                pyuv["seconds"],
                pyuv["peak_rss_gb"],
            )
        )
    print(
        f"\n{len(paths)} files, {n_bytes / 1e9:.2f} GB on disk; arrays in memory {ours['bytes'] / 1e9:.2f} GB"
    )
    print(f"{'method':42s} {'seconds':>8s} {'peak RSS GB':>12s}")
    for name, sec, rss in rows:
        print(f"{name:42s} {sec:8.2f} {rss:12.2f}")
    print(f"open (metadata only): {ours['open_seconds']:.3f} s")
    print(
        f"ours vs plain read: {ours['seconds'] / t_plain:.2f}x the plain read's time "
        f"({n_bytes / ours['seconds'] / 1e9:.2f} GB/s against {n_bytes / t_plain / 1e9:.2f} GB/s); "
        f"{ours['seconds'] / t_fresh:.2f}x a plain read into fresh memory"
    )
    if pyuv:
        print(
            f"speed-up over pyuvdata: {pyuv['seconds'] / ours['seconds']:.1f}x "
            f"(dask.compute: {pyuv['seconds'] / ours_dask['seconds']:.1f}x); "
            f"peak memory {ours['peak_rss_gb']:.2f} GB against {pyuv['peak_rss_gb']:.2f} GB"
        )
    if args.rephase:
        rp = run_isolated(__file__, "--method", "rephase", "--data", str(args.data))
        print(
            f"rephase to the median meridian, {rp['n_vis'] / 1e6:.0f} M visibilities: "
            f"{rp['memory_seconds']:.2f} s in memory (UVW + kernel); from disk "
            f"{rp['read_rephase_seconds']:.2f} s read + rephase against {rp['read_seconds']:.2f} s read alone"
        )
    if tmp is not None and not args.keep:
        import shutil

        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
