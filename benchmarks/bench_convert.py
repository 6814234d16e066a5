"""Benchmark: `dsa110 convert` to MS against the pyuvdata path, and the disk floor.

One simulated tile (16 UVH5 files) is converted, each path in its own
subprocess (so peak RSS is measured per path with ``wait4``):

* ours: :func:`dsa110.io.convert.convert` (lazy read of whole-band chunks,
  rephase to one field, dask-ms streaming of DATA, FLAG, WEIGHT_SPECTRUM,
  WEIGHT, SIGMA), and the same with one field per integration;
* pyuvdata (the observatory's method): read the 16 files, undo the correlator's
  meridian fringe-stopping to drift, give each integration its meridian phase
  centre with ``UVData.phase``, combine — with pyuvdata's own ``fast_concat``
  along frequency instead of CASA ``concat`` — and ``write_ms``;
* the disk floor: the UVH5 bytes read plus the MS bytes written at this disk's
  sequential speed (measured here with a scratch file, fsync, and
  ``posix_fadvise(DONTNEED)`` before reading it back).

Usage::

    python benchmarks/bench_convert.py --n-times 24     # a full tile (2.2 GB)
    python benchmarks/bench_convert.py --n-times 4      # 1/6 of a tile
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def simulate(outdir: Path, n_times: int) -> list:
    from dsa110.simulate import SimulationConfig, point_source, simulate_observation

    config = SimulationConfig.preset("full", n_times=n_times)
    tiles = simulate_observation(
        outdir,
        config=config,
        seed=7,
        population=False,
        sources=point_source(0.0, 33.0, 5.0),
        noise=True,
    )
    return list(tiles[0].files)


def run_ours(files, out, fields):
    from dsa110.io.convert import convert

    convert([Path(f) for f in files], out, fields=fields)


def run_pyuvdata(files, out):
    from astropy import units as u
    from astropy.coordinates import HADec, SkyCoord
    from astropy.time import Time
    from pyuvdata import UVData

    from dsa110.telescope import default_site

    parts = []
    for f in sorted(files):
        uvd = UVData.from_file(str(f), file_type="uvh5", run_check=False)
        uvd.uvw_array = uvd.uvw_array.astype(np.float64)  # float32 in DSA-110 files
        parts.append(uvd)
    uvd = parts[0].fast_concat(parts[1:], axis="freq", run_check=False)
    del parts
    uvd.reorder_freqs(channel_order="freq", run_check=False)
    # The correlator fringe-stopped each integration to its meridian: undo it
    # (w toward the meridian → w toward zenith) so that pyuvdata's "drift" is true.
    w_mer = uvd.uvw_array[:, 2].copy()
    uvd.set_uvws_from_antenna_positions()
    w_zen = uvd.uvw_array[:, 2]
    lam_inv = uvd.freq_array / 299792458.0
    uvd.data_array *= np.exp(2j * np.pi * (w_mer - w_zen)[:, None] * lam_inv[None, :])[
        ..., None
    ]
    # Give each integration its meridian phase centre (ICRS of HA=0, pointing dec).
    dec = float(uvd.extra_keywords["phase_center_dec"])
    times = np.unique(uvd.time_array)
    site = default_site().earth_location
    t = Time(times, format="jd")
    icrs = SkyCoord(
        ha=np.zeros(t.size) * u.rad,
        dec=np.full(t.size, dec) * u.rad,
        frame=HADec(obstime=t, location=site),
    ).icrs
    for k, jd in enumerate(times):
        uvd.phase(
            lon=icrs.ra.rad[k],
            lat=icrs.dec.rad[k],
            cat_name=f"meridian_{k:02d}",
            phase_frame="icrs",
            select_mask=uvd.time_array == jd,
        )
    uvd.write_ms(str(out), run_check=False)


def disk_speed(directory: Path, nbytes: int) -> tuple:
    """Sequential write and read speed (bytes/s) with a scratch file."""
    scratch = directory / "scratch.bin"
    block = (
        np.random.default_rng(0).integers(0, 255, 64 * 2**20, dtype=np.uint8).tobytes()
    )
    n = max(1, nbytes // len(block))
    t0 = time.perf_counter()
    with open(scratch, "wb") as fh:
        for _ in range(n):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    write = n * len(block) / (time.perf_counter() - t0)
    fd = os.open(scratch, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    t0 = time.perf_counter()
    with open(scratch, "rb") as fh:
        while fh.read(64 * 2**20):
            pass
    read = n * len(block) / (time.perf_counter() - t0)
    scratch.unlink()
    return write, read


def timed_child(args: list) -> tuple:
    """Run this script as a child; return (wall s, CPU s, peak RSS bytes)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *args])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"child {args} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n-times", type=int, default=4, help="integrations (24 = a full tile)"
    )
    parser.add_argument(
        "--workdir", default=None, help="scratch directory (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument(
        "--ours-only",
        action="store_true",
        help="skip the pyuvdata path (e.g. to check our memory on a full tile)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import warnings

        warnings.simplefilter("ignore")  # pyuvdata's drift-UVW warnings, per file
        kind, out, *files = args.child
        if kind == "pyuvdata":
            run_pyuvdata(files, out)
        else:
            run_ours(files, out, kind)
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_convert_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    existing = sorted((work / "uvh5").glob("*_sb*.hdf5"))
    files = (
        [str(f) for f in existing]
        if len(existing) == 16
        else [str(f) for f in simulate(work / "uvh5", args.n_times)]
    )
    for kind in ("single", "per_integration", "pyuvdata"):
        shutil.rmtree(work / f"{kind}.ms", ignore_errors=True)
    print(
        f"simulated {len(files)} files, {args.n_times} integrations, "
        f"{sum(map(os.path.getsize, files)) / 1e9:.2f} GB "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    results = {}
    kinds = ("single", "per_integration") + (() if args.ours_only else ("pyuvdata",))
    for kind in kinds:
        out = work / f"{kind}.ms"
        load = os.getloadavg()[0]
        wall, cpu, rss = timed_child([*["--child", kind, str(out)], *files])
        results[kind] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_gb": rss / 1e9,
            "ms_bytes": _du(out),
            "load_before": load,
        }
        print(
            f"{kind:>16}: {wall:7.1f} s wall  {cpu:7.1f} s CPU  "
            f"peak RSS {rss / 1e9:5.2f} GB  MS {_du(out) / 1e9:.2f} GB  "
            f"(load average before: {load:.2f})",
            flush=True,
        )
    bytes_in = sum(map(os.path.getsize, files))
    bytes_out = results["single"]["ms_bytes"]
    wspeed, rspeed = disk_speed(work, max(bytes_in, 2**30))
    floor = bytes_in / rspeed + bytes_out / wspeed
    ours = results["single"]["wall_s"]
    theirs = results.get("pyuvdata", {}).get("wall_s", float("nan"))
    print(
        f"disk: write {wspeed / 1e6:.0f} MB/s, read {rspeed / 1e6:.0f} MB/s; "
        f"floor (read {bytes_in / 1e9:.2f} GB + write {bytes_out / 1e9:.2f} GB) "
        f"= {floor:.1f} s"
    )
    print(
        f"speed-up vs pyuvdata path: {theirs / ours:.1f}x (per-integration fields: "
        f"{theirs / results['per_integration']['wall_s']:.1f}x); "
        f"ours / disk floor: {ours / floor:.1f}x"
    )
    if "pyuvdata" in results:
        print(
            "CPU time ratio pyuvdata / ours: "
            f"{results['pyuvdata']['cpu_s'] / results['single']['cpu_s']:.1f}x"
        )
    print(
        json.dumps(
            {
                "n_times": args.n_times,
                **results,
                "floor_s": floor,
                "disk_write_Bps": wspeed,
                "disk_read_Bps": rspeed,
            }
        )
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
