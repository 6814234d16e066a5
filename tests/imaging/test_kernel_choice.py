"""The gridding kernel's support: the shortest whose error meets epsilon."""

import dataclasses

import numpy as np
import pytest

from dsa110.imaging import kernels
from dsa110.imaging.kernel_es import (
    _fit_coeffs,
    aliasing_error,
    choose_kernel,
    kernel_beta,
)
from tests.imaging.conftest import dft_dirty


def _measured_error(field, kernel, monkeypatch):
    """Relative L2 error of ``vis2dirty`` with ``kernel`` against the DFT."""
    monkeypatch.setattr(kernels, "_cached_kernel", lambda epsilon, real: kernel)
    f = field
    ref = dft_dirty(f["uvw"], f["freq"], f["vis"], f["npix"], f["pixsize"], f["wgt"])
    dirty = kernels.vis2dirty(
        f["uvw"],
        f["freq"],
        f["vis"],
        f["wgt"],
        npix_x=f["npix"],
        npix_y=f["npix"],
        pixsize_x=f["pixsize"],
        pixsize_y=f["pixsize"],
        epsilon=kernel.epsilon,
    )
    return np.linalg.norm(dirty - ref) / np.linalg.norm(ref)


def _shorter(kernel):
    """The same design one cell shorter."""
    support = kernel.support - 1
    beta = kernel_beta(support, kernel.oversampling)
    coeffs = _fit_coeffs(support, beta, kernel.epsilon)
    return dataclasses.replace(kernel, support=support, beta=beta, coeffs=coeffs)


@pytest.mark.parametrize("epsilon", [1e-3, 1e-4, 1e-5])
def test_support_is_the_shortest_that_meets_epsilon(wide_field, epsilon, monkeypatch):
    kernel = choose_kernel(epsilon, np.float64)
    measured = _measured_error(wide_field, kernel, monkeypatch)
    # the estimate the choice rests on bounds the measured error...
    assert measured <= aliasing_error(kernel.support, kernel.beta, kernel.oversampling)
    assert measured <= epsilon
    # ...and is not loose: one cell less misses epsilon (1e-4: 6 cells measure
    # ~7e-5, 5 cells ~5e-4; 1e-5: 8 cells ~3e-6, 7 cells ~1.2e-5)
    assert _measured_error(wide_field, _shorter(kernel), monkeypatch) > epsilon


def test_aliasing_error_falls_with_support():
    errors = [aliasing_error(w, kernel_beta(w, 1.5), 1.5) for w in range(4, 12)]
    assert all(b < a / 3 for a, b in zip(errors, errors[1:]))
