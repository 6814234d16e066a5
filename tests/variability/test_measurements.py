import numpy as np
import pandas as pd
import pytest

from dsa110.errors import FileFormatError
from dsa110.variability import (
    REQUIRED_COLUMNS,
    MeasurementTableError,
    read_measurements,
    validate_measurements,
)


def _table(n=4):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "source_id": np.arange(n),
            "image_id": ["img0"] * n,
            "time": np.full(n, 60000.5),
            "flux": rng.normal(1.0, 0.1, n),
            "flux_err": np.full(n, 0.01),
            "ra": rng.uniform(0, 360, n),
            "dec": rng.uniform(-30, 90, n),
            "snr": np.full(n, 100.0),
        }
    )


def test_valid_table_gets_defaults():
    out = validate_measurements(_table())
    assert out["qa_ok"].dtype == bool and out["qa_ok"].all()
    assert out["is_reference"].dtype == bool and not out["is_reference"].any()
    assert out["flux"].dtype == np.float64


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_column_is_named(column):
    with pytest.raises(MeasurementTableError, match=column) as info:
        validate_measurements(_table().drop(columns=column), source="x.parquet")
    assert "x.parquet" in str(info.value)
    assert isinstance(info.value, FileFormatError)
    assert info.value.field == column


def test_ill_typed_column_is_named():
    t = _table()
    t["flux"] = ["a", "b", "c", "d"]
    with pytest.raises(MeasurementTableError, match="'flux' has dtype"):
        validate_measurements(t)
    t = _table()
    t["qa_ok"] = [1.0, 0.0, 1.0, 1.0]
    with pytest.raises(MeasurementTableError, match="'qa_ok'"):
        validate_measurements(t)


def test_bad_values():
    t = _table()
    t.loc[2, "flux_err"] = 0.0
    with pytest.raises(MeasurementTableError, match="flux_err"):
        validate_measurements(t)
    t = _table()
    t.loc[1, "flux"] = np.nan
    with pytest.raises(MeasurementTableError, match="non-finite"):
        validate_measurements(t)
    # ... unless the row is flagged: what could not be measured (blanked)
    t["qa_ok"] = [True, False, True, True]
    t.loc[1, "flux_err"] = np.nan
    out = validate_measurements(t)
    assert np.isnan(out.loc[1, "flux"]) and not out.loc[1, "qa_ok"]
    t.loc[2, "time"] = np.nan  # only the flux and its error may be missing
    with pytest.raises(MeasurementTableError, match="'time' has 1 non-finite"):
        validate_measurements(t)
    t = pd.concat([_table(), _table().iloc[:1]])
    with pytest.raises(MeasurementTableError, match="duplicate"):
        validate_measurements(t)
    with pytest.raises(MeasurementTableError, match="DataFrame"):
        validate_measurements({"flux": [1.0]})


def test_read_parquet_and_csv(tmp_path):
    t = _table()
    t.to_parquet(tmp_path / "a.parquet")
    t2 = t.assign(image_id="img1")
    t2.to_csv(tmp_path / "b.csv", index=False)
    out = read_measurements([tmp_path / "a.parquet", tmp_path / "b.csv"])
    assert len(out) == 8
    np.testing.assert_array_equal(out["flux"].to_numpy()[:4], t["flux"].to_numpy())


def test_read_bad_file_names_it(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(MeasurementTableError, match="bad.parquet"):
        read_measurements(bad)
    t = _table().drop(columns="snr")
    t.to_parquet(tmp_path / "nosnr.parquet")
    with pytest.raises(MeasurementTableError, match=r"nosnr.parquet.*snr"):
        read_measurements(tmp_path / "nosnr.parquet")
