import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from dsa110.catalogs.crossmatch import (
    DEFAULT_RADIUS_ARCSEC,
    build_master,
    crossmatch,
    fit_power_law,
)
from dsa110.catalogs.surveys import read_survey
from dsa110.catalogs.synthetic import synthetic_nvss


def test_default_radius_documented():
    assert DEFAULT_RADIUS_ARCSEC == 7.5


def test_crossmatch_radius():
    ra2 = np.array([10.0, 10.0])
    dec2 = np.array([0.0, 1.0])
    ra1 = np.array([10.0 + 5 / 3600, 10.0 + 9 / 3600])
    dec1 = np.array([0.0, 1.0])
    idx, sep = crossmatch(ra1, dec1, ra2, dec2)
    assert idx.tolist() == [0, -1]
    assert_allclose(sep[0], 5.0, rtol=1e-6)


def test_power_law_exact():
    freq = np.array([887.5e6, 1.4e9, 3.0e9])
    alpha = np.array([-0.7, 0.3])
    flux = (freq / 1.4e9)[None, :] ** alpha[:, None]
    a, e = fit_power_law(freq, flux, 0.05 * flux)
    assert_allclose(a, alpha, atol=1e-12)
    assert (e > 0).all()


def test_master_recovers_spectral_indices_and_flags():
    rng = np.random.default_rng(8)
    nvss = synthetic_nvss(ra=150.0, dec=30.0, radius=1.5, smin=0.01, rng=8)
    nvss = nvss.assign(flux_int_err=0.03 * nvss["flux_int"], resolved=False, maj=0.0)
    alpha = rng.normal(-0.7, 0.3, len(nvss))
    racs = nvss.assign(
        flux_int=nvss["flux_int"] * (887.5 / 1400) ** alpha,
        ra=nvss["ra"] + rng.normal(0, 1.5, len(nvss)) / 3600,
    )
    racs = racs.assign(flux_int_err=0.03 * racs["flux_int"])
    # two VLASS components for source 0 (a resolved double), one unmatched source
    vlass = pd.DataFrame(
        {
            "ra": [nvss["ra"].iloc[0] + 2 / 3600, nvss["ra"].iloc[0] - 2 / 3600, 151.0],
            "dec": [nvss["dec"].iloc[0], nvss["dec"].iloc[0], 31.0],
            "flux_int": [0.5, 0.5, 0.01],
            "flux_int_err": [0.01, 0.01, 0.001],
            "maj": [1.0, 1.0, 0.0],
            "flag": [0, 0, 0],
        }
    )
    m = build_master({"vlass": vlass, "nvss": nvss, "racs": racs})
    assert len(m) == len(nvss) + 1
    two = m.iloc[1 : len(nvss)]
    # exact fluxes with 3% errors: the two-point index is exact
    assert_allclose(two["alpha"], alpha[1:], atol=1e-9)
    assert m["n_vlass"].iloc[0] == 2 and m["resolved"].iloc[0]
    assert_allclose(m["flux_vlass"].iloc[0], 1.0, rtol=1e-12)
    assert m["origin"].iloc[-1] == "vlass" and np.isnan(m["flux_nvss"].iloc[-1])
    # confusion flag: exactly the sources with another master source within 45"
    from dsa110.catalogs.store import angular_separation

    sep = angular_separation(
        m["ra"].to_numpy()[:, None],
        m["dec"].to_numpy()[:, None],
        m["ra"].to_numpy()[None, :],
        m["dec"].to_numpy()[None, :],
    )
    np.fill_diagonal(sep, np.inf)
    assert (m["confused"].to_numpy() == (sep.min(1) <= 45 / 3600)).all()


def test_master_from_published_files(nvss_fits, first_fits, vlass_csv, racs_xml):
    tables = {
        "nvss": read_survey(nvss_fits, "nvss"),
        "first": read_survey(first_fits, "first"),
        "vlass": read_survey(vlass_csv, "vlass"),
        "racs": read_survey(racs_xml, "racs"),
    }
    m = build_master(tables)
    assert len(m) == 3
    # source 2 is flagged in FIRST (sidelobe), VLASS (duplicate) and RACS: NVSS only
    assert m["n_first"].tolist() == [1, 1, 0]
    assert m["n_vlass"].tolist() == [1, 1, 0]
    assert np.isnan(m["alpha"].iloc[2])
    # same flux at every frequency in the test files: flat spectra
    assert_allclose(m["alpha"].iloc[:2], 0.0, atol=1e-6)
