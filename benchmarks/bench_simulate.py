"""Time the simulator on the full DSA-110 preset (one tile, ~2.2 GB written).

Usage::

    python benchmarks/bench_simulate.py [--subbands N] [--keep]

Writes into a temporary directory under /tmp and deletes it afterwards (unless
``--keep``). Reports wall time, GB written, sources simulated and peak RSS,
against the goal of ≤ 120 s (there is no peer implementation to compare with:
the observatory has no simulator; the correlator itself writes a tile in
real time, 309 s, which is the ratio printed).
"""

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--subbands", type=int, default=16, help="subbands to write (16 = full)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from dsa110.simulate import SimulationConfig, load_truth, simulate_observation

    config = SimulationConfig.preset("full", subbands=tuple(range(args.subbands)))
    # warm the Numba cache (compilation is not part of the figure)
    warm = tempfile.mkdtemp(prefix="dsa110-bench-warm-", dir="/tmp")
    try:
        simulate_observation(warm, preset="small", seed=0)
    finally:
        shutil.rmtree(warm)

    outdir = tempfile.mkdtemp(prefix="dsa110-bench-sim-", dir="/tmp")
    try:
        t0 = time.perf_counter()
        tiles = simulate_observation(outdir, config=config, seed=args.seed, rfi=True)
        elapsed = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(outdir).iterdir())
        n_files = len(list(Path(outdir).iterdir()))
        truth = load_truth(tiles[0].truth_path)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tile_s = config.tile_duration_s
        print(
            f"preset=full subbands={args.subbands} antennas={config.n_ant} "
            f"channels={config.n_chan * args.subbands} integrations={config.n_times}"
        )
        print(
            f"sources simulated: {truth.source_ra.size} "
            f"(population drawn around the tile: {truth.n_population_drawn})"
        )
        print(f"wall time: {elapsed:.1f} s (goal <= 120 s)")
        print(
            f"written: {size / 1e9:.3f} GB in {n_files} files "
            f"({size / 1e6 / elapsed:.0f} MB/s)"
        )
        print(f"peak RSS: {peak_mb:.0f} MB")
        print(
            f"ratio to real time (correlator writes a tile in {tile_s:.0f} s): "
            f"{tile_s / elapsed:.2f}x faster"
        )
    finally:
        if args.keep:
            print(f"kept {outdir}")
        else:
            shutil.rmtree(outdir)


if __name__ == "__main__":
    main()
