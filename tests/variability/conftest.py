"""Shared fixtures: one simulated survey, normalised once per session."""

import numpy as np
import pytest

from dsa110.variability import (
    MetricState,
    Normaliser,
    SimulationConfig,
    simulate_measurements,
    validate_measurements,
)


@pytest.fixture(scope="session")
def survey():
    """2000 ordinary sources + 20 references over 150 daily epochs.

    Returns a dict with the raw table, the truth, the true gains, the
    normalised table, the corrections and the metrics.
    """
    cfg = SimulationConfig(n_sources=2000, n_epochs=150)
    table, truth, gains = simulate_measurements(cfg, rng=np.random.default_rng(2026))
    table = validate_measurements(table)
    lc, corrections = Normaliser().normalise(table)
    use = (lc["qa_ok"] & lc["norm_ok"]).to_numpy()
    state = MetricState()
    state.update(
        lc["source_id"].to_numpy()[use],
        lc["time"].to_numpy()[use],
        lc["flux_norm"].to_numpy()[use],
        lc["flux_norm_err"].to_numpy()[use],
    )
    metrics = state.metrics().join(truth.set_index("source_id"))
    return {
        "config": cfg,
        "table": table,
        "truth": truth,
        "gains": gains,
        "lc": lc,
        "corrections": corrections,
        "metrics": metrics,
    }
