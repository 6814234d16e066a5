import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dsa110.errors import ConfigurationError
from dsa110.variability import (
    PRESETS,
    classify_morphology,
    classify_table,
    composite_score,
    get_preset,
    select_candidates,
)


def _events(m, kind):
    return set(m.index[(m["event"] == kind) & ~m["is_reference"]])


def test_all_injected_events_recovered_at_moderate(survey):
    m = survey["metrics"]
    cand = set(select_candidates(m, preset="moderate").index)
    events = _events(m, "dip") | _events(m, "spike")
    assert len(events) == 16
    assert events <= cand


def test_no_stable_source_flagged_at_conservative(survey):
    m = survey["metrics"]
    cand = select_candidates(m, preset="conservative")
    assert (cand["event"] != "none").all()
    # and the stable sources are quiet: median chi2_nu ~ 1
    stable = m[(m["event"] == "none") & ~m["is_reference"]]
    assert_allclose(stable["chi2_nu"].median(), 1.0, atol=0.1)


def test_morphology_separates_dips_from_outliers(survey):
    m = survey["metrics"]
    lc = survey["lc"]
    lc = lc[lc["qa_ok"] & lc["norm_ok"]]
    ids = _events(m, "dip") | _events(m, "spike") | _events(m, "outlier")
    labels = classify_table(lc[lc["source_id"].isin(ids)]).join(m["event"])
    outliers = labels[labels["event"] == "outlier"]
    assert len(outliers) == 8
    assert not outliers["is_ese"].any()
    assert (outliers["label"] == "outlier").all()
    dips = labels[labels["event"] == "dip"]
    assert (dips["label"] == "dip").all() and dips["is_ese"].all()
    assert dips["has_shoulders"].all()
    spikes = labels[labels["event"] == "spike"]
    assert (spikes["label"] == "spike").all()
    # the detected dip starts where it was injected (a day or two later when
    # the first dip epochs failed QA and were left out)
    truth = survey["truth"].set_index("source_id")
    start = 60000.0 + truth.loc[dips.index, "event_epoch"]
    assert (np.abs(dips["time_start"] - start) <= 3.1).all()
    # outlier candidates at moderate exist, and none of them is ESE-like
    cand = select_candidates(m, preset="moderate")
    flagged_outliers = cand.index.intersection(outliers.index)
    assert len(flagged_outliers) > 0
    assert not labels.loc[flagged_outliers, "is_ese"].any()


def test_morphology_point_cases():
    rng = np.random.default_rng(11)
    n = 60
    t = np.arange(n, dtype=float)
    err = np.full(n, 0.01)
    flat = 1.0 + 0.01 * rng.standard_normal(n)
    assert classify_morphology(t, flat, err).label == "none"
    out = flat.copy()
    out[30] -= 0.2
    res = classify_morphology(t, out, err)
    assert (res.label, res.is_ese, res.start) == ("outlier", False, 30)
    # two adjacent outliers are still not a plateau of three
    out[31] -= 0.2
    assert classify_morphology(t, out, err).label == "outlier"
    dip = flat.copy()
    dip[20:26] -= 0.3
    dip[18:20] += 0.1
    res = classify_morphology(t, dip, err)
    assert (res.label, res.start, res.stop, res.has_shoulders) == ("dip", 20, 26, True)
    # time order is what counts, not row order
    perm = rng.permutation(n)
    res2 = classify_morphology(t[perm], dip[perm], err[perm])
    assert (res2.start, res2.stop) == (20, 26)


def test_presets_and_score():
    assert get_preset("moderate") == PRESETS["moderate"]
    assert PRESETS["conservative"].sigma_dev == 5.0
    with pytest.raises(ConfigurationError, match="unknown preset"):
        get_preset("reckless")
    at = pd.DataFrame({"sigma_dev": [3.5], "chi2_nu": [2.5], "eta": [2.0], "n": [10]})
    assert_allclose(composite_score(at, preset="moderate").iloc[0], 1.0, rtol=1e-15)
    double = at * 2
    assert_allclose(composite_score(double, preset="moderate").iloc[0], 2.0, rtol=1e-15)
    # a source exactly at the thresholds passes; one just below does not
    assert len(select_candidates(at, preset="moderate")) == 1
    below = at.assign(eta=1.99)
    assert len(select_candidates(below, preset="moderate")) == 0
    assert len(select_candidates(at.assign(n=3), preset="moderate")) == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_acceptance_large_survey(seed):
    """10,000 stable sources over 200 epochs, three seeds: the full acceptance."""
    from dsa110.variability import (
        MetricState,
        Normaliser,
        SimulationConfig,
        simulate_measurements,
    )

    cfg = SimulationConfig(
        n_sources=10_000, n_epochs=200, n_dips=10, n_spikes=10, n_outliers=10
    )
    table, truth, _ = simulate_measurements(cfg, rng=np.random.default_rng(seed))
    lc, _ = Normaliser().normalise(table)
    lc = lc[lc["qa_ok"] & lc["norm_ok"]]
    state = MetricState()
    state.update(lc["source_id"], lc["time"], lc["flux_norm"], lc["flux_norm_err"])
    m = state.metrics().join(truth.set_index("source_id"))
    events = _events(m, "dip") | _events(m, "spike")
    assert events <= set(select_candidates(m, preset="moderate").index)
    assert (select_candidates(m, preset="conservative")["event"] != "none").all()
    labels = classify_table(lc[lc["source_id"].isin(_events(m, "outlier"))])
    assert not labels["is_ese"].any()
    stable = m.index[(m["event"] == "none") & ~m["is_reference"]]
    g = lc[lc["source_id"].isin(stable)].groupby("source_id")
    ratio = g["flux_norm"].std() / g["flux_norm_err"].apply(
        lambda x: np.sqrt(np.mean(x**2))
    )
    assert_allclose(ratio.median(), 1.0, atol=0.1)


def test_long_events_are_candidates_by_their_morphology(tmp_path):
    """Dips of 12-20 of 100 daily epochs (ESEs last weeks): σ-deviation cannot
    reach the moderate preset for an event that long (≤ sqrt((1 − p)/p)), so
    the thresholds alone list none of them; with the morphology test every one
    is a candidate, and no stable source is at the conservative preset."""
    from dsa110.variability import (
        SimulationConfig,
        VariabilityStore,
        simulate_measurements,
    )

    cfg = SimulationConfig(
        n_sources=300,
        n_epochs=100,
        n_dips=6,
        n_spikes=0,
        n_outliers=4,
        dip_epochs=(12, 20),
    )
    table, truth, _ = simulate_measurements(cfg, rng=np.random.default_rng(7))
    store = VariabilityStore(tmp_path / "state")
    store.update(table)
    truth = truth.set_index("source_id")
    dips = set(truth.index[(truth["event"] == "dip") & ~truth["is_reference"]])
    assert len(dips) == 6
    by_thresholds = store.candidates(preset="moderate", morphology=False)
    assert not dips & set(by_thresholds.index)
    cand = store.candidates(preset="moderate")
    assert dips <= set(cand.index)
    assert (cand.loc[list(dips), "selected_by"] == "morphology").all()
    assert (cand.loc[list(dips), "label"] == "dip").all()
    conservative = store.candidates(preset="conservative")
    assert (truth.loc[conservative.index, "event"] != "none").all()
