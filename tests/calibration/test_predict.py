"""The DFT prediction kernel: analytic, brute force, dask, CUDA simulator."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.calibration import GaussianSource, predict_model
from dsa110.calibration import cuda as ccuda
from dsa110.calibration.kernels import predict_vis
from dsa110.testing import PointSource, make_visibility_dataset

C = 299_792_458.0


def _random_inputs(rng, n_time=3, n_bl=7, n_chan=5, n_src=4, dtype=np.float64):
    uvw = (rng.standard_normal((n_time, n_bl, 3)) * [800.0, 800.0, 30.0]).astype(dtype)
    freq = np.linspace(1.31e9, 1.50e9, n_chan)
    ll = rng.uniform(-0.03, 0.03, (n_time, n_src))
    m = rng.uniform(-0.03, 0.03, (n_time, n_src))
    lmn = np.stack([ll, m, np.sqrt(1 - ll**2 - m**2)], axis=-1)
    flux = rng.uniform(0.5, 5.0, n_src)
    alpha = rng.uniform(-1.0, 0.5, n_src)
    shape = np.stack(
        [
            rng.uniform(1e-5, 1e-4, n_src),
            rng.uniform(1e-6, 5e-5, n_src),
            rng.uniform(0, np.pi, n_src),
        ],
        axis=-1,
    )
    beam = rng.uniform(0.2, 1.0, (n_time, n_src, n_chan))
    return uvw, freq, lmn, flux, alpha, shape, beam


def _numpy_dft(uvw, freq, lmn, flux, alpha, shape, beam, ref=1.4e9):
    """Direct NumPy evaluation of the same sum, vectorised."""
    uvw = uvw.astype(np.float64)
    lam = C / freq  # (f,)
    u = uvw[..., 0][:, :, None, None] / lam  # (t, b, 1, f)
    v = uvw[..., 1][:, :, None, None] / lam
    w = uvw[..., 2][:, :, None, None] / lam
    l_ = lmn[:, None, :, 0, None]
    m_ = lmn[:, None, :, 1, None]
    n_ = lmn[:, None, :, 2, None]
    s = flux[None, None, :, None] * (freq / ref) ** alpha[None, None, :, None]
    s = s * beam[:, None]
    sig = shape[:, :2] / np.sqrt(8 * np.log(2))
    pa = shape[:, 2][None, None, :, None]
    umaj = u * np.sin(pa) + v * np.cos(pa)
    umin = u * np.cos(pa) - v * np.sin(pa)
    s = s * np.exp(
        -2
        * np.pi**2
        * (
            sig[:, 0][None, None, :, None] ** 2 * umaj**2
            + sig[:, 1][None, None, :, None] ** 2 * umin**2
        )
    )
    return np.sum(s * np.exp(2j * np.pi * (u * l_ + v * m_ + w * (n_ - 1))), axis=2)


def test_point_source_at_phase_centre_is_its_flux():
    rng = np.random.default_rng(0)
    uvw, freq, *_ = _random_inputs(rng)
    lmn = np.zeros((uvw.shape[0], 1, 3))
    lmn[..., 2] = 1.0
    vis = predict_vis(uvw, freq, lmn, np.array([2.5]), spectral_index=np.array([-0.7]))
    expected = 2.5 * (freq / 1.4e9) ** -0.7
    # Analytic: no phase, power-law flux; exact up to double rounding.
    assert_allclose(vis, np.broadcast_to(expected, vis.shape), rtol=1e-12)


def test_matches_direct_numpy_dft():
    rng = np.random.default_rng(1)
    uvw, freq, lmn, flux, alpha, shape, beam = _random_inputs(rng)
    got = predict_vis(
        uvw, freq, lmn, flux, spectral_index=alpha, shape=shape, beam=beam
    )
    ref = _numpy_dft(uvw, freq, lmn, flux, alpha, shape, beam)
    assert got.dtype == np.complex128
    # The accuracy target (1e-6); both are float64 so far better in fact.
    assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("n_src", [1, 5, 6, 23])
@pytest.mark.parametrize("even", [True, False])
def test_both_loop_orders_match_direct_numpy_dft(n_src, even):
    """Few sources on even channels step each source along the channels; more
    sources, or uneven channels, step all sources per channel (vectorized)."""
    rng = np.random.default_rng(10 + n_src)
    uvw, _, lmn, flux, alpha, shape, beam = _random_inputs(
        rng, n_time=2, n_bl=5, n_chan=48, n_src=n_src
    )
    freq = 1.31e9 + 244e3 * np.arange(48.0)
    if not even:
        freq[24:] += 7.3e6  # two subbands apart
    for shp in (None, shape):
        got = predict_vis(
            uvw, freq, lmn, flux, spectral_index=alpha, shape=shp, beam=beam
        )
        ref = _numpy_dft(
            uvw,
            freq,
            lmn,
            flux,
            alpha,
            np.zeros_like(shape) if shp is None else shp,
            beam,
        )
        # float64 throughout; the recurrence over 48 channels adds ~48 ulp
        assert_allclose(got, ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_cos_sin_without_library_calls_matches_numpy():
    """The DFT's vectorizable cos/sin: range reduction to [-pi, pi] in float64
    costs ~|x| ulp; within that (and 1e-13 near zero) of NumPy's libm."""
    from dsa110.calibration.kernels import _cos_sin

    x = np.concatenate(
        [
            np.random.default_rng(3).uniform(-3e3, 3e3, 20000),
            np.linspace(-7.0, 7.0, 20001),  # every quadrant, both signs
            [0.0, np.pi / 4, np.pi / 2, np.pi, -np.pi, 1e5 + 0.3],
        ]
    )
    c, s = np.array([_cos_sin(v) for v in x]).T
    bound = np.maximum(np.abs(x), 100.0) * 1e-15
    assert np.all(np.abs(c - np.cos(x)) <= bound)
    assert np.all(np.abs(s - np.sin(x)) <= bound)


def test_precision_follows_uvw_dtype():
    rng = np.random.default_rng(2)
    uvw, freq, lmn, flux, *_ = _random_inputs(rng, dtype=np.float32)
    out = predict_vis(uvw, freq, lmn, flux)
    assert out.dtype == np.complex64
    buf = np.ones(out.shape, np.complex128)
    predict_vis(uvw, freq, lmn, flux, out=buf)
    # out= accumulates: 1 + V, to complex64 rounding of V.
    assert_allclose(buf - 1, out, rtol=1e-6, atol=1e-5)


def test_cuda_kernel_equals_cpu_under_simulator():
    rng = np.random.default_rng(3)
    uvw, freq, lmn, flux, alpha, shape, beam = _random_inputs(
        rng, n_time=2, n_bl=3, n_chan=2, n_src=2
    )
    cpu = predict_vis(
        uvw, freq, lmn, flux, spectral_index=alpha, shape=shape, beam=beam
    )
    gpu = ccuda.predict_vis(
        uvw, freq, lmn, flux, spectral_index=alpha, shape=shape, beam=beam
    )
    # float64 on both: identical operations up to libm differences.
    assert_allclose(gpu, cpu, rtol=1e-12, atol=1e-12)
    gpu32 = ccuda.predict_vis(uvw.astype(np.float32), freq, lmn, flux)
    assert gpu32.dtype == np.complex64


def test_docstrings_name_their_array_types():
    assert "numpy.ndarray" in predict_vis.__doc__
    assert "cupy.ndarray" in ccuda.predict_vis.__doc__


@pytest.fixture(scope="module")
def sky_ds():
    ds0 = make_visibility_dataset(
        sources=[], n_time=1, n_chan_per_subband=1, subbands=[0]
    )
    ra0, dec0 = float(ds0.phase_center_ra[0]), float(ds0.phase_center_dec[0])
    sky = [
        PointSource(ra0 + 0.004, dec0 - 0.01, 3.0, -0.8),
        PointSource(ra0 - 0.02, dec0 + 0.02, 8.0, 0.2),
    ]
    ds = make_visibility_dataset(
        sources=sky, n_time=3, n_chan_per_subband=2, subbands=[0, 5, 11]
    )
    return ds, sky


def test_predict_model_matches_direct_evaluation(sky_ds):
    """Against dsa110.testing's independent evaluation (delays from ECEF vectors)."""
    ds, sky = sky_ds
    model = predict_model(ds, sky).values
    data = ds.VISIBILITY.values[..., 0].astype(np.complex128)
    # complex64 storage of the reference: relative 1e-6 of the peak.
    assert_allclose(model, data, rtol=0, atol=1e-6 * np.abs(data).max())


def test_predict_model_dask_equals_numpy_on_uneven_chunks(sky_ds):
    ds, sky = sky_ds
    whole = predict_model(ds, sky).values
    chunked = predict_model(
        ds.chunk({"time": 2, "frequency": 4, "baseline_id": 17}), sky
    )
    assert chunked.data.chunks[2] == (4, 2)
    assert_allclose(chunked.values, whole, rtol=0, atol=0)


def test_gaussian_source_is_attenuated_on_long_baselines(sky_ds):
    ds, sky = sky_ds
    p = sky[0]
    g = GaussianSource(
        p.ra,
        p.dec,
        p.flux,
        major=2e-4,
        minor=1e-4,
        pa=0.3,
        spectral_index=p.spectral_index,
    )
    pt = predict_model(ds, [p]).values
    ga = predict_model(ds, [g]).values
    ratio = np.abs(ga) / np.abs(pt)
    uv = np.hypot(ds.UVW.values[..., 0], ds.UVW.values[..., 1])
    long = uv > 1000
    # Visibility amplitude of a Gaussian falls with baseline length, and is 1 on autos.
    assert ratio[long].max() < ratio[uv < 1].min()
    assert_allclose(ratio[uv < 1e-6], 1.0, rtol=1e-12)
