"""``dsa110 simulate`` on the command line."""

import numpy as np
from numpy.testing import assert_allclose

from dsa110.cli import main
from dsa110.simulate import load_truth


def test_cli_small_preset(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "simulate",
            str(out),
            "--preset",
            "small",
            "--seed",
            "2",
            "--tiles",
            "1",
            "--dec",
            "50.5",
            "--start",
            "2026-11-24T06:00:00",
            "--source",
            "30.0,50.0,2.5,-0.7",
            "--source",
            "31.0,50.5,1.0,0.0,30",
            "--no-population",
            "--rfi",
        ]
    )
    assert rc == 0
    assert len(list(out.glob("*_sb??.hdf5"))) == 16
    (truth_path,) = out.glob("*_truth.npz")
    assert truth_path.name.startswith("2026-11-24T06:00:00")
    truth = load_truth(truth_path)
    assert_allclose(truth.pointing_dec, np.radians(50.5), rtol=1e-15)
    assert_allclose(truth.source_flux, [2.5, 1.0], rtol=1e-15)
    assert_allclose(truth.source_size, [0.0, np.radians(30 / 3600)], rtol=1e-15)
    assert truth.rfi and truth.rfi_mask.any()
    assert "tile 0" in capsys.readouterr().out


def test_cli_reports_library_errors(tmp_path, capsys):
    rc = main(["simulate", str(tmp_path), "--start", "not-a-time"])
    assert rc == 1
    assert "start" in capsys.readouterr().err
