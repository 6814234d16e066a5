"""The numba.cuda SumThreshold pass against the CPU kernel (CUDA simulator here)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from dsa110.flagging import cuda as gpu
from dsa110.flagging import kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("window", [1, 2, 4, 16])
def test_gpu_sumthreshold_1d_equals_cpu(window, dtype):
    rng = np.random.default_rng(100 + window)
    values = rng.standard_normal((3, 20)).astype(dtype)
    values[0, 4] = 9.0
    values[1, 2:18] += 2.0
    values[2, 11] = np.nan
    values[2, 12] = np.inf
    flags = rng.random(values.shape) < 0.1
    flags[0, 4] = False
    threshold = 3.0 / 1.5 ** np.log2(window)
    got = gpu.sumthreshold_1d(values, flags, window=window, threshold=threshold)
    want = kernels.sumthreshold_1d(values, flags, window=window, threshold=threshold)
    # Same sliding sum in the same order on both: the flags are identical.
    assert got.dtype == np.bool_
    assert_array_equal(got, want)
    assert want.sum() > flags.sum(), "the input must trigger detections"


def test_gpu_window_longer_than_row_keeps_flags():
    values = np.ones((2, 5))
    flags = np.zeros((2, 5), bool)
    flags[1, 2] = True
    got = gpu.sumthreshold_1d(values, flags, window=8, threshold=0.1)
    assert_array_equal(got, flags)


def test_gpu_and_cpu_kernels_share_the_signature():
    cpu = inspect.signature(kernels.sumthreshold_1d.py_func)
    assert inspect.signature(gpu.sumthreshold_1d) == cpu


def test_gpu_shape_mismatch_raises():
    with pytest.raises(ValueError, match="row, sample"):
        gpu.sumthreshold_1d(
            np.ones((2, 3)), np.zeros((3, 2), bool), window=1, threshold=1.0
        )
