"""The state directory and the ``dsa110 variability`` command."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dsa110.cli import main
from dsa110.variability import SimulationConfig, VariabilityStore, simulate_measurements
from dsa110.variability.store import default_state_dir


@pytest.fixture(scope="module")
def small_survey():
    cfg = SimulationConfig(
        n_sources=300,
        n_epochs=100,
        n_dips=2,
        n_spikes=2,
        n_outliers=2,
        dip_epochs=(4, 5),
    )
    table, truth, _ = simulate_measurements(cfg, rng=np.random.default_rng(77))
    return table, truth


def test_incremental_store_equals_one_pass(small_survey, tmp_path):
    table, _ = small_survey
    one = VariabilityStore(tmp_path / "one")
    one.update(table)
    inc = VariabilityStore(tmp_path / "inc")
    for lo in range(0, 100, 25):
        s = inc.update(table[(table["image_id"] >= lo) & (table["image_id"] < lo + 25)])
        assert s["n_images"] == 25
    again = inc.update(table[table["image_id"] < 10])
    assert again["n_rows"] == 0 and again["n_skipped"] == 10 * 320
    a = one.metrics()
    b = inc.metrics().loc[a.index]
    # the same measurements in another grouping: equal to 1e-12 relative
    for name in ("eta", "chi2_nu", "sigma_dev", "v", "vs_newest", "m_extreme"):
        assert_allclose(b[name].to_numpy(), a[name].to_numpy(), rtol=1e-12)
    assert len(inc.lightcurves.parts()) == 4


def test_cli_update_candidates_lightcurve(small_survey, tmp_path, capsys):
    table, truth = small_survey
    table[table["image_id"] < 50].to_parquet(tmp_path / "a.parquet")
    table[table["image_id"] >= 50].to_csv(tmp_path / "b.csv", index=False)
    state = str(tmp_path / "state")
    assert (
        main(["variability", "--state", state, "update", str(tmp_path / "a.parquet")])
        == 0
    )
    assert (
        main(
            [
                "variability",
                "update",
                "--state",
                state,
                str(tmp_path / "b.csv"),
                str(tmp_path / "a.parquet"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "16000 rows of known images skipped" in out
    assert (
        main(
            [
                "variability",
                "candidates",
                "--state",
                state,
                "--preset",
                "moderate",
                "-o",
                str(tmp_path / "c.parquet"),
            ]
        )
        == 0
    )
    cand = pd.read_parquet(tmp_path / "c.parquet")
    events = truth[(truth["event"].isin(["dip", "spike"])) & ~truth["is_reference"]]
    assert set(events["source_id"]) <= set(cand.index)
    assert {"score", "label", "is_ese"} <= set(cand.columns)
    sid = str(events["source_id"].iloc[0])
    assert (
        main(
            [
                "variability",
                "lightcurve",
                "--state",
                state,
                sid,
                "--plot",
                str(tmp_path / "lc.png"),
                "-o",
                str(tmp_path / "lc.nc"),
            ]
        )
        == 0
    )
    assert (tmp_path / "lc.png").stat().st_size > 1000
    import xarray as xr

    with xr.open_dataset(tmp_path / "lc.nc") as ds:
        assert ds.sizes["time"] == 100
    capsys.readouterr()
    # existing outputs are refused (they were silently replaced) ...
    again = ["variability", "candidates", "--state", state]
    assert main([*again, "-o", str(tmp_path / "c.parquet")]) == 1
    assert "c.parquet" in capsys.readouterr().err
    # ... unless --overwrite
    assert main([*again, "-o", str(tmp_path / "c.parquet"), "--overwrite"]) == 0
    faint = int(truth.loc[~truth["is_reference"], "true_flux"].idxmin())
    assert (
        main(
            [
                "variability",
                "lightcurve",
                "--state",
                state,
                str(faint),
                "--bin-snr",
                "20",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "n_epochs" in out and "complete" in out
    assert main(["variability", "--state", state, "candidates"]) == 0
    assert "score" in capsys.readouterr().out


def test_monitor_references(small_survey, tmp_path, capsys):
    table, truth = small_survey
    state = str(tmp_path / "state")
    VariabilityStore(state).update(table)
    series, alerts = VariabilityStore(state).monitor(column="flux_norm", window=3)
    assert series["source_id"].nunique() == 20  # every reference
    # the one reference with a 50% dip raises the normalised-flux alerts
    var_ref = truth.loc[truth["is_reference"] & (truth["event"] == "dip"), "source_id"]
    assert set(alerts["source_id"]) == set(var_ref)
    assert (
        main(
            [
                "variability",
                "monitor",
                "--state",
                state,
                "--threshold",
                "0.2",
                "-o",
                str(tmp_path / "mon.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "20 source(s) monitored" in out
    assert (tmp_path / "mon.csv").exists()


def test_cli_errors_are_clean(tmp_path, capsys):
    state = str(tmp_path / "state")
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"source_id": [1], "flux": [1.0]}).to_parquet(bad)
    assert main(["variability", "--state", state, "update", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "missing required column" in err
    assert main(["variability", "--state", state, "lightcurve", "42"]) == 1
    assert "no light curve for source 42" in capsys.readouterr().err


def test_default_state_dir(tmp_path):
    assert (
        default_state_dir({"DSA110_DATA_DIR": str(tmp_path)})
        == tmp_path / "variability"
    )
    assert default_state_dir({"XDG_DATA_HOME": str(tmp_path)}) == (
        tmp_path / "dsa110" / "variability"
    )
