"""Baseline-dependent averaging: the smearing bound, the classes, the averages, the image."""

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.imaging.averaging import (
    average_by_baseline,
    averaging_factors,
    smearing_loss,
)
from dsa110.imaging.imager import ImageGeometry, Imager
from dsa110.phasing import median_meridian, rephase
from dsa110.telescope import ACTIVE_ANTENNAS
from dsa110.telescope.beam import SPEED_OF_LIGHT
from dsa110.testing import PointSource, core_antennas, make_visibility_dataset


def test_smearing_loss_is_the_average_of_the_channels_phasors():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(1, 49))
        b = rng.uniform(10, 3000)
        width = rng.uniform(1e5, 2e6)
        r = rng.uniform(0, 0.05)
        delta = 2 * np.pi * b / SPEED_OF_LIGHT * width * r
        direct = 1 - abs(np.mean(np.exp(1j * delta * np.arange(n))))
        assert_allclose(smearing_loss(n, b, width, r), direct, atol=1e-12)
    assert smearing_loss(7, 0.0, 2e5, 0.03) == 0.0


def test_factors_are_the_largest_divisors_within_the_loss():
    lengths = np.array([0.0, 20.0, 150.0, 600.0, 2600.0, 1e5])
    width, radius, max_loss = 244140.625, np.radians(2.0), 0.01
    factors = averaging_factors(lengths, 48, width, radius, max_loss)
    divisors = [d for d in range(1, 49) if 48 % d == 0]
    for b, n in zip(lengths, factors):
        assert 48 % n == 0
        assert n == 1 or smearing_loss(n, b, width, radius) <= max_loss
        larger = [d for d in divisors if d > n]
        assert all(smearing_loss(d, b, width, radius) > max_loss for d in larger)
    assert factors[0] == 48 and factors[-1] == 1  # one channel is always allowed
    assert np.all(np.diff(factors[1:]) <= 0)  # longer baselines average fewer


@pytest.fixture
def small():
    """6 baselines (one autocorrelation) × 2 integrations × 8 channels in 2 chunks."""
    rng = np.random.default_rng(5)
    lengths = np.array([0.0, 30.0, 30.0, 500.0, 2000.0, 8000.0])
    angle = rng.uniform(0, 2 * np.pi, lengths.size)
    uvw = np.zeros((2, lengths.size, 3))
    uvw[..., 0] = lengths * np.cos(angle)
    uvw[..., 1] = lengths * np.sin(angle)
    uvw[..., 2] = 5.0
    freq = 1.4e9 + 1e6 * np.arange(8)
    vis = (rng.standard_normal((2, 6, 8)) + 1j * rng.standard_normal((2, 6, 8))).astype(
        np.complex64
    )
    wgt = rng.uniform(0.5, 2.0, (2, 6, 8)).astype(np.float32)
    wgt[0, 1, :4] = 0  # a whole averaging group flagged
    wgt[1, 3, 1] = 0
    return uvw, vis, wgt, freq


def test_classes_partition_the_cross_baselines_and_average_by_weight(small):
    uvw, vis, wgt, freq = small
    chunks = (2, 6, 4)
    parts = average_by_baseline(
        da.from_array(uvw, chunks=(2, 6, 3)),
        da.from_array(vis, chunks=chunks),
        da.from_array(wgt, chunks=chunks),
        freq,
        radius_rad=0.02,
        max_loss=0.01,
    )
    baselines = np.concatenate([p.baselines for p in parts])
    assert sorted(baselines) == [1, 2, 3, 4, 5]  # the autocorrelation is left out
    assert [p.factor for p in parts] == sorted({p.factor for p in parts})
    assert len(parts) >= 3
    for p in parts:
        n, idx = p.factor, p.baselines
        w = wgt[:, idx].reshape(2, idx.size, 8 // n, n)
        v = vis[:, idx].reshape(2, idx.size, 8 // n, n)
        wsum = w.sum(-1)
        expect = (w * v).sum(-1) / np.where(wsum > 0, wsum, 1)
        assert_allclose(p.weight.compute(), wsum, rtol=1e-6)
        assert_allclose(p.vis.compute(), expect, rtol=1e-5, atol=1e-6)
        assert_allclose(p.freq, freq.reshape(-1, n).mean(1))
        assert_allclose(p.uvw.compute(), uvw[:, idx])
        # no averaging group straddles the two chunks of 4 channels
        assert 4 % n == 0
    short = next(p for p in parts if 1 in p.baselines)
    assert short.factor == 4
    assert short.vis.compute()[0, list(short.baselines).index(1), 0] == 0


def test_no_averaging_across_uneven_channels(small):
    uvw, vis, wgt, freq = small
    freq = freq.copy()
    freq[2:] += 3e6  # a gap inside the first chunk (a gap between chunks is harmless)
    parts = average_by_baseline(
        da.from_array(uvw, chunks=(2, 6, 3)),
        da.from_array(vis, chunks=(2, 6, 4)),
        da.from_array(wgt, chunks=(2, 6, 4)),
        freq,
        radius_rad=0.02,
        max_loss=0.01,
    )
    assert [p.factor for p in parts] == [1]


def _rephased_tile(sources, ants):
    """2 integrations × 4 subbands of 8 channels, no beam, at the median meridian."""
    ds = make_visibility_dataset(
        sources=sources,
        n_time=2,
        n_chan_per_subband=8,
        antennas=ants,
        subbands=range(4),
        beam=False,
    )
    return rephase(ds, "median_meridian")


def test_averaged_image_matches_the_full_one_within_the_bound():
    """A source near the image's edge keeps its flux to the smearing bound."""
    ants = np.asarray(ACTIVE_ANTENNAS)[::4] - 1
    empty = make_visibility_dataset(n_time=2, n_chan_per_subband=8, antennas=ants)
    ra0, dec0 = median_meridian(empty)
    npix, cell = 384, 10.0
    edge = np.radians(npix * cell / 2 / 3600)
    sources = [
        PointSource(ra0 + 0.8 * edge / np.cos(dec0), dec0, 1.0),
        PointSource(ra0, dec0 + 0.3 * edge, 0.5),
    ]
    ds = _rephased_tile(sources, ants)
    geometry = ImageGeometry(npix, cell, 1e-5)
    images, imagers = [], []
    for loss in (0.0, 0.01):
        imager = Imager.from_dataset(
            ds, geometry=geometry, weighting="natural", bda_loss=loss
        )
        images.append(imager.dirty())
        imagers.append(imager)
    full, averaged = imagers
    assert len(averaged.parts) > 2 and len(full.parts) == 1
    nvis = sum(np.prod(p.vis.shape) for p in averaged.parts)
    assert nvis < 0.7 * np.prod(full.parts[0].vis.shape)
    # natural weights are summed: the same total, per channel and per integration
    assert_allclose(averaged.sum_weights, full.sum_weights, rtol=1e-6)
    assert_allclose(averaged.channel_weights().sum(), full.sum_weights, rtol=1e-6)
    assert_allclose(averaged.time_weights(), full.time_weights(), rtol=1e-6)
    assert_allclose(averaged.ref_frequency, full.ref_frequency, rtol=1e-9)
    for s in sources:
        ix = npix // 2 + int(
            round((s.ra - ra0) * np.cos(dec0) / np.radians(cell / 3600))
        )
        iy = npix // 2 + int(round((s.dec - dec0) / np.radians(cell / 3600)))
        win = (slice(ix - 2, ix + 3), slice(iy - 2, iy + 3))
        ratio = images[1][win].max() / images[0][win].max()
        assert 0.99 <= ratio <= 1.0 + 1e-3, ratio
    # the model's visibilities are predicted for every part
    model = np.zeros((npix, npix), np.float32)
    model[npix // 2, npix // 2] = 1.0
    predicted = averaged.predict(model)
    assert [m.shape for m in predicted] == [p.vis.shape for p in averaged.parts]
    psf = averaged.psf()
    assert_allclose(psf[npix // 2, npix // 2], 1.0, rtol=1e-4)


@pytest.fixture(scope="module")
def drifting_source():
    """A 2 Jy source 1.2° east and 0.5° north of the centre, seen through the beam.

    Returns the Imager (natural weights, 512² × 20″), the model (the source's
    apparent flux in the image's mean beam at its pixel), the data and the
    pointings.
    """
    from dsa110.imaging.modes import _pointings
    from dsa110.imaging.pbcor import effective_primary_beam, pixel_radec

    ants = core_antennas(2)  # the core: baselines < 800 m
    empty = make_visibility_dataset(n_time=12, n_chan_per_subband=2, antennas=ants)
    ra0, dec0 = median_meridian(empty)
    npix, cell = 512, 20.0
    step = np.radians(cell / 3600)
    ix, iy = npix // 2 + 220, npix // 2 + 90  # 1.2° east, 0.5° north
    ra, dec = pixel_radec((ix - npix // 2) * step, (iy - npix // 2) * step, ra0, dec0)
    ds = make_visibility_dataset(
        sources=[PointSource(float(ra), float(dec), 2.0)],
        n_time=12,
        n_chan_per_subband=2,
        antennas=ants,
        beam=True,
    )
    ds = rephase(ds, "median_meridian")
    imager = Imager.from_dataset(
        ds, geometry=ImageGeometry(npix, cell, 1e-5), weighting="natural"
    )
    pra, pdec = _pointings(ds)
    mean = effective_primary_beam(
        npix,
        step,
        imager.phase_centre,
        pra,
        pdec,
        imager.freq,
        time_weights=imager.time_weights(),
        freq_weights=imager.channel_weights(),
    )
    model = np.zeros((npix, npix), np.float64)
    model[ix, iy] = 2.0 * mean[ix, iy]
    return imager, model, imager.parts[0].vis.compute(), (pra, pdec)


def _misfit(imager, model, data):
    (pred,) = da.compute(*imager.predict(model))
    return np.linalg.norm(pred - data) / np.linalg.norm(data)


def test_drift_beam_prediction_follows_the_beam(drifting_source):
    """A source far out drifts through the beam: block-wise predictions fit the data.

    Predicted through the mean beam the visibilities miss the drift (and the beam's
    change across the band), through the blocks' beams they follow it.
    """
    imager, model, data, (pra, pdec) = drifting_source
    imager.drift_beam = None
    without = _misfit(imager, model, data)
    plain_residual = imager.residual(model)
    imager.use_drift_beam(pra, pdec, time_chunks=1, freq_chunks=1)
    # one block: the mean beam
    assert_allclose(_misfit(imager, model, data), without, rtol=1e-6)
    residual = imager.residual(model)
    assert_allclose(residual, plain_residual, atol=1e-6 * np.abs(plain_residual).max())
    imager.use_drift_beam(pra, pdec, time_chunks=3, freq_chunks=2)
    coarse = _misfit(imager, model, data)
    imager.use_drift_beam(pra, pdec, time_chunks=6, freq_chunks=4)
    fine = _misfit(imager, model, data)
    assert without > 0.1  # the drift is visible in the data (0.158)
    # the misfit falls with the blocks' size
    assert fine < coarse < 0.5 * without
    assert fine < 0.2 * without


def test_drift_beam_interpolates_the_beam_across_the_band(drifting_source):
    """With a block per integration, what is left is the band: one beam for it
    misses the beam's slope across the band; two frequencies, interpolated, do as
    well as a beam for every channel (the data are the source through the beam of
    every channel; the rest, 0.7 %, is the same with the beam of every channel)."""
    imager, model, data, (pra, pdec) = drifting_source
    ntime, nchan = data.shape[0], imager.freq.size
    misfit = {}
    for nodes in (1, 2, nchan):
        imager.use_drift_beam(pra, pdec, time_chunks=ntime, freq_chunks=nodes)
        misfit[nodes] = _misfit(imager, model, data)
    imager.drift_beam = None
    assert misfit[1] > 0.04  # the beam's change across the band, at 1.3° (0.053)
    assert misfit[2] < 0.15 * misfit[1]  # 0.0068
    assert_allclose(misfit[2], misfit[nchan], rtol=2e-3)


def test_drift_beam_channel_weights_interpolate_linearly():
    from dsa110.imaging.imager import DriftBeamBlock

    nodes = (1.3e9, 1.4e9, 1.5e9)
    freq = np.linspace(1.25e9, 1.55e9, 31)
    blocks = [DriftBeamBlock(0, 1, nodes, k, np.ones((2, 2))) for k in range(3)]
    weights = np.array([b.channel_weights(freq) for b in blocks])
    assert_allclose(weights.sum(axis=0), 1.0, atol=1e-12)
    # any linear function of frequency is reproduced, beyond the end nodes too
    assert_allclose(weights.T @ (2.0 + 3e-9 * np.asarray(nodes)), 2.0 + 3e-9 * freq)
    assert_allclose([b.channel_weights(nodes) for b in blocks], np.eye(3), atol=1e-12)
    assert np.all(weights[2][freq <= 1.4e9] == 0)  # nothing beyond its neighbours
    one = DriftBeamBlock(0, 1, (1.4e9,), 0, np.ones((2, 2)))
    assert_allclose(one.channel_weights(freq), 1.0)


def test_drift_beam_rejects_bad_blocks_and_pointings():
    from dsa110.errors import ConfigurationError

    ds = rephase(
        make_visibility_dataset(n_time=2, n_chan_per_subband=1, subbands=range(2)),
        "median_meridian",
    )
    imager = Imager.from_dataset(ds, geometry=ImageGeometry(64, 10.0))
    with pytest.raises(ConfigurationError, match="time_chunks"):
        imager.use_drift_beam(0.0, 0.5, time_chunks=0)
    with pytest.raises(ConfigurationError, match="pointing_ra"):
        imager.use_drift_beam([0.0, 0.1, 0.2], 0.5)


def test_smearing_response_is_what_the_averaged_image_keeps():
    """The dirty image of a point source at a pixel centre, averaged over the
    unaveraged one, is the response the averaging's weights and uvw predict."""
    ants = np.asarray(ACTIVE_ANTENNAS)[::4] - 1
    empty = make_visibility_dataset(n_time=2, n_chan_per_subband=8, antennas=ants)
    ra0, dec0 = median_meridian(empty)
    npix, cell = 320, 10.0
    step = np.radians(cell / 3600)
    # (l, m) of a pixel 0.85 of the way to the edge, on its centre (SIN inverse)
    dl, dm = 136 * step, -50 * step
    dn = np.sqrt(1 - dl**2 - dm**2)
    dec = np.arcsin(dm * np.cos(dec0) + dn * np.sin(dec0))
    ra = ra0 + np.arctan2(dl, dn * np.cos(dec0) - dm * np.sin(dec0))
    ds = _rephased_tile([PointSource(ra, dec, 1.0)], ants)
    geometry = ImageGeometry(npix, cell, 1e-5)
    full, averaged = (
        Imager.from_dataset(ds, geometry=geometry, weighting="natural", bda_loss=b)
        for b in (0.0, 0.1)
    )
    pix = (npix // 2 + 136, npix // 2 - 50)
    kept = averaged.dirty()[pix] / full.dirty()[pix]
    predicted = averaged.smearing_response(np.array(dl), np.array(dm))
    assert kept < 0.995  # the averaging loses a measurable fraction here
    assert_allclose(predicted, kept, rtol=1e-4)
    assert full.smearing_response(np.array([dl]), np.array([dm])) == [1.0]
    assert_allclose(averaged.smearing_response(np.zeros(3), np.zeros(3)), 1.0)
    with pytest.raises(ValueError, match="dir_l .* dir_m"):
        averaged.smearing_response(np.zeros(3), np.zeros(2))
