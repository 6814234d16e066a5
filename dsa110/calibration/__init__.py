"""Calibration: sky-model prediction, StEFCal gain solvers, solution tables, apply.

Convention (:mod:`dsa110.schema`): ``V_obs_ij = g_i · conj(g_j) · V_true_ij``;
calibration divides by ``g_i · conj(g_j)``.

Typical use::

    from dsa110.catalogs.calibrators import get_calibrator
    cal = get_calibrator("3C286")
    sol = solve_calibration(ds, cal)          # bandpass + gains, with provenance
    save_solutions(sol, "3C286.zarr")
    calibrated = apply_calibration(target_ds, sol)
"""

from __future__ import annotations

import numpy as np

from dsa110.calibration.apply import apply_calibration, gains_on
from dsa110.calibration.diagnostics import plot_bandpass, plot_gains, qa_metrics
from dsa110.calibration.predict import (
    GaussianSource,
    PointSource,
    field_sources,
    predict_model,
)
from dsa110.calibration.solve import (
    DEFAULT_REFANT,
    REFANT_FALLBACK,
    CalibrationError,
    check_in_field,
    choose_refant,
    delay_from_bandpass,
    solve_bandpass,
    solve_delay,
    solve_gains,
    uv_cut_frequency,
    uv_weights,
)
from dsa110.calibration.tables import load_solutions, make_solutions, save_solutions

__all__ = [
    "DEFAULT_REFANT",
    "REFANT_FALLBACK",
    "CalibrationError",
    "GaussianSource",
    "PointSource",
    "field_sources",
    "apply_calibration",
    "choose_refant",
    "delay_from_bandpass",
    "export_casa_table",
    "gains_on",
    "load_solutions",
    "make_solutions",
    "plot_bandpass",
    "plot_gains",
    "predict_model",
    "qa_metrics",
    "save_solutions",
    "solve_bandpass",
    "solve_calibration",
    "solve_delay",
    "solve_gains",
    "uv_cut_frequency",
    "uv_weights",
]


def export_casa_table(solutions, path, **kwargs):
    """Write solutions as a CASA calibration table.

    See :func:`dsa110.calibration.casa.export_casa_table`.
    """
    from dsa110.calibration.casa import (
        export_casa_table as _export,  # deferred: casacore
    )

    return _export(solutions, path, **kwargs)


def solve_calibration(
    ds,
    calibrator,
    *,
    solint="inf",
    gain_mode: str = "ap",
    delay: bool = False,
    refant="103",
    min_snr: float = 5.0,
    min_baselines: int = 4,
    uvmin_lambda: float = 1000.0,
    uv_frequency="channel",
    calwt: bool = True,
    fill_gaps: int = 0,
    solnorm: bool = True,
    beam: bool = True,
):
    """Bandpass (solint inf, solnorm) then gains on a calibrator observation.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset phased to (near) the calibrator.
    calibrator : str, source or sequence of sources
        A calibrator name (:func:`dsa110.catalogs.calibrators.get_calibrator`),
        a :class:`~dsa110.catalogs.calibrators.Calibrator`, or any sky model
        accepted by :func:`~dsa110.calibration.predict.sky_arrays`.
    solint : str or float, keyword-only
        Gain solution interval (``"inf"``, ``"int"``, seconds).
    gain_mode : {"ap", "p"}, keyword-only
        Gains: amplitude+phase or phase only.
    delay : bool, keyword-only
        Solve per-antenna delays (K, :func:`solve_delay`) first; the bandpass
        and gains are then solved with the delays applied, and ``DELAY`` is
        part of the solutions (applied by :func:`apply_calibration`).
    refant, min_snr, min_baselines, uvmin_lambda, uv_frequency, fill_gaps, solnorm
        See :func:`solve_bandpass`.
    calwt : bool, keyword-only
        Gain-solve weights with the bandpass applied, see :func:`solve_gains`.

    Returns
    -------
    xarray.Dataset
        Solution table (:mod:`dsa110.calibration.tables`) with QA metrics.
    """
    if isinstance(calibrator, str):
        from dsa110.catalogs.calibrators import (
            get_calibrator,  # deferred: catalogue load
        )

        calibrator = get_calibrator(calibrator)
    common = dict(
        refant=refant,
        min_snr=min_snr,
        min_baselines=min_baselines,
        uvmin_lambda=uvmin_lambda,
        uv_frequency=uv_frequency,
        beam=beam,
    )
    check_in_field(ds, calibrator)  # before the model's DFT
    # the sky's model visibilities once for every solve: its DFT (a calibrator
    # and the field's sources) is most of a solve's work
    model = predict_model(ds, calibrator, beam=beam, persist=True)
    k = solve_delay(ds, calibrator, model=model, **common) if delay else None
    bp = solve_bandpass(
        ds,
        calibrator,
        fill_gaps=fill_gaps,
        solnorm=solnorm,
        prior=k,
        model=model,
        **common,
    )
    prior = bp if k is None else bp.merge(k[["DELAY"]], compat="override")
    gains = solve_gains(
        ds,
        calibrator,
        solint=solint,
        mode=gain_mode,
        bandpass=prior,
        calwt=calwt,
        model=model,
        **common,
    )
    parts = [bp, gains] + ([k[["DELAY"]]] if k is not None else [])
    params = dict(
        solint=solint,
        gain_mode=gain_mode,
        delay=delay,
        fill_gaps=fill_gaps,
        solnorm=solnorm,
        calwt=calwt,
        **common,
    )
    if not isinstance(uv_frequency, str):
        params["uv_frequency"] = np.asarray(uv_frequency, dtype=float).tolist()
    sources = [calibrator] if hasattr(calibrator, "ra") else list(calibrator)
    return make_solutions(
        *parts,
        calibrator=sources[0] if len(sources) == 1 else None,
        times=np.asarray(ds["time"].values),
        parameters=params,
    )
