"""Benchmark: bandpass + gain solve on a simulated calibrator tile, ours vs CASA.

Builds an in-memory calibrator tile (all 96 active antennas, 24 integrations,
``--subbands`` subbands of 48 channels; the full tile is 16), corrupts it with
random per-antenna bandpasses and thermal noise, and times

* ours: ``solve_bandpass`` (solint inf, per channel) + ``solve_gains`` (solint
  inf, bandpass applied), on Dask's threaded scheduler, selecting the uv range
  and weighting as CASA does (``uv_frequency="merged"``, ``calwt=False``) so
  that both solve the same problem;
* CASA (when ``casatasks`` imports): ``bandpass`` + ``gaincal`` on the same data
  written as a Measurement Set with MODEL_DATA (the MS writing is not timed).

Prints both times (wall and CPU), the ratio, and the largest relative
difference between the two sets of solutions. Run::

    python benchmarks/bench_calibration.py --subbands 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def build_tile(n_subbands, n_time, seed=0):
    from dsa110.telescope import ACTIVE_ANTENNAS
    from dsa110.testing import PointSource, make_visibility_dataset

    ants = [a - 1 for a in ACTIVE_ANTENNAS]
    ds0 = make_visibility_dataset(
        sources=[], n_time=1, n_chan_per_subband=1, subbands=[0], antennas=ants[:2]
    )
    src = PointSource(
        float(ds0.phase_center_ra[n_time // 2 if ds0.sizes["time"] > 1 else 0]),
        float(ds0.phase_center_dec[0]),
        20.0,
        -0.7,
    )
    subbands = list(np.linspace(0, 15, n_subbands).astype(int))
    ds = make_visibility_dataset(
        sources=[src],
        antennas=ants,
        n_time=n_time,
        n_chan_per_subband=48,
        subbands=subbands,
    )
    rng = np.random.default_rng(seed)
    n_chan = ds.sizes["frequency"]
    g = (1 + 0.1 * rng.standard_normal((117, n_chan, 2))) * np.exp(
        1j * rng.uniform(-np.pi, np.pi, (117, 1, 2))
    )
    a1, a2 = ds.antenna1.values, ds.antenna2.values
    v = ds.VISIBILITY.values
    v *= (g[a1] * np.conj(g[a2]))[None].astype(np.complex64)
    sigma = 7000.0 / np.sqrt(2 * 244140.625 * 12.884901888)
    v += (
        sigma * (rng.standard_normal(v.shape) + 1j * rng.standard_normal(v.shape))
    ).astype(np.complex64)
    return ds, src


def run_ours(ds, src):
    from dsa110.calibration import solve_bandpass, solve_gains

    ds = ds.chunk({"frequency": 48, "time": -1})
    t0, c0 = time.perf_counter(), time.process_time()
    bp = solve_bandpass(ds, src, uv_frequency="merged")
    t1 = time.perf_counter()
    g = solve_gains(ds, src, bandpass=bp, uv_frequency="merged", calwt=False)
    t2, c2 = time.perf_counter(), time.process_time()
    return t1 - t0, t2 - t1, c2 - c0, bp, g


def run_casa(ds, src, workdir):
    import casatasks
    from casacore import tables

    from dsa110.calibration import predict_model
    from dsa110.io.ms import write_ms
    from dsa110.phasing import rephase

    ds = rephase(ds, (src.ra, src.dec)).compute()
    # In memory: dsa110.io.ms.write_ms re-chunks DATA but not MODEL_DATA.
    model = predict_model(ds, src).values.astype(np.complex64)
    ds["MODEL"] = (ds.VISIBILITY.dims, np.repeat(model[..., None], 2, axis=-1))
    ms = Path(workdir) / "bench.ms"
    write_ms(ds, ms, model_data="MODEL")
    t0, c0 = time.perf_counter(), time.process_time()
    casatasks.bandpass(
        vis=str(ms),
        caltable=str(ms) + ".B",
        solint="inf",
        combine="scan",
        refant="103",
        solnorm=True,
        minsnr=5.0,
        minblperant=4,
        uvrange=">1klambda",
    )
    t1 = time.perf_counter()
    casatasks.gaincal(
        vis=str(ms),
        caltable=str(ms) + ".G",
        solint="inf",
        refant="103",
        calmode="ap",
        gaintable=[str(ms) + ".B"],
        minsnr=5.0,
        minblperant=4,
        uvrange=">1klambda",
    )
    t2, c2 = time.perf_counter(), time.process_time()
    with tables.table(str(ms) + ".B", ack=False) as t:
        b = t.getcol("CPARAM")  # (antenna, chan, pol)
        bf = t.getcol("FLAG")
        b_ant = t.getcol("ANTENNA1")
    with tables.table(str(ms) + ".G", ack=False) as t:
        g = t.getcol("CPARAM")[:, 0, :]
        gf = t.getcol("FLAG")[:, 0, :]
        g_ant = t.getcol("ANTENNA1")
    return t1 - t0, t2 - t1, c2 - c0, (b, bf, b_ant, g, gf, g_ant)


def compare(bp, gains, casa):
    """Largest relative difference of the full gain ``B(f) G``, CASA vs ours.

    Compared as the product: with ``solnorm`` CASA also normalises the
    bandpass phase, a per-antenna constant that its ``gaincal`` then takes up.
    """
    b, bf, b_ant, g, gf, g_ant = casa
    assert np.array_equal(b_ant, g_ant)
    casa_bg = np.conj(b * g[:, None, :])
    ok = ~bf & ~gf[:, None, :]
    ours_bg = bp.BANDPASS.values[b_ant] * gains.GAIN.values[0, g_ant][:, None, :]
    ok &= ~bp.BANDPASS_FLAG.values[b_ant] & ~gains.GAIN_FLAG.values[0, g_ant][:, None]
    rel = np.abs(casa_bg - ours_bg)[ok] / np.abs(ours_bg)[ok]
    same_flags = (bf == bp.BANDPASS_FLAG.values[b_ant]).mean()
    return rel.max(), np.median(rel), same_flags, ok.sum()


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument(
        "--subbands", type=int, default=4, help="subbands of 48 channels (16 = full)"
    )
    p.add_argument(
        "--times", type=int, default=24, help="integrations (24 = full tile)"
    )
    p.add_argument("--workdir", default=None, help="where the MS is written")
    args = p.parse_args()
    t = time.perf_counter()
    ds, src = build_tile(args.subbands, args.times)
    print(
        f"tile: {ds.sizes['time']} times x {ds.sizes['baseline_id']} baselines x "
        f"{ds.sizes['frequency']} channels x 2 pols "
        f"({ds.VISIBILITY.nbytes / 2**30:.2f} GiB), "
        f"built in {time.perf_counter() - t:.1f} s"
    )
    # Warm the JIT cache once on a small slice (compilation is not what we time).
    run_ours(ds.isel(time=slice(0, 2), frequency=slice(0, 48)), src)
    import os

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    runs = [run_ours(ds, src) for _ in range(3)]
    tb, tg, cpu, bp, gains = min(runs, key=lambda r: r[0] + r[1])
    print(
        f"ours (best of 3): bandpass {tb:.2f} s + gains {tg:.2f} s = {tb + tg:.2f} s "
        f"wall, {cpu:.2f} s CPU"
    )
    from dsa110._compat.casa import configure_casa_offline

    configure_casa_offline()  # before casatasks is first imported
    try:
        import casatasks  # noqa: F401
    except ImportError:
        print("CASA: casatasks not installed -- ours only (no ratio)")
        return
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench_cal_", dir=args.workdir)
    try:
        cb, cg, ccpu, casa = run_casa(ds, src, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"CASA: bandpass {cb:.2f} s + gaincal {cg:.2f} s = {cb + cg:.2f} s wall, "
        f"{ccpu:.2f} s CPU"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"ratio CASA/ours: {(cb + cg) / (tb + tg):.1f}x wall, {ccpu / cpu:.1f}x CPU")
    worst, median, same_flags, n = compare(bp, gains, casa)
    print(
        f"agreement of B(f)*G: max rel diff {worst:.2e}, median {median:.2e} "
        f"({n} antenna x channel x pol cells); same bandpass flags on "
        f"{same_flags:.4f} of cells"
    )


if __name__ == "__main__":
    main()
