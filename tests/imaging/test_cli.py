"""The ``dsa110 image`` and ``dsa110 mosaic`` commands on a small zarr dataset."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.cli import main
from dsa110.phasing import median_meridian
from dsa110.testing import PointSource, core_antennas, make_visibility_dataset


def test_image_and_mosaic_commands(tmp_path, capsys):
    zarr_store = pytest.importorskip("dsa110.io.zarr_store")
    ants = core_antennas(step=4)
    ra0, dec0 = median_meridian(make_visibility_dataset(n_time=2, antennas=ants))
    ds = make_visibility_dataset(
        sources=[PointSource(ra0, dec0, 1.0)],
        n_time=2,
        n_chan_per_subband=1,
        antennas=ants,
        noise_sigma=0.01,
    )
    store = tmp_path / "tile.zarr"
    zarr_store.write_zarr(ds, store)
    prefix = tmp_path / "img"
    rc = main(
        [
            "image",
            str(store),
            str(prefix),
            "--size",
            "128",
            "--cell",
            "20",
            "--niter",
            "300",
            "--no-png",
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "beam" in out and "components" in out
    from dsa110.imaging.fits import read_fits_image

    img, header = read_fits_image(f"{prefix}-image-pb.fits")
    assert img.shape == (128, 128) and header["CTYPE1"] == "RA---SIN"
    # the 1 Jy source at the phase centre, corrected for the primary beam
    assert_allclose(
        np.nanmax(img[60:68, 60:68]), 1.0, rtol=0.03
    )  # noise + pixelization
    pytest.importorskip("reproject")
    rc = main(["mosaic", f"{prefix}-image-pb.fits", str(tmp_path / "mos")])
    assert rc == 0
    mos, _ = read_fits_image(tmp_path / "mos.fits")
    assert_allclose(
        np.nanmax(mos), np.nanmax(img), rtol=0.02
    )  # one tile: the same image


def test_image_command_reports_bad_input(tmp_path, capsys):
    rc = main(["image", str(tmp_path / "missing.hdf5"), str(tmp_path / "x")])
    assert rc == 1
    assert "no such file" in capsys.readouterr().err


def test_image_command_refuses_negative_threads(tmp_path, capsys):
    args = ["image", str(tmp_path / "in.hdf5"), str(tmp_path / "x"), "--threads", "-2"]
    rc = main(args)
    assert rc == 1
    assert "--threads=-2" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written
