"""Shared helpers for the benchmark scripts: run a method in a fresh process and
measure its wall time and peak resident memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

__all__ = ["run_isolated", "peak_rss_gb", "plain_read_seconds"]


def peak_rss_gb() -> float:
    """Peak resident set size of this process, GB (Linux ru_maxrss is in kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def run_isolated(script: str, *args: str) -> dict:
    """Run ``python script args`` in a fresh process; parse the JSON it prints last."""
    out = subprocess.run(
        [sys.executable, script, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def plain_read_seconds(
    paths, *, block: int = 64 << 20, into_memory: bool = False
) -> tuple[float, int]:
    """Read every byte of ``paths`` sequentially; return (seconds, bytes).

    With ``into_memory`` every file is read into a new buffer that is kept
    (the cost of putting the bytes in fresh memory, as a reader must);
    otherwise one ``block``-sized buffer is reused (the disk/page-cache floor).
    """
    buf = bytearray(block)
    view = memoryview(buf)
    total = 0
    kept = []
    start = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            if into_memory:
                data = bytearray(os.fstat(fh.fileno()).st_size)
                n = fh.readinto(data)
                total += n
                kept.append(data)
                continue
            while True:
                n = fh.readinto(view)
                if not n:
                    break
                total += n
    return time.perf_counter() - start, total
