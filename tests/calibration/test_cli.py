"""``dsa110 calibrate solve/apply`` end to end on a simulated calibrator tile."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.calibration import gains_on, load_solutions
from dsa110.catalogs.calibrators import get_calibrator
from dsa110.cli import main

K_SIGMA = 6.0


@pytest.fixture(scope="module")
def sim_tile(tmp_path_factory):
    simulate = pytest.importorskip("dsa110.simulate")
    out = tmp_path_factory.mktemp("tile")
    cal = get_calibrator("3C286")
    # 3C286 transits at 2026-11-24T17:10:48 UTC; the small preset's 6 integrations
    # starting 17:10:20 hold it.
    tiles = simulate.simulate_observation(
        out,
        preset="small",
        seed=3,
        start="2026-11-24T17:10:20",
        dec_deg=np.degrees(cal.dec),
        population=False,
        overwrite=True,
        sources=simulate.point_source(
            np.degrees(cal.ra),
            np.degrees(cal.dec),
            float(cal.flux_density(1.4e9)),
            -0.5,
        ),
    )
    return out, simulate.load_truth(tiles[0].truth_path), cal


def test_solve_recovers_simulated_gain_phases(sim_tile, tmp_path, capsys):
    tile, truth, cal = sim_tile
    sol_path = tmp_path / "sol.zarr"
    assert (
        main(
            [
                "calibrate",
                "solve",
                str(tile),
                "--out",
                str(sol_path),
                "--calibrator",
                "3C286",
                "--plots",
                str(tmp_path / "plots"),
                "--casa",
                str(tmp_path / "cal"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "transit at integration" in out
    n_ant = len(truth.antennas)
    assert f"{n_ant} of the {n_ant} antennas in the data solved" in out
    assert (tmp_path / "plots" / "bandpass.png").exists()
    assert (tmp_path / "cal.B").is_dir() and (tmp_path / "cal.G").is_dir()
    sol = load_solutions(sol_path)
    assert sol.attrs["calibrator"] == "3C286"
    numbers = truth.antennas - 1
    names = [str(a) for a in truth.antennas]
    ref = names.index(sol.attrs["refant"])
    # Truth at the solution's channels; solutions time-independent here (solint inf).
    import xarray as xr

    probe = xr.Dataset(
        coords={
            "frequency": truth.frequency,
            "time": truth.time_unix[:1],
            "polarization": sol.polarization.values,
        }
    )
    g, flag = gains_on(probe, sol)
    g = g[0][numbers]  # (antenna, frequency, pol)
    t = truth.gains[0]  # (antenna, frequency, pol), at the first integration
    assert not flag[0][numbers].any()
    # Phases relative to the reference antenna are gauge-independent.
    err = np.angle((g / g[ref]) / (t / t[ref]))
    snr = sol.BANDPASS_SNR.values[numbers]
    sigma = np.sqrt(1 / snr**2 + 1 / snr[ref] ** 2)
    sigma[ref] = np.inf
    z = err / sigma
    assert np.all(np.abs(z) < K_SIGMA)
    # The scatter matches the reported SNR (loose: the SNR is itself estimated).
    assert_allclose(np.sqrt(np.mean(z[np.isfinite(sigma)] ** 2)), 1.0, rtol=0.5)


def test_apply_writes_calibrated_zarr(sim_tile, tmp_path):
    tile, truth, cal = sim_tile
    sol_path = tmp_path / "sol.nc"
    assert (
        main(
            [
                "calibrate",
                "solve",
                str(tile),
                "--out",
                str(sol_path),
                "--calibrator",
                "3C286",
            ]
        )
        == 0
    )
    out = tmp_path / "cal.zarr"
    assert main(["calibrate", "apply", str(tile), str(sol_path), str(out)]) == 0
    from dsa110.io.zarr_store import open_zarr
    from dsa110.phasing import rephase

    ds = rephase(open_zarr(out), (cal.ra, cal.dec))
    cross = ds.antenna1.values != ds.antenna2.values
    v = ds.VISIBILITY.values[:, cross]
    # On the calibrator, phased to it: phases are noise around zero.
    ph = np.angle(v)
    amp = np.abs(v).mean()
    sigma_phase = truth.sigma_jy / amp  # per-visibility phase noise (|g| ~ 1)
    assert_allclose(np.sqrt(np.mean(ph**2)), sigma_phase, rtol=0.5)
    assert (
        main(["calibrate", "apply", str(tile), str(sol_path), str(out)]) == 1
    )  # exists


def test_solve_refuses_tile_without_transit(sim_tile, tmp_path, capsys):
    tile, truth, cal = sim_tile
    rc = main(
        [
            "calibrate",
            "solve",
            str(tile),
            "--out",
            str(tmp_path / "s.nc"),
            "--calibrator",
            "3C48",
        ]
    )
    assert rc == 1
    assert "not inside this tile" in capsys.readouterr().err


def test_solve_uv_frequency_option_reaches_the_solver(sim_tile, tmp_path):
    import json

    from dsa110.calibration import load_solutions

    tile, truth, cal = sim_tile
    sol_path = tmp_path / "sol.nc"
    args = ["calibrate", "solve", str(tile), "--out", str(sol_path)]
    assert main(args + ["--calibrator", "3C286", "--uv-frequency", "merged"]) == 0
    params = json.loads(load_solutions(sol_path).attrs["parameters"])
    assert params["uv_frequency"] == "merged"
    with pytest.raises(SystemExit):
        main(args + ["--uv-frequency", "centre"])


@pytest.mark.parametrize(
    "option, value",
    [
        ("--solint", "abc"),
        ("--solint", "60x"),
        ("--solint", "0s"),
        ("--window", "-3"),
        ("--window", "0"),
        ("--min-snr", "-1"),
        ("--fill-gaps", "-3"),
        ("--min-baselines", "-1"),
    ],
)
def test_solve_refuses_bad_option_before_any_work(tmp_path, capsys, option, value):
    args = ["calibrate", "solve", str(tmp_path / "no-such-tile")]
    with pytest.raises(SystemExit) as exit_:
        main(args + ["--out", str(tmp_path / "s.zarr"), option, value])
    assert exit_.value.code == 2
    assert f"argument {option}: {value!r}: expected" in capsys.readouterr().err


def test_solve_accepts_solint_in_seconds():
    from dsa110.cli import build_parser

    args = ["calibrate", "solve", "tile", "--out", "s.zarr", "--solint"]
    assert build_parser().parse_args(args + ["60s"]).solint == 60.0
    assert build_parser().parse_args(args + ["int"]).solint == "int"


def test_solve_refuses_out_that_is_not_zarr_or_nc(tmp_path, capsys):
    out = tmp_path / "s.txt"
    rc = main(["calibrate", "solve", str(tmp_path / "no-such-tile"), "--out", str(out)])
    assert rc == 1
    assert f"--out {out}: use a .zarr or .nc suffix" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("existing", ["cal.G", "cal.B", "plots/gains.png"])
def test_solve_refuses_any_existing_output_up_front(tmp_path, capsys, existing):
    (tmp_path / existing).parent.mkdir(exist_ok=True)
    (tmp_path / existing).mkdir()
    tile = tmp_path / "no-such-tile"  # the check comes before reading it
    args = ["calibrate", "solve", str(tile), "--out", str(tmp_path / "s.zarr")]
    args += ["--casa", str(tmp_path / "cal"), "--plots", str(tmp_path / "plots")]
    assert main(args) == 1
    assert f"{tmp_path / existing} exist" in capsys.readouterr().err
    assert not (tmp_path / "s.zarr").exists()
