"""Solution tables: zarr/netCDF round trips, CASA export, QA and plots."""

import json
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.calibration import (
    apply_calibration,
    export_casa_table,
    load_solutions,
    make_solutions,
    plot_bandpass,
    plot_gains,
    qa_metrics,
    save_solutions,
    solve_calibration,
)
from dsa110.errors import CorruptFileError, FileFormatError, OutputExistsError


@pytest.fixture(scope="module")
def solutions(calibrator_tile):
    ds, truth, src, sigma = calibrator_tile
    return solve_calibration(ds, src, solint="int", delay=True)


def test_provenance_and_qa(solutions, calibrator_tile, sim):
    ds = calibrator_tile[0]
    a = solutions.attrs
    assert a["refant"] == "103"
    assert a["code_version"].startswith("dsa110 ")
    assert json.loads(a["parameters"])["min_snr"] == 5.0
    assert a["time_start"] == ds.time.values[0] and a["time_end"] == ds.time.values[-1]
    ants = np.array(sim.ANTENNAS)
    assert_array_equal(solutions.QA_FLAG_FRACTION.values[ants], 0.0)
    others = np.setdiff1d(np.arange(117), ants)
    assert_array_equal(solutions.QA_FLAG_FRACTION.values[others], 1.0)
    # Gains after the bandpass: phase scatter over time is thermal, ~ 1/SNR.
    snr = solutions.QA_MEDIAN_SNR.values[ants]
    assert np.all(solutions.QA_GAIN_PHASE_SCATTER.values[ants] < 5.0 / snr)
    q = qa_metrics(solutions)
    assert set(q.data_vars) >= {"QA_FLAG_FRACTION", "QA_MEDIAN_SNR"}


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_round_trip(solutions, tmp_path, suffix):
    path = tmp_path / f"sol{suffix}"
    save_solutions(solutions, path)
    back = load_solutions(path)
    for name in ("BANDPASS", "BANDPASS_FLAG", "GAIN", "GAIN_FLAG", "GAIN_SNR"):
        assert back[name].dtype == solutions[name].dtype, name
        assert_array_equal(back[name].values, solutions[name].values)
    assert_array_equal(back.gain_time.values, solutions.gain_time.values)
    assert_array_equal(back.antenna_name.values, solutions.antenna_name.values)
    assert back.attrs["parameters"] == solutions.attrs["parameters"]
    with pytest.raises(OutputExistsError):
        save_solutions(solutions, path)
    save_solutions(solutions, path, overwrite=True)
    assert not list(tmp_path.glob(".*tmp"))


def test_load_rejects_non_solutions(tmp_path):
    bad = tmp_path / "x.nc"
    bad.write_text("not netcdf")
    with pytest.raises(FileFormatError, match="x.nc"):
        load_solutions(bad)


def test_loaded_solutions_apply_identically(solutions, calibrator_tile, tmp_path):
    ds = calibrator_tile[0]
    save_solutions(solutions, tmp_path / "s.nc")
    a = apply_calibration(ds, solutions).VISIBILITY.values
    b = apply_calibration(ds, load_solutions(tmp_path / "s.nc")).VISIBILITY.values
    assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["B", "G"])
def test_casa_table_export_reads_back(solutions, tmp_path, kind):
    tables = pytest.importorskip("casacore.tables")
    path = export_casa_table(
        solutions, tmp_path / f"cal.{kind}", kind=kind, ms_name="x.ms", n_chan_per_spw=4
    )
    n_ant = solutions.sizes["antenna"]
    with tables.table(str(path), ack=False) as t:
        assert t.info()["type"] == "Calibration"
        assert t.info()["subType"] == f"{kind} Jones"
        kw = t.getkeywords()
        assert kw["VisCal"] == f"{kind} Jones" and kw["ParType"] == "Complex"
        assert kw["MSName"] == "x.ms" and kw["PolBasis"] == "unknown"
        for sub in ("ANTENNA", "FIELD", "SPECTRAL_WINDOW", "OBSERVATION", "HISTORY"):
            assert kw[sub].startswith("Table: ") and kw[sub].endswith(sub)
        for col in (
            "CPARAM",
            "FLAG",
            "TIME",
            "ANTENNA1",
            "ANTENNA2",
            "SPECTRAL_WINDOW_ID",
            "FIELD_ID",
            "INTERVAL",
            "SCAN_NUMBER",
            "OBSERVATION_ID",
            "PARAMERR",
            "SNR",
        ):
            assert col in t.colnames()
        cp = t.getcol("CPARAM")
        flag = t.getcol("FLAG")
        ant = t.getcol("ANTENNA1")
        spw = t.getcol("SPECTRAL_WINDOW_ID")
        assert_array_equal(t.getcol("ANTENNA2"), 102)  # refant "103"
        time = t.getcol("TIME")
    n_spw = solutions.sizes["frequency"] // 4
    if kind == "B":
        assert cp.shape == (n_spw * n_ant, 4, 2)
        # CASA's gains are the conjugates of ours (opposite sign convention).
        for s in range(n_spw):
            rows = spw == s
            assert_array_equal(ant[rows], np.arange(n_ant))
            assert_array_equal(
                cp[rows], np.conj(solutions.BANDPASS.values[:, 4 * s : 4 * s + 4])
            )
            assert_array_equal(
                flag[rows], solutions.BANDPASS_FLAG.values[:, 4 * s : 4 * s + 4]
            )
    else:
        n_t = solutions.sizes["gain_time"]
        assert cp.shape == (n_t * n_spw * n_ant, 1, 2)
        g = cp.reshape(n_t, n_spw, n_ant, 2)
        for s in range(n_spw):
            assert_array_equal(g[:, s], np.conj(solutions.GAIN.values))
        # MJD seconds.
        assert_allclose(
            np.unique(time) - 40587 * 86400.0, solutions.gain_time.values, atol=1e-6
        )
    with tables.table(str(path / "SPECTRAL_WINDOW"), ack=False) as s:
        assert s.nrows() == n_spw
    with pytest.raises(OutputExistsError):
        export_casa_table(solutions, path, kind=kind)


def test_casa_tables_record_each_parts_own_refant(solutions, tmp_path):
    """refant="auto" may pick different antennas for the bandpass and gains."""
    tables = pytest.importorskip("casacore.tables")
    bp = solutions[["BANDPASS", "BANDPASS_FLAG", "BANDPASS_SNR"]]
    gains = solutions[["GAIN", "GAIN_FLAG", "GAIN_SNR"]]
    bp.attrs, gains.attrs = {"refant": "103"}, {"refant": "104"}
    sol = make_solutions(bp, gains, qa=False)
    assert sol.attrs["refant"] == "103,104"
    assert sol.attrs["bandpass_refant"] == "103"
    assert sol.attrs["gain_refant"] == "104"
    for kind, number in (("B", 102), ("G", 103)):
        path = export_casa_table(sol, tmp_path / f"cal.{kind}", kind=kind)
        with tables.table(str(path), ack=False) as t:
            assert_array_equal(t.getcol("ANTENNA2"), number)


def test_casa_bandpass_table_read_by_pyuvdata(solutions, tmp_path):
    """An independent reader: pyuvdata's MS-cal reader undoes the conjugation."""
    pytest.importorskip("casacore.tables")
    uvcal = pytest.importorskip("pyuvdata").UVCal
    path = export_casa_table(solutions, tmp_path / "cal.B", kind="B")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = uvcal.from_file(str(path), file_type="ms")
    assert cal.gain_convention == "divide"
    assert list(cal.jones_array) == [-5, -6]
    # pyuvdata: (antenna, freq, time, jones); its "divide" convention is ours.
    assert_allclose(
        cal.gain_array[:, :, 0, :], solutions.BANDPASS.values, rtol=1e-7, atol=0
    )


def test_plots_written(solutions, tmp_path):
    p1 = plot_bandpass(solutions, tmp_path / "bp.png")
    p2 = plot_gains(solutions, tmp_path / "g.png")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _tiny_table(tmp_path):
    """A two-antenna, 64-channel bandpass table saved to zarr."""
    import xarray as xr

    sol = xr.Dataset(
        {
            "BANDPASS": (
                ("antenna", "frequency", "polarization"),
                np.full((2, 64, 2), 1 + 0.5j, np.complex64),
            ),
            "BANDPASS_FLAG": (
                ("antenna", "frequency", "polarization"),
                np.zeros((2, 64, 2), bool),
            ),
        },
        coords={"antenna": [0, 1], "frequency": np.linspace(1.3e9, 1.5e9, 64)},
    )
    path = tmp_path / "sol.zarr"
    save_solutions(sol, path)
    return path


def test_load_refuses_zarr_table_with_missing_chunk(tmp_path):
    path = _tiny_table(tmp_path)
    (path / "BANDPASS" / "0.0.0").unlink()  # zarr would read it as zeros
    with pytest.raises(CorruptFileError, match=r"sol.zarr \[BANDPASS\].*missing"):
        load_solutions(path)


def _truncate(data):
    return data[: len(data) // 2]


def _garble(data):
    return data[:16] + b"\xff" * (len(data) - 16)


@pytest.mark.parametrize("damage", [_truncate, _garble])
def test_load_refuses_zarr_table_with_damaged_chunk(tmp_path, damage):
    path = _tiny_table(tmp_path)
    chunk = path / "BANDPASS_FLAG" / "0.0.0"
    chunk.write_bytes(damage(chunk.read_bytes()))
    with pytest.raises(CorruptFileError, match=r"sol.zarr \[BANDPASS_FLAG\].*decode"):
        load_solutions(path)
