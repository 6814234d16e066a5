"""Benchmark: 2° cone searches on a 2-million-source catalog store.

Run:  python benchmarks/bench_cone_search.py [--n 2000000] [--radius 2] [--queries 50]

Builds a synthetic NVSS-like catalog of ``--n`` sources over δ > −40°, stores it
(Parquet, 1° declination bands sorted by RA), and times cone searches at random
centres: "cold" (a fresh store object: the bands are read from Parquet) and
"warm" (bands cached in memory), next to the peers: a brute-force NumPy
haversine over the whole in-memory catalog, and astropy's
``SkyCoord.separation``. Goal: < 50 ms per 2° cone.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=2_000_000)
    p.add_argument("--radius", type=float, default=2.0)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from dsa110.catalogs import CatalogStore, angular_separation, synthetic_nvss

    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    sky = synthetic_nvss(n=args.n, rng=rng)
    print(f"synthetic catalog: {len(sky)} sources in {time.perf_counter() - t:.1f} s")
    centres_ra = rng.uniform(0, 360, args.queries)
    centres_dec = np.degrees(
        np.arcsin(rng.uniform(np.sin(np.radians(-38)), 1, args.queries))
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = CatalogStore(tmp)
        t = time.perf_counter()
        store.add(sky, "nvss")
        print(f"store write: {time.perf_counter() - t:.1f} s")

        CatalogStore(tmp).cone_search(10.0, 10.0, args.radius)  # imports, page cache
        cold, warm, counts = [], [], []
        warm_store = CatalogStore(tmp)
        for ra, dec in zip(centres_ra, centres_dec):
            fresh = CatalogStore(tmp)
            t = time.perf_counter()
            res = fresh.cone_search(ra, dec, args.radius)
            cold.append(time.perf_counter() - t)
            warm_store.cone_search(ra, dec, args.radius)
            t = time.perf_counter()
            res2 = warm_store.cone_search(ra, dec, args.radius)
            warm.append(time.perf_counter() - t)
            assert len(res) == len(res2)
            counts.append(len(res))

        ra_all, dec_all = sky["ra"].to_numpy(), sky["dec"].to_numpy()
        brute = []
        for ra, dec in zip(centres_ra[:10], centres_dec[:10]):
            t = time.perf_counter()
            sel = np.flatnonzero(
                angular_separation(ra, dec, ra_all, dec_all) <= args.radius
            )
            brute.append(time.perf_counter() - t)
        coords = SkyCoord(ra_all * u.deg, dec_all * u.deg)
        apy = []
        for ra, dec in zip(centres_ra[:3], centres_dec[:3]):
            t = time.perf_counter()
            sel = (
                coords.separation(SkyCoord(ra * u.deg, dec * u.deg))
                <= args.radius * u.deg
            )
            apy.append(time.perf_counter() - t)
        del sel

    ms = lambda v: 1e3 * np.median(v)  # noqa: E731
    print(
        f"\n{args.queries} cones of {args.radius}°, median {np.median(counts):.0f}"
        f" sources each"
    )
    print(
        f"store, cold (Parquet read):  median {ms(cold):7.2f} ms   p90"
        f" {1e3 * np.percentile(cold, 90):7.2f} ms"
    )
    print(
        f"store, warm (bands cached):  median {ms(warm):7.2f} ms   p90"
        f" {1e3 * np.percentile(warm, 90):7.2f} ms"
    )
    print(f"brute-force NumPy haversine: median {ms(brute):7.2f} ms")
    print(f"astropy SkyCoord.separation: median {ms(apy):7.2f} ms")
    print(
        f"ratio brute/cold {np.median(brute) / np.median(cold):.1f}x, brute/warm "
        f"{np.median(brute) / np.median(warm):.1f}x, astropy/warm"
        f" {np.median(apy) / np.median(warm):.1f}x"
    )
    print(
        f"goal < 50 ms: cold {'PASS' if ms(cold) < 50 else 'FAIL'}, warm"
        f" {'PASS' if ms(warm) < 50 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
