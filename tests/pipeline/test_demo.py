"""The demo: a 12-day simulated strip run through the whole pipeline (slow: ~3 min)."""

import pytest


@pytest.mark.slow
def test_demo_finds_the_ese_like_source(tmp_path):
    from dsa110.pipeline.demo import run_demo

    lines = []
    summary = run_demo(tmp_path / "demo", n_days=12, out=lines.append)
    assert summary["processed"] == 24 and summary["failed"] == 0
    assert summary["calibrations"] == 12 and summary["images"] == 24
    # No mosaic: a day's two tiles are not consecutive (the summary says so).
    assert summary["mosaics"] == 0
    assert any(line.startswith("mosaics           : 0 (") for line in lines)
    # The ESE-like source, and only it, is a candidate (moderate chi2_nu and eta
    # thresholds, and its light curve a dip lasting >= 3 epochs; sigma-deviation
    # is left out: over 12 epochs it cannot reach any preset's threshold for a
    # 3-epoch dip, see run_demo); it is also the most variable by chi2_nu.
    assert summary["candidates"] == ["ESE-DEMO"]
    assert summary["ese_morphology"] == ["ESE-DEMO"]
    assert any(line.startswith("ESE candidates    : ESE-DEMO ") for line in lines)
    assert summary["most_variable"][0][0] == "ESE-DEMO"
    assert any("ESE-like dips     : ESE-DEMO" in line for line in lines)
    # Every product is on disk and recorded with its provenance; the plots exist.
    from pathlib import Path

    from sqlalchemy import select

    from dsa110.db import session_scope
    from dsa110.db.models import Product
    from dsa110.pipeline.config import load_config
    from dsa110.pipeline.context import PipelineContext

    ctx = PipelineContext(
        load_config(overrides=[f"runtime.data_dir={tmp_path / 'demo' / 'data'}"])
    )
    with session_scope(ctx.session_factory) as session:
        products = session.scalars(select(Product)).all()
        assert {p.kind for p in products} >= {"image", "plot", "caltable"}
        for p in products:
            assert Path(p.path).exists() and p.checksum and p.size_bytes
            prov = p.provenance
            assert prov is not None and prov.code_version and prov.parameters
            if p.kind == "image":
                assert prov.inputs
    assert Path(summary["lightcurve_png"]).stat().st_size > 0
    # A rerun does no work.
    again = run_demo(tmp_path / "demo", n_days=12, out=lines.append)
    assert again["skipped"] == 24


@pytest.mark.parametrize("days", ["0", "-1"])
def test_demo_refuses_no_days(tmp_path, capsys, days):
    from dsa110.cli import main

    assert main(["demo", "--days", days, str(tmp_path / "demo")]) == 1
    assert f"n_days={days}" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_demo_says_days_and_seed_are_ignored_when_files_exist(tmp_path, monkeypatch):
    import pandas as pd

    import dsa110.pipeline.config
    from dsa110.pipeline.demo import DEMO_RECORD, run_demo

    raw = tmp_path / "demo" / "raw"
    raw.mkdir(parents=True)
    pd.DataFrame({"name": ["a"]}).to_parquet(raw / "reference_catalog.parquet")
    (raw / "2026-11-24T05:19:04_sb00.hdf5").touch()
    (raw / DEMO_RECORD).write_text('{"n_days": 1, "seed": 1}')

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop  # the check is done: no pipeline run

    monkeypatch.setattr(dsa110.pipeline.config, "load_config", stop)
    for asked, expected in [
        (
            {"n_days": 4, "seed": 9},
            "ignored: n_days=4, seed=9 (the files there were "
            "simulated with n_days=1, seed=1",
        ),
        ({"n_days": 1, "seed": 2}, "ignored: seed=2 ("),
        ({"n_days": 1}, None),
        ({}, None),
    ]:
        lines = []
        with pytest.raises(Stop):
            run_demo(tmp_path / "demo", out=lines.append, **asked)
        said = [line for line in lines if line.startswith("ignored")]
        assert said == [] if expected is None else said[0].startswith(expected)
