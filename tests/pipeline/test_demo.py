"""The demo: a 12-day simulated strip run through the whole pipeline (slow: ~3 min)."""

import pytest


@pytest.mark.slow
def test_demo_finds_the_ese_like_source(tmp_path):
    from dsa110.pipeline.demo import run_demo

    lines = []
    summary = run_demo(tmp_path / "demo", n_days=12, out=lines.append)
    assert summary["processed"] == 24 and summary["failed"] == 0
    assert summary["calibrations"] == 12 and summary["images"] == 24
    # The ESE-like source, and only it, has an ESE-like dip; it is also the most
    # variable by chi2_nu. (Its sigma-deviation over 12 epochs stays below every
    # preset's threshold, so no preset candidate is expected.)
    assert summary["ese_morphology"] == ["ESE-DEMO"]
    assert summary["most_variable"][0][0] == "ESE-DEMO"
    assert any("ESE-like dips     : ESE-DEMO" in line for line in lines)
    # A rerun does no work.
    again = run_demo(tmp_path / "demo", n_days=12, out=lines.append)
    assert again["skipped"] == 24
