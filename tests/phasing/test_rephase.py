"""Rephasing: kernels, dask layer, GPU kernel under the CUDA simulator, rephase()."""

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.errors import ConfigurationError
from dsa110.phasing import cuda as gpu
from dsa110.phasing import (
    median_meridian,
    rephase,
    rephase_visibilities,
    source_directions,
)
from dsa110.phasing.dask import rephase_visibilities as dask_rephase
from dsa110.phasing.rephase import dataset_site
from dsa110.schema import SchemaError
from dsa110.telescope import SPEED_OF_LIGHT
from dsa110.testing import PointSource, make_visibility_dataset


def _random_inputs(rng, shape=(3, 5, 7, 2), dtype=np.complex64):
    vis = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    dw = rng.uniform(-2600, 2600, size=shape[:2])
    freq = 1.31e9 + 244140.625 * np.arange(shape[2])
    return vis, dw, freq


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_kernel_analytic(dtype):
    # One visibility of 1+0j, Δw = λ/4 at the channel's frequency: a -90° turn.
    rng = np.random.default_rng(1)
    vis, dw, freq = _random_inputs(rng, (1, 1, 3, 1), dtype)
    vis[:] = 1.0
    dw[:] = SPEED_OF_LIGHT / freq[1] / 4
    out = rephase_visibilities(vis, dw, freq)
    assert out.dtype == dtype
    assert_allclose(out[0, 0, 1, 0], -1j, atol=1e-6)


@pytest.mark.parametrize("uniform", [True, False])
def test_kernel_matches_numpy(uniform):
    rng = np.random.default_rng(2)
    vis, dw, freq = _random_inputs(rng, (4, 6, 48, 2), np.complex128)
    if not uniform:
        freq = np.sort(rng.uniform(1.3e9, 1.5e9, size=48))
    ref = vis * np.exp(
        -2j * np.pi * dw[:, :, None, None] * freq[None, None, :, None] / SPEED_OF_LIGHT
    )
    # float64 phases of up to ~1.3e4 turns: ~1e-12 absolute; the uniform path's
    # recurrence adds ~n_chan × 1e-16 relative.
    assert_allclose(rephase_visibilities(vis, dw, freq), ref, rtol=0, atol=1e-9)


def test_recurrence_taken_on_float64_grids():
    # Channel grids built in float64 (linspace, the dataset's ascending
    # subbands) are uniform to rounding and must take the phasor recurrence;
    # a grid off by 1 Hz in one channel must not.
    from dsa110.phasing.kernels import _is_uniform
    from dsa110.telescope import subband_frequencies

    rng = np.random.default_rng(5)
    grid = np.linspace(1.311e9, 1.4986e9, 768)
    assert _is_uniform(grid) and _is_uniform(subband_frequencies(7)[::-1])
    bent = grid.copy()
    bent[300] += 1.0
    assert not _is_uniform(bent) and not _is_uniform(np.array([1.4e9]))
    vis, dw, _ = _random_inputs(rng, (2, 3, 768, 2), np.complex128)
    ref = vis * np.exp(
        -2j * np.pi * dw[:, :, None, None] * grid[None, None, :, None] / SPEED_OF_LIGHT
    )
    # Recurrence over 768 channels: ~768 × 1e-16 relative, plus float64 phases
    # of ~1.3e4 turns (~1e-12).
    assert_allclose(rephase_visibilities(vis, dw, grid), ref, rtol=0, atol=1e-9)


def test_dask_equals_numpy_on_uneven_chunks():
    rng = np.random.default_rng(3)
    vis, dw, freq = _random_inputs(rng, (5, 7, 11, 2))
    dvis = da.from_array(vis, chunks=(2, 3, 4, 2))
    ddw = da.from_array(dw, chunks=(2, 3))
    dfreq = da.from_array(freq, chunks=(4,))
    # The uniform-step recurrence restarts at each chunk's first channel, so
    # equality is to float32 rounding, not bitwise.
    assert_allclose(
        dask_rephase(dvis, ddw, dfreq).compute(),
        rephase_visibilities(vis, dw, freq),
        rtol=0,
        atol=2e-6,
    )
    with pytest.raises(ValueError, match="chunks"):
        dask_rephase(dvis, da.from_array(dw, chunks=(5, 7)), dfreq)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_gpu_kernel_equals_cpu_under_simulator(dtype):
    rng = np.random.default_rng(4)
    vis, dw, freq = _random_inputs(rng, (2, 3, 4, 2), dtype)
    cpu = rephase_visibilities(vis, dw, freq)
    gpu_out = gpu.rephase_visibilities(vis, dw, freq)
    # complex64 output rounding: 1e-6 relative to |V| ~ 1. complex128: a phase of
    # up to ~8e4 rad carries 8e4 × 1.1e-16 ≈ 1e-11 rad of float64 rounding.
    atol = 2e-6 if dtype == np.complex64 else 1e-10
    assert_allclose(np.asarray(gpu_out), cpu, rtol=0, atol=atol)


def _tile(n_time=6, sources=(), **kw):
    return make_visibility_dataset(
        sources=list(sources), n_time=n_time, beam=False, **kw
    )


def test_point_source_at_new_centre_is_constant():
    ra, dec = median_meridian(_tile())
    src = PointSource(ra + 0.012, dec - 0.007, 3.0)
    ds = _tile(sources=[src])
    out = rephase(ds.chunk({"time": 4, "frequency": 16}), (src.ra, src.dec))
    # complex64 visibilities: 3 Jy × 1e-7.
    assert_allclose(out.VISIBILITY.values, 3.0, rtol=0, atol=2e-6)
    assert out.attrs["phase_center_type"] == "fixed"
    assert_allclose(out.phase_center_ra.values, src.ra)


def test_round_trip_is_identity():
    rng = np.random.default_rng(5)
    ds = _tile(sources=[PointSource(1.0, 0.6, 1.0)])
    ds["VISIBILITY"] = ds.VISIBILITY + (
        rng.standard_normal(ds.VISIBILITY.shape) * 0.1
    ).astype(np.complex64)
    ra, dec = median_meridian(ds)
    there = rephase(ds, (ra + 0.02, dec + 0.01))
    back = rephase(there, (ds.phase_center_ra.values, ds.phase_center_dec.values))
    assert_allclose(
        back.VISIBILITY.values,
        ds.VISIBILITY.values,
        rtol=0,
        atol=1e-6 * np.abs(ds.VISIBILITY.values).max(),
    )
    assert_allclose(back.UVW.values, ds.UVW.values, rtol=0, atol=1e-9)
    assert_array_equal(back.FLAG.values, ds.FLAG.values)


@pytest.mark.parametrize(
    "center, match",
    [
        ((np.nan, 0.5), "ra is not finite"),
        ((5.3, np.inf), "dec is not finite"),
        ((304.5, 33.0), "outside .*degrees"),  # degrees passed as radians
        ((np.zeros(3), np.zeros(3)), r"ra has shape \(3,\).*\(6,\)"),
        ((1.0, np.zeros((6, 2))), "dec has shape"),
    ],
)
def test_bad_radians_center_is_refused_naming_center(center, match):
    # A NaN centre made every visibility and UVW NaN with FLAG unchanged;
    # degrees and wrong-length arrays failed inside astropy / numpy.
    with pytest.raises(ConfigurationError, match=f"center.*{match}"):
        rephase(_tile(), center)


def test_per_integration_center_is_accepted():
    ds = _tile()
    out = rephase(ds, (ds.phase_center_ra.values, ds.phase_center_dec.values))
    assert out.attrs["phase_center_type"] == "per_integration"


def test_empty_time_axis_is_refused():
    with pytest.raises(SchemaError, match="no integrations"):
        rephase(_tile().isel(time=slice(0, 0)), "median_meridian")


def test_dft_at_source_gives_full_flux_each_integration():
    # The physical check of DESIGN.md §1: after rephasing to a source, a direct
    # DFT at its position gives back its flux in every integration.
    ra, dec = median_meridian(_tile())
    src = PointSource(ra - 0.01, dec + 0.004, 2.5)
    other = PointSource(ra + 0.03, dec - 0.02, 1.0)
    ds = _tile(sources=[src, other], n_time=4)
    centre = (ra, dec)
    out = rephase(ds, centre)
    site = dataset_site(ds)
    d = source_directions(src.ra, src.dec, ds.time.values, site)  # (time, 3)
    from dsa110.phasing.uvw import uvw_basis

    basis = uvw_basis(ra, dec, ds.time.values, site)
    lmn = np.einsum("tij,tj->ti", basis, d)
    l, m, n = lmn[:, 0], lmn[:, 1], lmn[:, 2]
    uvw = out.UVW.values
    phase = (
        uvw[..., 0] * l[:, None]
        + uvw[..., 1] * m[:, None]
        + uvw[..., 2] * (n[:, None] - 1)
    )
    f = out.frequency.values
    kern = np.exp(-2j * np.pi * phase[:, :, None] * f[None, None, :] / SPEED_OF_LIGHT)
    cross = (out.antenna1 != out.antenna2).values
    flux = (out.VISIBILITY.values[..., 0] * kern)[:, cross].mean(axis=(1, 2)).real
    # The other source averages down over baselines and channels (~1/sqrt(N)).
    assert_allclose(flux, 2.5, rtol=0.03)


def test_rephase_agrees_with_pyuvdata_phase():
    pyuvdata = pytest.importorskip("pyuvdata")
    from pyuvdata import Telescope, UVData

    ds = _tile(sources=[PointSource(0.0, 0.0, 0.0)], n_time=3)
    rng = np.random.default_rng(6)
    vis = (
        rng.standard_normal(ds.VISIBILITY.shape)
        + 1j * rng.standard_normal(ds.VISIBILITY.shape)
    ).astype(np.complex64)
    ds["VISIBILITY"] = (ds.VISIBILITY.dims, vis)
    ra, dec = median_meridian(ds)
    target = (ra + 0.01, dec - 0.01)
    ours = rephase(ds, target).VISIBILITY.values
    # Build pyuvdata's view: each integration phased to its own meridian (a
    # sidereal centre per time), then phase() to the target.
    site = dataset_site(ds)
    names = ds.antenna_name.values
    tel = Telescope.new(
        name="OVRO_MMA",
        location=site.earth_location,
        antenna_positions=ds.antenna_position.values - site.ecef,
        antenna_names=list(names),
        antenna_numbers=ds.antenna_number.values,
        instrument="DSA",
        antenna_diameters=ds.antenna_diameter.values,
        mount_type="alt-az",
    )
    jd = ds.time.values / 86400 + 2440587.5
    pairs = list(zip(ds.antenna1.values.tolist(), ds.antenna2.values.tolist()))
    uvd = UVData.new(
        freq_array=ds.frequency.values,
        polarization_array=["xx", "yy"],
        antpairs=pairs,
        times=jd,
        telescope=tel,
        do_blt_outer=True,
        time_axis_faster_than_bls=False,
        integration_time=12.884901888,
        channel_width=ds.channel_width.values,
        empty=True,
    )
    nt, nb = ds.sizes["time"], ds.sizes["baseline_id"]
    uvd.data_array = vis.reshape(nt * nb, ds.sizes["frequency"], 2).astype(
        np.complex128
    )
    # Declare (without rotating anything) that integration t is phased to its
    # meridian centre, as the correlator did.
    for t in range(nt):
        cat_id = uvd._add_phase_center(
            f"m{t}",
            cat_type="sidereal",
            cat_lon=ds.phase_center_ra.values[t],
            cat_lat=ds.phase_center_dec.values[t],
            cat_frame="icrs",
            cat_epoch=2000.0,
        )
        uvd.phase_center_id_array[uvd.time_array == jd[t]] = cat_id
    uvd._clear_unused_phase_centers()
    uvd._set_app_coords_helper()
    # Put our exact UVW in so that only the phasing step is compared.
    uvd.uvw_array = ds.UVW.values.reshape(-1, 3)
    uvd.phase(ra=target[0], dec=target[1], cat_name="target")
    ref = uvd.data_array.reshape(nt, nb, ds.sizes["frequency"], 2)
    # The tolerance, 1e-5 relative (measured: 3e-6, the complex64 data).
    assert_allclose(ours, ref, rtol=0, atol=1e-5 * np.abs(vis).max())
