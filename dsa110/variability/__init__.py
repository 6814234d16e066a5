"""Variability: normalisation, light curves, running metrics and ESE candidates.

The stage reads forced-photometry measurement tables (the contract is in
:mod:`dsa110.variability.measurements`) and turns them into

* per-image flux corrections from a continuously re-qualified ensemble of
  reference sources (:class:`Normaliser`);
* light curves (xarray, Parquet, PNG; :mod:`dsa110.variability.lightcurves`);
* running variability metrics — η, V, χ²ν, σ-deviation, Vs and m — updated in
  O(1) per measurement (:class:`MetricState`), equal to the batch formulas
  (:func:`batch_metrics`);
* ESE candidates with presets, a composite score and a morphology test
  (:mod:`dsa110.variability.candidates`);
* transient/new-source candidates, calibrator monitoring and adaptive binning.

:class:`VariabilityStore` keeps all of it in a state directory for incremental
processing (the ``dsa110 variability`` command). This package does not import
the database, the service or the pipeline.
"""

from dsa110.variability.binning import adaptive_bin
from dsa110.variability.candidates import (
    PRESETS,
    SCORE_WEIGHTS,
    Morphology,
    Preset,
    classify_morphology,
    classify_table,
    composite_score,
    get_preset,
    select_candidates,
)
from dsa110.variability.lightcurves import (
    LightCurveStore,
    SourceNotFoundError,
    plot_lightcurve,
    to_xarray,
)
from dsa110.variability.measurements import (
    MEASUREMENT_COLUMNS,
    REQUIRED_COLUMNS,
    MeasurementTableError,
    read_measurements,
    validate_measurements,
)
from dsa110.variability.metrics import (
    METRIC_NAMES,
    MetricState,
    StateError,
    batch_metrics,
    metrics_from_state,
)
from dsa110.variability.monitoring import monitor_fluxes
from dsa110.variability.normalise import (
    NormalisationConfig,
    Normaliser,
    sigma_clipped_median,
)
from dsa110.variability.simulate import SimulationConfig, simulate_measurements
from dsa110.variability.store import UpdateSummary, VariabilityStore
from dsa110.variability.transients import find_transients

__all__ = [
    "MEASUREMENT_COLUMNS",
    "METRIC_NAMES",
    "PRESETS",
    "REQUIRED_COLUMNS",
    "SCORE_WEIGHTS",
    "LightCurveStore",
    "MeasurementTableError",
    "MetricState",
    "Morphology",
    "NormalisationConfig",
    "Normaliser",
    "Preset",
    "SimulationConfig",
    "SourceNotFoundError",
    "StateError",
    "UpdateSummary",
    "VariabilityStore",
    "adaptive_bin",
    "batch_metrics",
    "classify_morphology",
    "classify_table",
    "composite_score",
    "find_transients",
    "get_preset",
    "metrics_from_state",
    "monitor_fluxes",
    "normalise_measurements",
    "plot_lightcurve",
    "read_measurements",
    "select_candidates",
    "sigma_clipped_median",
    "simulate_measurements",
    "to_xarray",
    "validate_measurements",
]


def normalise_measurements(measurements, *, config=None):
    """Validate and normalise a measurement table in one call.

    Parameters
    ----------
    measurements : pandas.DataFrame
        A measurement table (see :mod:`dsa110.variability.measurements`).
    config : NormalisationConfig, keyword-only, optional
        Normalisation options.

    Returns
    -------
    table : pandas.DataFrame
        Light-curve rows (``flux_norm``, ``flux_norm_err``, ``correction``, …).
    corrections : pandas.DataFrame
        One row per image.
    """
    table = validate_measurements(measurements)
    return Normaliser(config).normalise(table)
