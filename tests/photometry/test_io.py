import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dsa110.cli import main
from dsa110.errors import FileFormatError, OutputExistsError
from dsa110.photometry.image import read_image, write_image
from dsa110.photometry.regions import write_casa_regions, write_ds9_regions, write_table
from dsa110.photometry.simulate import simulate_image
from tests.photometry.conftest import BEAM, CELL, CENTRE, random_positions


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".fits"])
def test_table_round_trip(tmp_path, ext):
    df = pd.DataFrame({"ra": [1.5, 2.5], "dec": [-3.0, 4.0], "flux": [0.1, 0.2]})
    path = write_table(df, tmp_path / f"t{ext}")
    from dsa110.catalogs.surveys import read_table

    back = read_table(path)
    assert_allclose(back["flux"], df["flux"], rtol=0)
    with pytest.raises(OutputExistsError):
        write_table(df, path)


def test_region_files(tmp_path):
    df = pd.DataFrame(
        {
            "ra": [10.0, 11.0],
            "dec": [20.0, 21.0],
            "maj": [20.0, 30.0],
            "min": [10.0, 15.0],
            "pa": [0.0, 45.0],
        }
    )
    ds9 = write_ds9_regions(df, tmp_path / "a.reg").read_text().splitlines()
    assert ds9[2] == "fk5" and len(ds9) == 5
    assert ds9[4].startswith('ellipse(11.0000000,21.0000000,15.000",7.500",135.00)')
    crtf = write_casa_regions(df, tmp_path / "a.crtf").read_text().splitlines()
    assert crtf[0].startswith("#CRTF") and "45.00deg" in crtf[2]


def test_fits_image_round_trip_and_errors(tmp_path):
    img = simulate_image(
        (64, 48), beam=BEAM, rms=1e-3, cell_arcsec=CELL, centre=CENTRE, rng=1
    )
    path = write_image(img, tmp_path / "i.fits")
    back = read_image(path)
    assert_allclose(back.data, img.data, rtol=0)
    assert back.beam == img.beam and back.frequency == img.frequency
    from astropy.io import fits

    fits.PrimaryHDU(np.zeros((4, 4)), header=img.wcs.to_header()).writeto(
        tmp_path / "nobeam.fits"
    )
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(tmp_path / "nowcs.fits")
    with pytest.raises(FileFormatError, match="CTYPE"):
        read_image(tmp_path / "nowcs.fits")
    with pytest.raises(FileFormatError, match="BMAJ"):
        read_image(tmp_path / "nobeam.fits")


def test_cli_sources_and_photometry(tmp_path, capsys):
    rng = np.random.default_rng(2)
    ra, dec = random_positions(15, (200, 200), rng, min_sep_pix=15)
    flux = rng.uniform(0.05, 0.2, 15)
    img = simulate_image(
        (200, 200),
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux,
        rms=2e-3,
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=rng,
    )
    write_image(img, tmp_path / "img.fits")
    assert (
        main(
            [
                "sources",
                "find",
                str(tmp_path / "img.fits"),
                "-o",
                str(tmp_path / "s.parquet"),
                "--ds9",
                str(tmp_path / "s.reg"),
                "--crtf",
                str(tmp_path / "s.crtf"),
            ]
        )
        == 0
    )
    found = pd.read_parquet(tmp_path / "s.parquet")
    assert len(found) == 15
    # an existing region file: refused before the table is written
    args = ["sources", "find", str(tmp_path / "img.fits"), "-o"]
    args += [str(tmp_path / "new.csv"), "--ds9", str(tmp_path / "s.reg")]
    assert main(args) == 1
    assert not (tmp_path / "new.csv").exists()
    pd.DataFrame({"RA": ra, "Dec": dec, "name": [f"s{i}" for i in range(15)]}).to_csv(
        tmp_path / "pos.csv", index=False
    )
    assert (
        main(
            [
                "photometry",
                str(tmp_path / "img.fits"),
                "--catalog",
                str(tmp_path / "pos.csv"),
                "-o",
                str(tmp_path / "f.csv"),
            ]
        )
        == 0
    )
    forced = pd.read_csv(tmp_path / "f.csv")
    z = (forced["flux"] - flux) / forced["flux_err"]
    assert np.all(np.abs(z) < 4)
    # a catalog without positions is a clean error, not a traceback
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    assert (
        main(
            [
                "photometry",
                str(tmp_path / "img.fits"),
                "--catalog",
                str(tmp_path / "bad.csv"),
            ]
        )
        == 1
    )
    assert "bad.csv" in capsys.readouterr().err


def test_cli_photometry_with_the_primary_beam(tmp_path):
    from astropy.io import fits

    from dsa110.photometry.forced import beam_at

    rng = np.random.default_rng(5)
    shape = (160, 160)
    ra, dec = random_positions(8, shape, rng, min_sep_pix=20)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    pb = np.exp(-((xx + 200.0) ** 2 + (yy - 80.0) ** 2) / (2 * 250.0**2))
    wcs_img = simulate_image(shape, beam=BEAM, rms=0.0, cell_arcsec=CELL, centre=CENTRE)
    x, y = wcs_img.wcs.world_to_pixel_values(ra, dec)
    flux = rng.uniform(0.05, 0.2, 8)
    apparent = simulate_image(
        shape,
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux * beam_at(pb, x, y, np.ones(8, bool)),
        rms=1e-4,
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=rng,
    )
    write_image(apparent, tmp_path / "img.fits")
    fits.PrimaryHDU(pb, header=apparent.header()).writeto(tmp_path / "pb.fits")
    pd.DataFrame({"ra": ra, "dec": dec}).to_csv(tmp_path / "pos.csv", index=False)
    args = ["photometry", str(tmp_path / "img.fits"), "--catalog"]
    args += [str(tmp_path / "pos.csv"), "-o", str(tmp_path / "f.csv")]
    assert main(args + ["--pb", str(tmp_path / "pb.fits"), "--pb-limit", "0.1"]) == 0
    forced = pd.read_csv(tmp_path / "f.csv")
    # beams at the apparent flux, corrected at each source: the true fluxes
    # within the (beam-corrected) errors
    z = (forced["flux"] - flux) / forced["flux_err"]
    assert np.all(np.abs(z) < 4)
    assert_allclose(forced["flux"], flux, rtol=0.02)
    assert (forced["pb"] < 0.9).all()
    # a beam of another shape is named, not broadcast
    fits.PrimaryHDU(pb[:-1]).writeto(tmp_path / "small.fits")
    bad = args + ["--pb", str(tmp_path / "small.fits"), "--overwrite"]
    assert main(bad) != 0
    assert main(args + ["--pb-limit", "0.1", "--overwrite"]) != 0


@pytest.mark.parametrize(
    "bunit, factor",
    [("JY/BEAM", 1.0), ("mJy/beam", 1e-3), ("", 1.0), ("JY/PIXEL", None), ("K", None)],
)
def test_read_image_checks_the_unit(tmp_path, bunit, factor):
    """An image in mJy/beam is converted; one in Jy/pixel or K is refused
    (both were measured as if in Jy/beam)."""
    from astropy.io import fits

    img = simulate_image((32, 32), beam=BEAM, rms=1.0, cell_arcsec=CELL, centre=CENTRE)
    write_image(img, tmp_path / "img.fits")
    with fits.open(tmp_path / "img.fits", mode="update") as hdul:
        if bunit:
            hdul[0].header["BUNIT"] = bunit
        else:
            del hdul[0].header["BUNIT"]
    if factor is None:
        with pytest.raises(FileFormatError, match="BUNIT"):
            read_image(tmp_path / "img.fits")
    else:
        back = read_image(tmp_path / "img.fits")
        assert_allclose(back.data, img.data * factor, rtol=1e-6)
