"""Benchmark: dsa110.flagging.flag_rfi against AOFlagger's default strategy.

Both flag the same simulated DSA-110 tile with RFI (``dsa110.simulate``, known
RFI mask). Prints wall times, the speed ratio, the agreement between the two
flag sets, and each against the truth.

    python benchmarks/bench_flagging.py [--antennas 24] [--subbands 16] [--times 24]
    python benchmarks/bench_flagging.py --data DIR   # a simulated tile on disk
    python benchmarks/bench_flagging.py --antennas 24 --plane-kernel 400 \
        --baseline-rev 416aad4          # CPU per plane, this kernel vs REV's

``--plane-kernel N`` times the plane kernel alone
(:func:`dsa110.flagging.plane.sumthreshold_plane_into`, the strategy's
parameters) on the first N cross (baseline, polarization) planes of the tile;
with ``--baseline-rev`` also ``dsa110/flagging/plane.py`` of that git revision
(loaded from ``git show`` into a temporary module), the two interleaved in
batches, the least CPU time of each kept, and each one's flags against the truth.

AOFlagger: ``pip install aoflagger`` (3.5), the generic default strategy
(``generic-default.lua``), fed one baseline at a time as four images (XX/YY real
and imaginary) of width = time and height = frequency, as its Python API
expects. Autocorrelations are excluded from every comparison.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def simulate(outdir, *, n_ant, n_sub, n_times, seed):
    from dsa110.io import open_observation
    from dsa110.simulate import SimulationConfig, load_truth, simulate_observation
    from dsa110.telescope import ACTIVE_ANTENNAS

    # Every 4th active station: spread over the arms and outriggers.
    stations = tuple(
        int(a)
        for a in ACTIVE_ANTENNAS[:: max(1, len(ACTIVE_ANTENNAS) // n_ant)][:n_ant]
    )
    config = SimulationConfig.preset(
        "full", antennas=stations, subbands=tuple(range(n_sub)), n_times=n_times
    )
    tiles = simulate_observation(
        outdir,
        config=config,
        seed=seed,
        rfi=True,
        population=False,
        noise=True,
        gains=True,
    )
    ds = open_observation(list(tiles[0].files), expected_subbands=range(n_sub)).load()
    return ds, load_truth(tiles[0].truth_path)


def load_tile(directory):
    """A tile already simulated: the UVH5 subband files and truth in ``directory``."""
    from pathlib import Path

    from dsa110.io import open_observation
    from dsa110.simulate import load_truth

    files = sorted(str(p) for p in Path(directory).glob("*.hdf5"))
    truth = sorted(Path(directory).glob("*_truth.npz"))
    if not files or not truth:
        raise SystemExit(f"{directory}: no *.hdf5 files or no *_truth.npz")
    return open_observation(files).load(), load_truth(truth[0])


def run_aoflagger(vis, cross):
    """AOFlagger's generic default strategy, baseline by baseline (one thread)."""
    import aoflagger
    import numpy as np

    flagger = aoflagger.AOFlagger()
    strategy = flagger.load_strategy_file(
        flagger.find_strategy_file(aoflagger.TelescopeId.Generic)
    )
    n_t, n_b, n_f, n_p = vis.shape
    out = np.zeros((n_t, n_b, n_f), dtype=bool)
    images = flagger.make_image_set(n_t, n_f, 2 * n_p)
    for b in np.nonzero(cross)[0]:
        plane = vis[:, b, :, :]  # (time, frequency, polarization)
        for p in range(n_p):
            images.set_image_buffer(
                2 * p, np.ascontiguousarray(plane[:, :, p].real.T, dtype=np.float32)
            )
            images.set_image_buffer(
                2 * p + 1, np.ascontiguousarray(plane[:, :, p].imag.T, dtype=np.float32)
            )
        out[:, b, :] = strategy.run(images).get_buffer().T
    return out


def time_plane_kernel(vis, cross, truth, *, n_planes, baseline_rev, rounds=7):
    """CPU per plane of the plane kernel (and of ``baseline_rev``'s), interleaved."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    from dsa110.flagging import plane
    from dsa110.flagging.strategy import STRATEGIES

    st = STRATEGIES["dsa110"]
    args = (
        st.threshold,
        st.rho,
        st.max_window,
        st.n_iter,
        st.threshold_step,
        st.sigma_time,
        st.sigma_frequency,
    )
    v = vis[:, cross]
    planes = [
        np.ascontiguousarray(
            np.sqrt(
                v[:, b, :, p].real.astype(float) ** 2
                + v[:, b, :, p].imag.astype(float) ** 2
            )
        )
        for b in range(v.shape[1])
        for p in range(v.shape[3])
    ][:n_planes]
    kernels = {"this tree": plane}
    if baseline_rev:
        root = Path(__file__).resolve().parents[1]
        src = subprocess.run(
            ["git", "show", f"{baseline_rev}:dsa110/flagging/plane.py"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        tmp = Path(tempfile.mkdtemp()) / "plane_baseline.py"
        tmp.write_text(src)
        spec = importlib.util.spec_from_file_location("plane_baseline", tmp)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["plane_baseline"] = mod
        spec.loader.exec_module(mod)
        kernels = {baseline_rev: mod, **kernels}
    n_t, n_f = planes[0].shape
    out = np.zeros((n_t, n_f), bool)
    best = {}
    flags = {}
    for name, mod in kernels.items():
        scratch = mod.plane_scratch(n_t, n_f)
        res = []
        for a in planes:  # compiles, and keeps each one's flags
            out[:] = False
            mod.sumthreshold_plane_into(a, out, *args, scratch)
            res.append(out.copy())
        flags[name] = np.stack(res)
        best[name] = (np.inf, scratch)
    for _ in range(rounds):
        for name, mod in kernels.items():
            cpu, scratch = best[name]
            c0 = time.process_time()
            for a in planes:
                out[:] = False
                mod.sumthreshold_plane_into(a, out, *args, scratch)
            best[name] = (min(cpu, time.process_time() - c0), scratch)
    mask = truth.rfi_amplitude != 0
    strong = truth.rfi_amplitude > 5 * truth.sigma_jy
    print(f"plane kernel, {len(planes)} planes of {n_t} x {n_f}, least of {rounds}:")
    for name in kernels:
        f = flags[name]
        print(
            f"  {name}: {best[name][0] / len(planes) * 1e3:.3f} ms CPU per plane; "
            f"clean samples flagged {f[:, ~mask].mean():.5f}, "
            f"RFI > 5 sigma flagged {f[:, strong].mean():.4f}"
        )
    if baseline_rev:
        ratio = best[baseline_rev][0] / best["this tree"][0]
        differ = (flags[baseline_rev] != flags["this tree"]).mean()
        print(f"  speed-up {ratio:.2f} x; flags differ on {differ:.5f} of the samples")


def main(argv=None):
    import dask
    import numpy as np

    from dsa110.flagging import flag_rfi

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--antennas", type=int, default=24)
    parser.add_argument("--subbands", type=int, default=16)
    parser.add_argument("--times", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--data", default=None, help="flag this simulated tile (directory) instead"
    )
    parser.add_argument(
        "--plane-kernel",
        type=int,
        default=0,
        metavar="N",
        help="time the plane kernel alone on N planes (and stop)",
    )
    parser.add_argument(
        "--baseline-rev",
        default=None,
        help="with --plane-kernel: also time dsa110/flagging/plane.py of this rev",
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if args.data:
        ds, truth = load_tile(args.data)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ds, truth = simulate(
                tmp,
                n_ant=args.antennas,
                n_sub=args.subbands,
                n_times=args.times,
                seed=args.seed,
            )
    t_sim = time.perf_counter() - t0
    vis = ds.VISIBILITY.values
    cross = ds.antenna1.values != ds.antenna2.values
    n_t, n_b, n_f, n_p = vis.shape
    print(
        f"data: {n_t} times x {n_b} baselines ({cross.sum()} cross) x {n_f} "
        f"channels x {n_p} pols = {vis.nbytes / 2**20:.1f} MiB complex64 "
        f"(simulated/read in {t_sim:.1f} s)"
    )
    if args.plane_kernel:
        time_plane_kernel(
            vis,
            cross,
            truth,
            n_planes=args.plane_kernel,
            baseline_rev=args.baseline_rev,
        )
        return

    flag_rfi(ds.isel(baseline_id=slice(0, 2)))  # JIT warm-up (compiled code is cached)
    ours, t_ours, t_ours_1 = None, [], []
    dsd = ds.chunk({"time": -1, "frequency": -1, "baseline_id": max(1, n_b // 8)})
    import os

    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        with dask.config.set(scheduler="threads"):
            ours = flag_rfi(dsd).FLAG.values
        t_ours.append((time.perf_counter() - t0, time.process_time() - c0))
        t0, c0 = time.perf_counter(), time.process_time()
        with dask.config.set(scheduler="sync"):
            flag_rfi(dsd).FLAG.compute()
        t_ours_1.append((time.perf_counter() - t0, time.process_time() - c0))
    t_ao = []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        ao = run_aoflagger(vis, cross)
        t_ao.append((time.perf_counter() - t0, time.process_time() - c0))

    ours3 = ours.any(axis=-1)[:, cross]
    ao3 = ao[:, cross]
    mask = truth.rfi_amplitude != 0  # (time, frequency)
    truth3 = np.broadcast_to(mask[:, None, :], ours3.shape)
    strong = np.broadcast_to(
        (truth.rfi_amplitude > 5 * truth.sigma_jy)[:, None, :], ours3.shape
    )

    def frac(a, b):
        return a[b].mean() if b.any() else float("nan")

    best_ours, cpu_ours = min(t_ours)
    (best_ao, cpu_ao), (best_1, cpu_1) = min(t_ao), min(t_ours_1)
    print(
        f"machine: {os.cpu_count()} cores, load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    n_planes = int(cross.sum()) * n_p
    print(
        f"dsa110 flag_rfi (dask threads): {best_ours:.3f} s wall, {cpu_ours:.3f} s "
        f"CPU   (1 thread: {best_1:.3f} s wall, {cpu_1:.3f} s CPU = "
        f"{cpu_1 / n_planes * 1e3:.2f} ms per cross (baseline, pol) plane)"
    )
    print(
        f"AOFlagger {__import__('aoflagger').AOFlagger.get_version_string()} "
        f"generic default (1 thread): {best_ao:.3f} s wall, {cpu_ao:.3f} s CPU"
    )
    print(
        f"speed ratio AOFlagger / dsa110: {best_ao / best_ours:.2f} x wall "
        "(dask threads), "
        f"{best_ao / best_1:.2f} x wall and {cpu_ao / cpu_1:.2f} x CPU (1 thread each)"
    )
    print(
        f"flagged fraction (cross): dsa110 {ours3.mean():.4f}  "
        f"AOFlagger {ao3.mean():.4f}  "
        f"truth {truth3.mean():.4f}"
    )
    print(
        f"agreement: of AOFlagger's flags dsa110 also flags {frac(ours3, ao3):.4f}; "
        f"of dsa110's flags AOFlagger also flags {frac(ao3, ours3):.4f}"
    )
    print(
        f"vs truth: RFI samples flagged  dsa110 {frac(ours3, truth3):.4f}  "
        f"AOFlagger {frac(ao3, truth3):.4f}"
    )
    print(
        f"          RFI > 5 sigma flagged dsa110 {frac(ours3, strong):.4f}  "
        f"AOFlagger {frac(ao3, strong):.4f}"
    )
    print(
        f"          clean samples flagged dsa110 {frac(ours3, ~truth3):.4f}  "
        f"AOFlagger {frac(ao3, ~truth3):.4f}"
    )


if __name__ == "__main__":
    main()
