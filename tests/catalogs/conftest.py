"""Small catalog files in each survey's published column format, written in-process."""

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table


@pytest.fixture
def truth():
    """Three sources: positions (deg), fluxes (mJy), deconvolved sizes (arcsec)."""
    return pd.DataFrame(
        {
            "ra": [10.68470833, 187.2779154, 359.99],
            "dec": [41.26875, 2.0523883, -30.5],
            "sint": [12.5, 35000.0, 3.1],
            "speak": [11.0, 30000.0, 3.0],
            "maj": [0.0, 14.2, 5.0],
            "min": [0.0, 9.1, 0.0],
            "pa": [np.nan, 61.0, 12.0],
        }
    )


def nvss_table(t):
    """VizieR VIII/65/nvss columns: sexagesimal strings, mJy, arcsec, '<' limits."""
    return Table(
        {
            "NVSS": ["004244+411607", "122906+020308", "235957-303000"],
            "RAJ2000": ["00 42 44.33", "12 29 06.70", "23 59 57.60"],
            "DEJ2000": ["+41 16 07.5", "+02 03 08.6", "-30 30 00.0"],
            "e_RAJ2000": [0.05, 0.01, 0.30],
            "e_DEJ2000": [0.7, 0.2, 4.0],
            "S1.4": t["sint"].to_numpy(),
            "e_S1.4": [0.5, 1000.0, 0.45],
            "l_MajAxis": ["<", "", ""],
            "MajAxis": [19.0, 14.2, 5.0],
            "l_MinAxis": ["<", "", "<"],
            "MinAxis": [17.0, 9.1, 16.0],
            "PA": [np.nan, 61.0, 12.0],
            "Field": ["C0048P40", "C1232P00", "C0000M32"],
        }
    )


@pytest.fixture
def nvss_fits(tmp_path, truth):
    path = tmp_path / "nvss.fits"
    nvss_table(truth).write(path, format="fits")
    return path


@pytest.fixture
def nvss_tsv(tmp_path, truth):
    path = tmp_path / "nvss.tsv"
    nvss_table(truth).to_pandas().to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def first_fits(tmp_path, truth):
    """FIRST catalog FITS columns (first_14dec17.fits): degrees, mJy, arcsec."""
    path = tmp_path / "first.fits"
    Table(
        {
            "RA": truth["ra"].to_numpy(),
            "DEC": truth["dec"].to_numpy(),
            "SIDEPROB": np.array([0.01, 0.02, 0.9], "f4"),
            "FPEAK": truth["speak"].to_numpy("f4"),
            "FINT": truth["sint"].to_numpy("f4"),
            "RMS": np.array([0.15, 5.0, 0.14], "f4"),
            "MAJOR": np.array([0.0, 14.2, 5.0], "f4"),
            "MINOR": np.array([0.0, 9.1, 0.0], "f4"),
            "PA": np.array([0.0, 61.0, 12.0], "f4"),
            "FMAJOR": np.array([5.4, 15.0, 7.0], "f4"),
            "FMINOR": np.array([5.4, 10.5, 5.4], "f4"),
            "FPA": np.array([0.0, 61.0, 12.0], "f4"),
            "FLDNAME": ["00420+41160A", "12285+02030E", "00000-30300B"],
        }
    ).write(path, format="fits")
    return path


@pytest.fixture
def vlass_csv(tmp_path, truth):
    """CIRADA VLASS component catalogue CSV columns (mJy, arcsec, flags)."""
    path = tmp_path / "vlass.csv"
    pd.DataFrame(
        {
            "Component_name": [
                "VLASS1QLCIR J004244.33+411607.5",
                "VLASS1QLCIR J122906.70+020308.6",
                "VLASS1QLCIR J235957.60-303000.0",
            ],
            "RA": truth["ra"],
            "DEC": truth["dec"],
            "E_RA": [0.3, 0.1, 0.5],
            "E_DEC": [0.3, 0.1, 0.5],
            "Total_flux": truth["sint"],
            "E_Total_flux": [0.3, 300.0, 0.2],
            "Peak_flux": truth["speak"],
            "E_Peak_flux": [0.15, 200.0, 0.13],
            "Maj": [2.9, 14.4, 5.6],
            "E_Maj": [0.1, 0.1, 0.3],
            "Min": [2.2, 9.4, 2.4],
            "E_Min": [0.1, 0.1, 0.3],
            "PA": [10.0, 61.0, 12.0],
            "E_PA": [5.0, 1.0, 9.0],
            "DC_Maj": truth["maj"],
            "DC_Min": truth["min"],
            "DC_PA": truth["pa"],
            "Isl_rms": [0.13, 30.0, 0.12],
            "S_Code": ["S", "M", "S"],
            "Duplicate_flag": [0, 1, 2],
            "Quality_flag": [0, 4, 1],
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture
def racs_xml(tmp_path, truth):
    """CASDA RACS-low component table columns as a VOTable (mJy, arcsec)."""
    path = tmp_path / "racs.xml"
    Table(
        {
            "id": [1, 2, 3],
            "component_name": ["RACS_0042+41_1", "RACS_1229+02_2", "RACS_0000-30_3"],
            "ra": truth["ra"].to_numpy(),
            "dec": truth["dec"].to_numpy(),
            "e_ra": [0.5, 0.2, 1.0],
            "e_dec": [0.5, 0.2, 1.0],
            "total_flux_gaussian": truth["sint"].to_numpy(),
            "total_flux_source": truth["sint"].to_numpy(),
            "e_total_flux_source": [1.0, 2000.0, 0.4],
            "peak_flux": truth["speak"].to_numpy(),
            "e_peak_flux": [0.3, 100.0, 0.25],
            "maj_axis": [25.0, 28.0, 26.0],
            "min_axis": [22.0, 24.0, 22.0],
            "pa": [0.0, 61.0, 12.0],
            "dc_maj_axis": truth["maj"].to_numpy(),
            "dc_min_axis": truth["min"].to_numpy(),
            "dc_pa": truth["pa"].to_numpy(),
            "noise": [0.25, 3.0, 0.3],
            "flag": [0, 0, 1],
        }
    ).write(path, format="votable")
    return path
