"""The uv cut's metres-to-wavelengths frequency, and the gain weights with a bandpass.

``uv_frequency="channel"`` (default) cuts each channel at its own wavelength;
``"merged"``/``"subband"`` reproduce CASA (one frequency per spectral window:
the window's REF_FREQUENCY, its first channel). ``calwt=False`` weights the
gain solve as CASA ``gaincal`` does with a pre-applied bandpass. Checked here
against independent constructions of the same selection and weights; against
CASA itself in test_casa_interop.py.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.calibration import (
    solve_bandpass,
    solve_gains,
    uv_cut_frequency,
    uv_weights,
)
from dsa110.errors import ConfigurationError
from dsa110.telescope import subband_of_frequency

C = 299_792_458.0


def test_uv_cut_frequency_modes(calibrator_tile):
    ds = calibrator_tile[0]
    f = ds.frequency.values  # 3 subbands × 4 channels, ascending
    assert_array_equal(uv_cut_frequency(f), f)
    assert_array_equal(uv_cut_frequency(f, "merged"), np.full(f.size, f[0]))
    sub = uv_cut_frequency(f, "subband")
    sb = subband_of_frequency(f)
    assert np.unique(sb).size == 3
    for k in np.unique(sb):
        assert_array_equal(sub[sb == k], f[sb == k][0])
    assert_array_equal(uv_cut_frequency(f, 1.4e9), np.full(f.size, 1.4e9))
    assert_array_equal(uv_cut_frequency(f, f[::-1]), f[::-1])
    for bad in ("centre", f[:3], -1.0, [[1.4e9]]):
        with pytest.raises(ConfigurationError, match="uv_frequency"):
            uv_cut_frequency(f, bad)


def test_merged_cut_keeps_whole_baselines(calibrator_tile):
    ds = calibrator_tile[0]
    f0 = float(ds.frequency.values[0])
    uv = np.hypot(ds.UVW.values[..., 0], ds.UVW.values[..., 1])
    a1, a2 = ds.antenna1.values, ds.antenna2.values
    cut = 1000.0
    # The fixture has baselines that the per-channel cut keeps in part of the band.
    uvl = uv[..., None] * ds.frequency.values / C
    straddle = (uvl.min(axis=-1) < cut) & (uvl.max(axis=-1) >= cut)
    assert straddle.any()
    w = uv_weights(ds, uvmin_lambda=cut, uv_frequency="merged").values[..., 0]
    want = (uv * f0 / C >= cut) & (a1 != a2)[None, :]
    assert_array_equal(w > 0, np.repeat(want[..., None], w.shape[-1], axis=-1))


def test_merged_cut_equals_flagging_short_rows(calibrator_tile):
    # Selecting rows at the first channel's wavelength is the same as flagging
    # the rows shorter than the cut there and solving without a cut.
    ds, _, src, _ = calibrator_tile
    f0 = float(ds.frequency.values[0])
    uv = np.hypot(ds.UVW.values[..., 0], ds.UVW.values[..., 1])
    short = uv * f0 / C < 1000.0
    dsf = ds.copy()
    dsf["FLAG"] = ds.FLAG | short[:, :, None, None]
    a = solve_bandpass(ds, src, uv_frequency="merged", min_snr=0.0)
    b = solve_bandpass(dsf, src, uvmin_lambda=0.0, min_snr=0.0)
    assert_array_equal(a.BANDPASS_FLAG.values, b.BANDPASS_FLAG.values)
    assert_allclose(a.BANDPASS.values, b.BANDPASS.values, rtol=1e-6, atol=1e-7)
    # And differs from the per-channel cut where baselines straddle it.
    c = solve_bandpass(ds, src, min_snr=0.0)
    assert not np.allclose(a.BANDPASS.values, c.BANDPASS.values, rtol=1e-4)


def test_calwt_false_is_solving_corrected_data(calibrator_tile):
    # calwt=False: the data corrected by the bandpass, with their weights left
    # as they were, solved with no bandpass term.
    ds, _, src, _ = calibrator_tile
    bp = solve_bandpass(ds, src, min_snr=0.0)
    b = np.where(bp.BANDPASS_FLAG.values, 0, bp.BANDPASS.values).astype(complex)
    jj = b[ds.antenna1.values] * np.conj(b[ds.antenna2.values])  # (bl, f, p)
    dsc = ds.copy()
    v = ds.VISIBILITY.values / np.where(jj == 0, 1, jj)[None]
    dsc["VISIBILITY"] = (ds.VISIBILITY.dims, v.astype(np.complex64))
    dsc["FLAG"] = ds.FLAG | (jj == 0)[None]
    g_casa = solve_gains(ds, src, bandpass=bp, calwt=False, min_snr=0.0)
    g_corr = solve_gains(dsc, src, min_snr=0.0)
    assert_allclose(g_casa.GAIN.values, g_corr.GAIN.values, rtol=1e-5, atol=1e-6)
    # The default weights (|B_i B_j|², maximum likelihood) give other gains.
    g_ml = solve_gains(ds, src, bandpass=bp, min_snr=0.0)
    assert not np.allclose(g_ml.GAIN.values, g_casa.GAIN.values, rtol=1e-5, atol=1e-6)
