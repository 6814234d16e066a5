"""Batch throughput of the pipeline with 1 and 2 Dask workers, and peak memory per worker.

Usage::

    python benchmarks/bench_batch.py [--days 3]

Simulates the demo's strip (a calibrator tile and a target tile per day, small
preset) and processes it three ways with fresh databases: in this process, on a
LocalCluster of 1 worker, and of 2 workers; prints tiles per minute and the peak
RSS of each worker (read from the workers themselves at the end).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _worker_peak_rss_gb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--raw", type=Path, help="reuse a simulated strip (with reference_catalog.parquet)")
    args = parser.parse_args()

    import dask
    import pandas as pd
    from distributed import Client, LocalCluster

    from dsa110.pipeline import PipelineContext, load_config, run_batch
    from dsa110.pipeline.demo import simulate_demo_night

    raw = args.raw
    if raw is None:
        raw = Path(tempfile.mkdtemp(prefix="dsa110-bench-batch-")) / "raw"
        sky = simulate_demo_night(raw, n_days=args.days)
        sky.catalog.to_parquet(raw / "reference_catalog.parquet")
    catalog = pd.read_parquet(raw / "reference_catalog.parquet")
    n_tiles = len(list(raw.glob("*_sb00.hdf5")))
    common = ["imaging.npix=1024", "imaging.cell_arcsec=6.0", "imaging.niter=300", "imaging.major_cycles=2"]
    rows = []
    for label, workers in (("in-process", 0), ("LocalCluster, 1 worker", 1), ("LocalCluster, 2 workers", 2)):
        data = Path(tempfile.mkdtemp(prefix="dsa110-bench-batch-data-"))
        overrides = [f"runtime.data_dir={data}", *common]
        peak = float("nan")
        if workers:
            # as dsa110's own LocalCluster (runtime.worker_profile, default off)
            with dask.config.set({"distributed.worker.profile.enabled": False}), \
                    LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster, Client(cluster) as client:
                cfg = load_config(overrides=[*overrides, f"runtime.scheduler={cluster.scheduler_address}"])
                PipelineContext(cfg).catalog_store.add(catalog, "nvss")
                t0 = time.perf_counter()
                results = run_batch(raw, cfg, use_dask=True, progress=False, out=lambda *a: None)
                elapsed = time.perf_counter() - t0
                peak = max(client.run(_worker_peak_rss_gb).values())
        else:
            cfg = load_config(overrides=overrides)
            PipelineContext(cfg).catalog_store.add(catalog, "nvss")
            t0 = time.perf_counter()
            results = run_batch(raw, cfg, use_dask=False, progress=False, out=lambda *a: None)
            elapsed = time.perf_counter() - t0
        ok = sum(r.status == "processed" for r in results)
        rows.append((label, ok, elapsed, 60 * ok / elapsed, peak))
    print(f"{n_tiles} small tiles (12 antennas, 64 channels, 6 integrations; 1024² images)")
    print(f"{'runner':28s} {'tiles':>5s} {'seconds':>8s} {'tiles/min':>9s} {'peak RSS/worker GB':>19s}")
    for label, ok, sec, rate, peak in rows:
        print(f"{label:28s} {ok:5d} {sec:8.1f} {rate:9.2f} {peak:19.2f}")
    print(f"2 workers / 1 worker throughput: {rows[2][3] / rows[1][3]:.2f}x")


if __name__ == "__main__":
    main()
