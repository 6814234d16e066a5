"""Light curves, adaptive binning, transients and flux monitoring."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.errors import ConfigurationError
from dsa110.variability import (
    LightCurveStore,
    MeasurementTableError,
    SourceNotFoundError,
    adaptive_bin,
    find_transients,
    monitor_fluxes,
    plot_lightcurve,
    to_xarray,
)


def test_to_xarray_and_store_round_trip(survey, tmp_path):
    lc = survey["lc"]
    some = lc[lc["source_id"].isin([0, 1, 2, 2005])]
    store = LightCurveStore(tmp_path / "lc")
    store.append(some[some["image_id"] < 70])
    store.append(some[some["image_id"] >= 70])
    assert len(store.parts()) == 2
    ds = store.lightcurve(2)
    ref = to_xarray(some, 2)
    assert ds.sizes["time"] == 150
    assert np.all(np.diff(ds["time"].to_numpy()) > 0)
    assert_array_equal(ds["flux_norm"].to_numpy(), ref["flux_norm"].to_numpy())
    assert ds["flux_norm"].attrs["units"] == "Jy"
    # the flagged epochs are those of the images that failed QA
    bad = ~survey["corrections"].set_index("image_id")["norm_ok"]
    assert_array_equal(ds["flagged"].to_numpy(), bad.loc[ds["image_id"]].to_numpy())
    assert 0 < int(ds["flagged"].sum()) < 15
    with pytest.raises(SourceNotFoundError, match="12345"):
        store.lightcurve(12345)
    some = some.copy()
    some.loc[some["image_id"] == 3, "qa_ok"] = False
    assert bool(to_xarray(some, 2)["flagged"].to_numpy()[3])


def test_plot_writes_png(survey, tmp_path):
    lc = survey["lc"].copy()
    lc.loc[lc["image_id"] == 5, "qa_ok"] = False
    ds = to_xarray(
        lc, int(survey["truth"].query("event == 'dip'")["source_id"].iloc[0])
    )
    out = plot_lightcurve(ds, tmp_path / "lc.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))


def test_adaptive_bin_errors_are_correct():
    # a faint constant source: the binned fluxes scatter as their errors say
    rng = np.random.default_rng(21)
    n = 4000
    t = 60000.0 + np.arange(n)
    err = rng.uniform(0.5, 2.0, n)
    true = 0.8
    flux = true + err * rng.standard_normal(n)
    bins = adaptive_bin(t, flux, err, target_snr=5.0)
    pull = (bins["flux"] - true) / bins["flux_err"]
    # ~120 bins: std of the pull known to ~7%; bins are biased slightly
    # bright (they close on upward fluctuations), so allow 0.2 in the mean
    assert_allclose(np.std(pull), 1.0, atol=0.2)
    assert_allclose(np.mean(pull), 0.0, atol=0.3)
    assert bins["n_epochs"].sum() == n
    assert (bins["snr"] >= 5.0).all()  # the tail bin was merged
    assert (bins["time_start"].to_numpy()[1:] > bins["time_stop"].to_numpy()[:-1]).all()


def test_adaptive_bin_analytic():
    t = np.array([3.0, 1.0, 2.0, 4.0])  # unsorted on purpose
    f = np.array([1.0, 1.0, 1.0, 1.0])
    e = np.array([1.0, 1.0, 1.0, 1.0])
    bins = adaptive_bin(t, f, e, target_snr=1.9)
    # two epochs of SNR 1 reach sqrt(2) < 1.9; four reach 2
    assert len(bins) == 1
    assert_allclose(bins["flux_err"], 0.5, rtol=1e-15)
    assert_allclose(bins["time"], 2.5, rtol=1e-15)
    bins = adaptive_bin(t, f, e, target_snr=1.4)
    assert_array_equal(bins["n_epochs"], [2, 2])
    assert_allclose(bins["flux_err"], 1 / np.sqrt(2), rtol=1e-15)
    capped = adaptive_bin(t, f * 1e-3, e, target_snr=5, max_epochs=3)
    assert_array_equal(capped["n_epochs"], [3, 1])
    assert not capped["complete"].any()
    with pytest.raises(ConfigurationError):
        adaptive_bin(t, f, e, target_snr=0)


def _detections(rng):
    rows = []
    # a new source seen in 4 images, a single-epoch flash, a snapshot candidate,
    # and a known source in every image
    for img in range(6):
        rows.append((img, 60000.0 + img, 150.0, 20.0, 0.05, 0.005, 10.0, "image"))
        if img in (1, 2, 3, 4):
            rows.append(
                (
                    img,
                    60000.0 + img,
                    151.0 + 1e-4 * rng.standard_normal(),
                    21.0,
                    0.02,
                    0.002,
                    10.0,
                    "image",
                )
            )
    rows.append((3, 60003.0, 152.0, 22.0, 0.1, 0.01, 25.0, "image"))
    rows.append(("snap7", 60003.01, 153.0, 23.0, 0.04, 0.005, 8.0, "snapshot"))
    rows.append((5, 60005.0, 154.0, 24.0, 0.01, 0.003, 3.0, "image"))  # too faint
    return pd.DataFrame(
        rows,
        columns=["image_id", "time", "ra", "dec", "flux", "flux_err", "snr", "origin"],
    )


def test_find_transients():
    det = _detections(np.random.default_rng(0))
    catalog = pd.DataFrame({"ra": [150.0 + 1e-4], "dec": [20.0]})
    out = find_transients(det.astype({"image_id": str}), catalog, min_epochs=3)
    assert len(out) == 3
    status = dict(zip(out["ra"].round(3), out["status"]))
    assert status == {151.0: "confirmed", 152.0: "single_epoch", 153.0: "single_epoch"}
    new = out[out["status"] == "confirmed"].iloc[0]
    assert new["n_epochs"] == 4
    assert_allclose(new["significance"], 20.0, rtol=1e-12)  # sqrt(4 * 10^2)
    assert out.iloc[0]["significance"] == 25.0  # sorted by significance
    assert "snapshot" in set(out["origins"])
    # an existing cross-match column works without a catalogue
    det["catalog_id"] = np.where(det["ra"] == 150.0, 1.0, np.nan)
    assert len(find_transients(det)) == 3
    with pytest.raises(MeasurementTableError, match="snr"):
        find_transients(det.drop(columns="snr"))


def test_monitor_fluxes_alerts_on_drift():
    rng = np.random.default_rng(9)
    n = 60
    flux = 2.0 * (1 + 0.002 * rng.standard_normal(n))
    flux[40:] *= 1.1  # a 10% drift from epoch 40
    table = pd.DataFrame(
        {
            "source_id": "3C286",
            "image_id": np.arange(n),
            "time": 60000.0 + np.arange(n),
            "flux": flux,
            "flux_err": np.full(n, 0.004),
        }
    )
    series, alerts = monitor_fluxes(
        table, ["3C286"], reference_flux={"3C286": 2.0}, threshold=0.05, window=3
    )
    assert len(series) == n
    # the running median of 3 crosses the threshold at the second drifted epoch
    assert alerts["image_id"].min() == 41
    assert set(alerts["image_id"]) == set(range(41, n))
    # with its own median as the reference nothing before the drift alerts
    _, alerts = monitor_fluxes(table, ["3C286"], threshold=0.05)
    assert (alerts["image_id"] < 40).sum() == 0 or alerts.empty
    with pytest.raises(ConfigurationError):
        monitor_fluxes(table, ["3C286"], column="nope")
