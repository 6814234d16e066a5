import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.catalogs.store import CatalogNotFoundError, CatalogStore, angular_separation
from dsa110.catalogs.synthetic import nvss_counts, synthetic_nvss
from dsa110.cli import main
from dsa110.errors import OutputExistsError


@pytest.fixture(scope="module")
def sky():
    # 60k sources over the whole NVSS sky (smin raised to keep the test light)
    return synthetic_nvss(smin=0.02, rng=4)


@pytest.fixture(scope="module")
def store(sky, tmp_path_factory):
    st = CatalogStore(tmp_path_factory.mktemp("store"))
    st.add(sky, "nvss")
    return st


@pytest.mark.parametrize(
    "ra,dec,radius",
    [
        (120.0, 10.0, 2.0),
        (0.3, 20.0, 3.0),
        (359.5, -35.0, 1.5),
        (45.0, 88.5, 2.5),
        (200.0, 60.0, 0.01),
        (10.0, -39.5, 5.0),
        (180.0, 0.0, 0.0),
    ],
)
def test_cone_search_matches_brute_force(sky, store, ra, dec, radius):
    res = store.cone_search(ra, dec, radius)
    sep = angular_separation(ra, dec, sky["ra"], sky["dec"])
    expect = set(sky["name"][sep <= radius])
    assert set(res["name"]) == expect
    assert (np.diff(res["separation"]) >= 0).all()
    assert_allclose(res["separation"], np.sort(sep[sep <= radius]), rtol=1e-12)


def test_store_round_trip_and_overwrite(sky, store):
    back = store.read("nvss").sort_values("name", ignore_index=True)
    assert len(back) == len(sky)
    assert_allclose(back["flux_int"], sky.sort_values("name")["flux_int"], rtol=0)
    with pytest.raises(OutputExistsError):
        store.add(sky, "nvss")
    with pytest.raises(CatalogNotFoundError):
        store.cone_search(10, 10, 1, surveys=["vlass"])
    assert store.meta("nvss")["n_sources"] == len(sky)


def test_synthetic_counts_follow_the_model():
    df = synthetic_nvss(ra=100.0, dec=30.0, radius=5.0, rng=7)
    area = 2 * np.pi * (1 - np.cos(np.radians(5.0))) * (180 / np.pi) ** 2
    for s in (2.5e-3, 1e-2, 1e-1):
        n_obs = (df["flux_int"] > s).sum()
        n_exp = area * (nvss_counts(s) - nvss_counts(10.0))
        # Poisson: within 4 sigma
        assert abs(n_obs - n_exp) < 4 * np.sqrt(n_exp) + 1
    assert (angular_separation(100.0, 30.0, df["ra"], df["dec"]) <= 5.0).all()


def test_cli_ingest_and_query(tmp_path, nvss_fits, capsys):
    st = str(tmp_path / "st")
    assert (
        main(["catalog", "ingest", str(nvss_fits), "--survey", "nvss", "--store", st])
        == 0
    )
    assert (
        main(["catalog", "ingest", str(nvss_fits), "--survey", "nvss", "--store", st])
        == 1
    )
    capsys.readouterr()
    assert main(["catalog", "query", "10.68", "41.27", "0.1", "--store", st]) == 0
    out = capsys.readouterr().out
    assert "004244+411607" in out and "122906" not in out
    assert (
        main(
            [
                "catalog",
                "query",
                "187.28",
                "2.05",
                "0.1",
                "--store",
                st,
                "-o",
                str(tmp_path / "q.csv"),
            ]
        )
        == 0
    )
    assert (tmp_path / "q.csv").exists()


def test_cli_synth_then_ingest(tmp_path):
    out = tmp_path / "syn.csv"
    assert (
        main(
            [
                "catalog",
                "synth",
                str(out),
                "--ra",
                "50",
                "--dec",
                "20",
                "--radius",
                "0.5",
            ]
        )
        == 0
    )
    st = CatalogStore(tmp_path / "st")
    st.ingest(out, "nvss")
    res = st.cone_search(50, 20, 0.5)
    assert len(res) == st.meta("nvss")["n_sources"] > 0


def test_cli_master(tmp_path, nvss_fits, racs_xml):
    st = str(tmp_path / "st")
    assert (
        main(["catalog", "ingest", str(nvss_fits), "--survey", "nvss", "--store", st])
        == 0
    )
    assert (
        main(["catalog", "ingest", str(racs_xml), "--survey", "racs", "--store", st])
        == 0
    )
    out = tmp_path / "master.parquet"
    assert main(["catalog", "master", str(out), "--store", st]) == 0
    import pandas as pd

    m = pd.read_parquet(out).sort_values("dec")
    # the RACS component at dec -30.5 is flagged, so only NVSS measured it
    assert len(m) == 3 and m["n_racs"].tolist() == [0, 1, 1]


def test_store_refuses_names_that_leave_it_and_unusable_rows(tmp_path):
    """A survey's name is one folder of the store (``../escaped`` wrote outside
    it); rows with NaN positions or fluxes are refused, naming the column."""
    import pandas as pd

    from dsa110.errors import ConfigurationError

    st = CatalogStore(tmp_path / "st")
    good = pd.DataFrame({"ra": [10.0], "dec": [20.0], "flux_int": [0.1]})
    for name in ("../escaped", "a/b", "", ".hidden"):
        with pytest.raises(ConfigurationError, match="survey name"):
            st.add(good, name)
    assert not (tmp_path / "escaped").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["st"] or not list(
        tmp_path.iterdir()
    )
    for column in ("dec", "flux_int"):
        with pytest.raises(ConfigurationError, match=f"{column}: 1 row"):
            st.add(good.assign(**{column: [np.nan]}), "bad")
    st.add(good.assign(ra=[360.5]), "wrapped")
    assert_allclose(st.cone_search(0.5, 20.0, 0.1)["ra"], [0.5])


def test_cone_search_refuses_nan_and_an_empty_store(tmp_path, store):
    """A NaN centre or radius, or a store with no survey, is said (they
    returned an empty table, as if nothing were there)."""
    from dsa110.errors import ConfigurationError

    for ra, dec, radius in (
        (np.nan, 10.0, 1.0),
        (10.0, np.nan, 1.0),
        (10.0, 10.0, np.nan),
    ):
        with pytest.raises(ConfigurationError, match="bad cone"):
            store.cone_search(ra, dec, radius)
    with pytest.raises(CatalogNotFoundError, match="no survey"):
        CatalogStore(tmp_path / "empty").cone_search(10.0, 10.0, 1.0)
