"""The numba.cuda gridder/degridder against the CPU kernels, under the CUDA simulator."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging import cuda as gpu
from dsa110.imaging import kernels as cpu
from dsa110.telescope.beam import SPEED_OF_LIGHT


@pytest.fixture
def tiny():
    rng = np.random.default_rng(8)
    nrow, nchan = 3, 2
    uvw = rng.uniform(-1, 1, (nrow, 3)) * np.array([60.0, 60.0, 2000.0])
    freq = np.array([1.35e9, 1.45e9])
    vis = rng.standard_normal((nrow, nchan)) + 1j * rng.standard_normal((nrow, nchan))
    wgt = rng.uniform(0.5, 1.0, (nrow, nchan))
    wgt[0, 1] = 0.0
    plan = cpu.plan_gridding(
        npix_x=16,
        npix_y=16,
        pixsize_x=1e-3,
        pixsize_y=1e-3,
        epsilon=1e-3,
        dtype=np.complex128,
        w_range=cpu._w_range(uvw, freq),
    )
    return uvw, freq, vis, wgt, plan


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_grid_plane_matches_cpu(tiny, dtype):
    uvw, freq, vis, wgt, plan64 = tiny
    real = np.float32 if dtype == np.complex64 else np.float64
    plan = cpu.plan_gridding(
        npix_x=16,
        npix_y=16,
        pixsize_x=1e-3,
        pixsize_y=1e-3,
        epsilon=1e-3,
        dtype=dtype,
        w_range=cpu._w_range(uvw, freq),
    )
    assert plan.nplanes > 1  # exercise the w-gridding path
    p = plan.nplanes // 2
    ref = cpu.grid_planes(
        uvw,
        freq,
        vis.astype(dtype),
        wgt.astype(real),
        plan=plan,
        planes=range(p, p + 1),
    )[0]
    grid = np.zeros((plan.ngx, plan.ngy, 2), dtype=real)
    gpu.launch_grid_plane(
        grid,
        vis.real.astype(real),
        vis.imag.astype(real),
        wgt.astype(real),
        uvw,
        freq / SPEED_OF_LIGHT,
        plan=plan,
        plane=p,
    )
    # same kernel polynomials; the GPU evaluates them in float64 (CPU: input precision)
    tol = 1e-5 if dtype == np.complex64 else 1e-12
    assert_allclose(grid[..., 0] + 1j * grid[..., 1], ref, atol=tol * np.abs(ref).max())


def test_degrid_plane_matches_cpu(tiny):
    uvw, freq, vis, wgt, plan = tiny
    rng = np.random.default_rng(9)
    g = rng.standard_normal((plan.ngx, plan.ngy)) + 1j * rng.standard_normal(
        (plan.ngx, plan.ngy)
    )
    p = plan.nplanes // 2
    ref = np.zeros(vis.shape, np.complex128)
    bins = cpu.bin_visibilities(uvw, freq, wgt != 0, plan=plan)
    cpu._degrid_plane(
        g,
        ref,
        wgt,
        True,
        uvw,
        freq / SPEED_OF_LIGHT,
        bins.row,
        bins.chan_start,
        bins.chan_stop,
        bins.key_offsets,
        plan.kernel.coeffs,
        p,
        plan.pixsize_x,
        plan.pixsize_y,
        plan.w0,
        plan.dw,
        plan.do_wgridding,
        plan.nstrips,
        plan.nplanes,
        1,
    )
    out_re = np.zeros(vis.shape)
    out_im = np.zeros(vis.shape)
    grid = np.stack([g.real, g.imag], axis=-1)
    gpu.launch_degrid_plane(
        grid, out_re, out_im, wgt, uvw, freq / SPEED_OF_LIGHT, plan=plan, plane=p
    )
    assert_allclose(
        out_re + 1j * out_im, ref, atol=1e-12 * np.abs(ref).max()
    )  # float64


def test_docstrings_name_their_array_type():
    assert (
        "CuPy" in gpu.grid_planes.__doc__ and "cupy.ndarray" in gpu.grid_planes.__doc__
    )
    assert "numpy.ndarray" in cpu.grid_planes.__doc__
    assert "cupy" not in cpu.grid_planes.__doc__.lower()
