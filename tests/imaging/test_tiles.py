"""Tile binning (dsa110.imaging.tiles.bin_tiles): runs found by galloping = a scan."""

import numpy as np
import pytest

from dsa110.imaging import tiles
from dsa110.imaging.kernels import plan_gridding

SPEED_OF_LIGHT = 299792458.0


def _scan_bins(uvw, fc, mask, plan):
    """The runs channel by channel in Python (the definition)."""
    ntu, ntv = max(1, plan.ngx // tiles.TILE), max(1, plan.ngy // tiles.TILE)
    half = plan.kernel.support / 2.0
    runs = []
    for r in range(uvw.shape[0]):
        sgn = -1.0 if plan.do_wgridding and uvw[r, 2] < 0 else 1.0
        last = None
        for c in range(fc.size):
            if mask is not None and not mask[r, c]:
                last = None
                continue
            f = sgn * fc[c]
            key = tiles._key.py_func(
                uvw[r, 0] * f, uvw[r, 1] * f, uvw[r, 2] * f,
                plan.pixsize_x, plan.pixsize_y, plan.ngx, plan.ngy, half,
                plan.w0, plan.dw, plan.do_wgridding, ntu, ntv, plan.nplanes,
            )  # fmt: skip
            if key != last:
                runs.append([key, r, c, c + 1])
                last = key
            else:
                runs[-1][3] = c + 1
    return sorted(runs, key=lambda run: run[0])  # stable: row order within a key


def _as_runs(bins, plan):
    keys = np.repeat(np.arange(bins.key_offsets.size - 1), np.diff(bins.key_offsets))
    return [
        [int(k), int(r), int(a), int(b)]
        for k, r, a, b in zip(keys, bins.row, bins.chan_start, bins.chan_stop)
    ]


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled"])
@pytest.mark.parametrize("masked", [False, True])
def test_bins_equal_a_channel_by_channel_scan(order, masked):
    rng = np.random.default_rng(7)
    nrow, nchan = 40, 96
    uvw = np.empty((nrow, 3))
    uvw[:, :2] = rng.uniform(-2600, 2600, (nrow, 2))
    uvw[:, 2] = rng.uniform(-150, 150, nrow)
    freq = np.linspace(1.311e9, 1.499e9, nchan)
    if order == "descending":
        freq = freq[::-1].copy()
    elif order == "shuffled":  # not monotonic: the scan itself is used
        freq = rng.permutation(freq)
    fc = freq / SPEED_OF_LIGHT
    mask = rng.random((nrow, nchan)) > 0.2 if masked else None
    pix = np.radians(6 / 3600)
    plan = plan_gridding(
        epsilon=1e-4, dtype=np.complex64, w_range=(0.0, 150 * 1.5e9 / 3e8),
        do_wgridding=True, u_max=2600 * 1.5e9 / 3e8, npix_x=600, npix_y=600,
        pixsize_x=pix * 4, pixsize_y=pix * 4,
    )  # fmt: skip
    # rows whose first cell crosses 0 within the band (the tile index wraps round
    # the grid) and rows with u = v = 0
    cross = (plan.kernel.support / 2.0 - 1) / (fc.mean() * plan.pixsize_x * plan.ngx)
    uvw[:3, 0] = [cross, -cross, 0.0]
    uvw[:3, 1] = [0.0, cross, 0.0]
    bins = tiles.bin_tiles(uvw, fc, mask, plan=plan, nthreads=2)
    assert _as_runs(bins, plan) == _scan_bins(uvw, fc, mask, plan)
