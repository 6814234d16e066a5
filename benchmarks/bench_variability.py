"""Benchmark: one epoch of running-metric updates for 100,000 sources.

Compares, in one run, the incremental O(1) update (``MetricState.update``) with
the peer approach — recomputing the metrics from every source's full history
each epoch, as a batch pipeline does (VAST additionally stores all
N(N−1)/2 epoch pairs; its pair count is printed) — and checks that the state's
memory does not grow with the number of epochs.

Run: ``python benchmarks/bench_variability.py [--sources 100000] [--epochs 60]``
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np


def _batch_all(flux, err):
    """Vectorised two-pass batch metrics for every source (the peer)."""
    n = flux.shape[1]
    x = flux - flux[:, :1]
    w = 1.0 / err**2
    wmean = np.sum(w * x, axis=1) / np.sum(w, axis=1)
    mean = np.mean(x, axis=1)
    eta = np.sum(w * (x - wmean[:, None]) ** 2, axis=1) / (n - 1)
    std = np.sqrt(np.sum((x - mean[:, None]) ** 2, axis=1) / (n - 1))
    sdev = np.max(np.abs(x - mean[:, None]), axis=1) / std
    return eta, std, sdev


def main(argv=None):
    from dsa110.variability import MetricState

    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    n_src, n_ep = args.sources, args.epochs
    rng = np.random.default_rng(0)
    ids = np.arange(n_src, dtype=np.int64)
    flux = rng.lognormal(-3, 1, (n_src, 1)) * (
        1 + 0.05 * rng.standard_normal((n_src, n_ep))
    )
    err = np.full((n_src, n_ep), 1e-3)
    times = 60000.0 + np.arange(n_ep, dtype=np.float64)

    state = MetricState(ids)
    cols = state.columns_of(ids)
    # warm up (JIT compile / cache load) on a throw-away state
    MetricState(ids[:10]).update(ids[:10], times[:10], flux[:10, 0], err[:10, 0])

    sizes = {}
    for e in range(n_ep - 1):
        state.update(ids, np.full(n_src, times[e]), flux[:, e], err[:, e], columns=cols)
        if e in (0, 9):
            sizes[e + 1] = state.nbytes
    sizes[n_ep - 1] = state.nbytes

    # the timed epoch: the last one, repeated on copies of the state
    e = n_ep - 1
    t_col, t_ids, t_metrics = [], [], []
    for _ in range(args.repeat):
        s = MetricState.__new__(MetricState)
        s.__dict__.update(state.__dict__)
        s.counts, s.state = state.counts.copy(), state.state.copy()
        t0 = time.perf_counter()
        s.update(ids, np.full(n_src, times[e]), flux[:, e], err[:, e], columns=cols)
        t_col.append(time.perf_counter() - t0)
        s.counts, s.state = state.counts.copy(), state.state.copy()
        t0 = time.perf_counter()
        s.update(ids, np.full(n_src, times[e]), flux[:, e], err[:, e])
        t_ids.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s.metrics()
        t_metrics.append(time.perf_counter() - t0)

    tracemalloc.start()
    s.update(ids, np.full(n_src, times[e]), flux[:, e], err[:, e], columns=cols)
    peak_update = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    t_batch = []
    for _ in range(max(1, args.repeat // 2)):
        t0 = time.perf_counter()
        _batch_all(flux, err)
        t_batch.append(time.perf_counter() - t0)

    inc = min(t_col)
    batch = min(t_batch)
    print(f"sources: {n_src}, epochs in history: {n_ep}")
    print(f"incremental update, one epoch (known columns): {inc * 1e3:8.2f} ms")
    print(f"incremental update, one epoch (id look-up):    {min(t_ids) * 1e3:8.2f} ms")
    print(
        f"metrics table for all sources:                 {min(t_metrics) * 1e3:8.2f} ms"
    )
    print(f"peer: batch recompute from full history:       {batch * 1e3:8.2f} ms")
    print(
        f"ratio batch / incremental: {batch / inc:.1f}x "
        f"(grows linearly with the number of epochs)"
    )
    print(
        "state bytes after "
        + ", ".join(f"{k} epochs: {v / 1e6:.2f} MB" for k, v in sizes.items())
    )
    print(f"peak extra memory of one update (tracemalloc): {peak_update / 1e6:.2f} MB")
    print(
        f"peer history held: {flux.nbytes * 2 / 1e6:.0f} MB (flux+err); "
        f"VAST-style pair table would hold {n_src * n_ep * (n_ep - 1) // 2:.3g} pairs"
    )


if __name__ == "__main__":
    main()
