"""What a worker process keeps from tile to tile: profiles, phasors, free heap."""

import ctypes.util
import os
import time

import numpy as np
import pytest

from dsa110._compat.memory import _malloc_trim, release_free_memory
from dsa110.imaging import fft
from dsa110.imaging.kernels import plan_gridding
from dsa110.pipeline import load_config
from dsa110.pipeline.batch import _compute_on_this_worker, start_client


def _busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))
    return True


def _profiles(dask_worker):
    return len(dask_worker.profile_history)


def _scheduler_of_a_task():
    import dask.base

    before = dask.base.get_scheduler()
    _compute_on_this_worker()
    after = dask.base.get_scheduler()
    return getattr(before, "__self__", None) is not None, after.__module__


@pytest.mark.parametrize("enabled", [False, True])
def test_local_cluster_worker_profiler_follows_the_config(tmp_path, enabled):
    cfg = load_config(
        overrides=[
            f"runtime.data_dir={tmp_path}",
            "runtime.memory_limit=2GB",
            f"runtime.worker_profile={enabled}",
        ]
    )
    with start_client(cfg, out=lambda *a: None) as client:
        assert client.submit(_busy, 2.5, pure=False).result()
        counts = list(client.run(_profiles).values())
        on_client, module = client.submit(_scheduler_of_a_task, pure=False).result()
    # the profiler closes a one-second profile cycle at a time
    assert (counts[0] > 0) == enabled
    # inside a task the default is the cluster's client; a dsa110 task's own graphs
    # run on the worker's threads instead
    assert on_client
    assert module == "dask.threaded"


def test_compute_on_this_worker_outside_a_task_changes_nothing():
    import dask

    before = dask.config.get("scheduler", None)
    _compute_on_this_worker()
    assert dask.config.get("scheduler", None) == before


def _plan(w_max):
    return plan_gridding(
        npix_x=64,
        npix_y=64,
        pixsize_x=1e-3,
        pixsize_y=1e-3,
        epsilon=1e-4,
        dtype=np.complex64,
        w_range=(0.0, w_max),
    )


def test_phasor_cache_keeps_only_the_latest_plan():
    fft._PHASORS.clear()
    first, second = _plan(500.0), _plan(900.0)  # two tiles: another w range
    for plan in (first, second):
        _, nm1 = fft._corrections(plan)
        for sign in (-1.0, 1.0):
            phasor, _ = fft._phasors(plan, nm1, 0, sign)
            expected = np.exp(sign * 2j * np.pi * plan.w0 * nm1)
            np.testing.assert_allclose(phasor, expected, rtol=0, atol=1e-4)
    assert len(fft._PHASORS) == 2  # the second plan's two signs only
    assert {k[1] for k in fft._PHASORS} == {second.w0}


def _rss_bytes():
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(
    not ctypes.util.find_library("c") or _malloc_trim() is None,
    reason="needs glibc's malloc_trim",
)
def test_release_free_memory_returns_a_fragmented_heap():
    # 4 kB blocks (glibc's heap, not Python's small-object arenas), one in 16
    # kept: the free ones sit between live blocks, where the heap cannot shrink
    blocks = [bytearray(4096) for _ in range(40_000)]
    keep = blocks[::16]
    del blocks
    before = _rss_bytes()
    assert release_free_memory()
    after = _rss_bytes()
    assert before - after > 80e6  # of the ~150 MB freed
    assert len(keep) == 2500
