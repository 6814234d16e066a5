"""Register rows (dsa110._compat.simd) against NumPy, in both float precisions."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from dsa110._compat.simd import row_fma, row_load, row_store, row_zeros


@njit(cache=False)
def _weighted_row_sum(rows, weights, start, out):
    # out[:16] = Σ_a weights[a] · rows[a, start : start + 16], in order of a
    acc = row_zeros(out, 16)
    for a in range(rows.shape[0]):
        acc = row_fma(acc, weights[a], row_load(rows[a, start : start + 16], 16))
    row_store(out, acc)


@njit(cache=False)
def _scaled_add_in_place(rows, k, kernel_row):
    # rows[a, :16] += k[a] · kernel_row[:16], through register rows
    kr = row_load(kernel_row, 16)
    for a in range(rows.shape[0]):
        r = rows[a, :16]
        row_store(r, row_fma(row_load(r, 16), k[a], kr))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_row_sum_equals_the_sequential_numpy_sum(dtype):
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((7, 40)).astype(dtype)
    weights = rng.standard_normal(7).astype(dtype)
    out = np.full(20, -1.0, dtype)  # only the first 16 are written
    _weighted_row_sum(rows, weights, 5, out)
    expected = np.zeros(16, dtype)
    for a in range(7):
        expected = expected + weights[a] * rows[a, 5:21]
    # same order of sums; a fused multiply-add rounds once where NumPy rounds twice
    np.testing.assert_allclose(out[:16], expected, rtol=0, atol=8 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(out[16:], -1.0)


def test_rows_keep_nan_and_inf():
    rows = np.ones((2, 16), np.float32)
    rows[0, 3] = np.nan
    rows[1, 7] = np.inf
    out = np.zeros(16, np.float32)
    _weighted_row_sum(rows, np.ones(2, np.float32), 0, out)
    assert np.isnan(out[3]) and np.isinf(out[7])
    assert np.all(out[np.r_[0:3, 4:7, 8:16]] == 2)


def test_rows_added_in_place_leave_the_rest_of_the_array_alone():
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((3, 24))
    before = rows.copy()
    k = rng.standard_normal(3)
    kernel_row = rng.standard_normal(16)
    _scaled_add_in_place(rows, k, kernel_row)
    np.testing.assert_allclose(rows[:, :16], before[:, :16] + k[:, None] * kernel_row)
    np.testing.assert_array_equal(rows[:, 16:], before[:, 16:])


def test_lanes_must_be_a_compile_time_constant():
    @njit(cache=False)
    def load_with_runtime_lanes(a, n):
        row_store(a, row_load(a, n))

    with pytest.raises(TypingError):
        load_with_runtime_lanes(np.zeros(16), 16)


def test_integer_arrays_are_refused():
    @njit(cache=False)
    def load_integers(a):
        return row_load(a, 4)

    with pytest.raises(TypingError):
        load_integers(np.zeros(8, np.int64))
