"""A state directory for incremental variability processing.

Layout of ``DIR``::

    DIR/metrics.npz              running-metric state (MetricState)
    DIR/references.parquet       reference history of the normaliser
    DIR/corrections.parquet      one row per image processed (the commit log)
    DIR/lightcurves/part-*.parquet   light-curve rows, one part per update

Each file is written under a temporary name and renamed into place;
``corrections.parquet`` is renamed last and records which images were
processed, so feeding the same image twice is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dsa110.variability.candidates import (
    classify_table,
    composite_score,
    get_preset,
    select_candidates,
)
from dsa110.variability.lightcurves import LightCurveStore
from dsa110.variability.measurements import validate_measurements
from dsa110.variability.metrics import MetricState
from dsa110.variability.monitoring import monitor_fluxes
from dsa110.variability.normalise import NormalisationConfig, Normaliser

__all__ = ["VariabilityStore", "UpdateSummary", "default_state_dir"]


class UpdateSummary(dict):
    """What one :meth:`VariabilityStore.update` did (a dict with named keys).

    Keys: ``n_rows`` (rows added), ``n_images`` (new images), ``n_skipped``
    (rows of images already processed), ``n_sources`` (sources in the state),
    ``n_bad_images`` (images whose normalisation was not OK).
    """


def _write_parquet(frame, path):
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    return tmp


class VariabilityStore:
    """Metric state, reference history and light curves kept in one directory.

    Parameters
    ----------
    directory : str or path-like
        The state directory (created on first update).
    config : NormalisationConfig, keyword-only, optional
        Normalisation options.
    reference_flux : mapping, keyword-only, optional
        Catalogue fluxes of the references (see :class:`Normaliser`).
    """

    def __init__(self, directory, *, config=None, reference_flux=None):
        self.directory = Path(directory)
        self.config = config or NormalisationConfig()
        self.reference_flux = reference_flux
        self.lightcurves = LightCurveStore(self.directory / "lightcurves")

    @property
    def _metrics_path(self):
        return self.directory / "metrics.npz"

    @property
    def _refs_path(self):
        return self.directory / "references.parquet"

    @property
    def _corr_path(self):
        return self.directory / "corrections.parquet"

    def load_state(self) -> MetricState:
        """Return the metric state (empty when none is stored).

        Returns
        -------
        MetricState
        """
        if self._metrics_path.exists():
            return MetricState.load(self._metrics_path)
        return MetricState()

    def corrections(self) -> pd.DataFrame:
        """Return the per-image corrections of every image processed.

        Returns
        -------
        pandas.DataFrame
            Columns as from :meth:`Normaliser.normalise`.
        """
        if self._corr_path.exists():
            return pd.read_parquet(self._corr_path)
        return pd.DataFrame(
            columns=[
                "image_id",
                "time",
                "correction",
                "correction_err",
                "n_reference",
                "n_candidate",
                "norm_ok",
            ]
        )

    def _normaliser(self) -> Normaliser:
        if self._refs_path.exists():
            return Normaliser.from_history(
                pd.read_parquet(self._refs_path),
                self.config,
                reference_flux=self.reference_flux,
            )
        return Normaliser(self.config, reference_flux=self.reference_flux)

    def update(self, measurements, *, source="measurement table") -> UpdateSummary:
        """Normalise new measurements, append light curves, update the metrics.

        Parameters
        ----------
        measurements : pandas.DataFrame
            A measurement table (validated here).
        source : str, keyword-only
            Name for error messages.

        Returns
        -------
        UpdateSummary

        Raises
        ------
        MeasurementTableError
            When the table violates the contract.
        """
        table = validate_measurements(measurements, source=source)
        done = self.corrections()
        seen = table["image_id"].isin(done["image_id"].tolist())
        n_skipped = int(seen.sum())
        table = table[~seen]
        state = self.load_state()
        if table.empty:
            return UpdateSummary(
                n_rows=0,
                n_images=0,
                n_skipped=n_skipped,
                n_sources=state.n_source,
                n_bad_images=0,
            )
        normaliser = self._normaliser()
        lc, corr = normaliser.normalise(table)
        use = (lc["qa_ok"] & lc["norm_ok"]).to_numpy()
        state.update(
            lc["source_id"].to_numpy()[use],
            lc["time"].to_numpy()[use],
            lc["flux_norm"].to_numpy()[use],
            lc["flux_norm_err"].to_numpy()[use],
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.lightcurves.append(lc)
        state.save(self._metrics_path)
        tmp_refs = _write_parquet(normaliser.history_frame(), self._refs_path)
        all_corr = corr if done.empty else pd.concat([done, corr], ignore_index=True)
        tmp_corr = _write_parquet(all_corr, self._corr_path)
        os.replace(tmp_refs, self._refs_path)
        os.replace(tmp_corr, self._corr_path)
        return UpdateSummary(
            n_rows=len(lc),
            n_images=len(corr),
            n_skipped=n_skipped,
            n_sources=state.n_source,
            n_bad_images=int((~corr["norm_ok"].astype(bool)).sum()),
        )

    def metrics(self) -> pd.DataFrame:
        """Return the current metrics of every source (see ``METRIC_NAMES``).

        Returns
        -------
        pandas.DataFrame
        """
        return self.load_state().metrics()

    def candidates(self, *, preset="moderate", min_epochs=5, morphology=True):
        """ESE candidates of a preset, with their morphology.

        A source passing every threshold is a candidate (``selected_by``
        ``"thresholds"``). With ``morphology``, so is one that passes χ²ν and
        η but not σ-deviation, when its light curve is an ESE-like dip or spike
        (:func:`classify_morphology`; ``"morphology"``): σ-deviation,
        ``max|f − mean| / std``, is at most ``sqrt((1 − p) / p)`` for an event
        covering a fraction ``p`` of the epochs, so no event longer than 4 %
        (conservative), 7.5 % (moderate) or 14 % (sensitive) of a light curve
        can pass it — a 10-day, 30 % dip (15σ) in 60 daily epochs had
        σ-deviation 2.45 and was listed by no preset — while ESEs last weeks
        to months.

        Parameters
        ----------
        preset : str or Preset, keyword-only
            Thresholds.
        min_epochs : int, keyword-only
            Fewest measurements.
        morphology : bool, keyword-only
            Add the columns of :func:`classify_table` (reads the light curves of
            the candidates and of the sources passing χ²ν and η), and the
            long events.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``source_id``, best score first.
        """
        metrics = self.metrics()
        cand = select_candidates(metrics, preset=preset, min_epochs=min_epochs)
        cand["selected_by"] = "thresholds"
        if not morphology:
            return cand
        p = get_preset(preset)
        long = metrics[
            (metrics["n"] >= min_epochs)
            & (metrics["chi2_nu"] >= p.chi2_nu)
            & (metrics["eta"] >= p.eta)
            & ~(metrics["sigma_dev"] >= p.sigma_dev)
        ]
        ids = cand.index.union(long.index)
        if not len(ids):
            return cand
        rows = self.lightcurves.read(source_ids=ids.tolist())
        rows = rows[rows["qa_ok"].astype(bool) & rows["norm_ok"].astype(bool)]
        labels = classify_table(rows)
        cand = cand.join(labels, how="left")
        events = long.join(labels, how="inner")
        events = events[events["is_ese"].astype(bool)].copy()
        if len(events):
            events["score"] = composite_score(events, preset=p)
            events["selected_by"] = "morphology"
            cand = pd.concat([cand, events]).sort_values(
                "score", ascending=False, kind="stable"
            )
        return cand

    def monitor(self, source_ids=None, *, reference_flux=None, **options):
        """Follow calibrator/reference fluxes and alert on drifts.

        Parameters
        ----------
        source_ids : sequence, optional
            Sources to follow (default: every source stored as a reference).
        reference_flux : mapping, keyword-only, optional
            Expected fluxes (Jy); each source's own median when omitted.
        **options
            ``column``, ``threshold``, ``nsigma``, ``window`` of
            :func:`monitor_fluxes`.

        Returns
        -------
        series, alerts : pandas.DataFrame
            As from :func:`monitor_fluxes`.
        """
        if source_ids is None:
            refs = self.lightcurves.read(columns=["source_id", "is_reference"])
            source_ids = refs.loc[refs["is_reference"].astype(bool), "source_id"]
            source_ids = source_ids.unique().tolist()
        rows = self.lightcurves.read(source_ids=source_ids)
        rows = rows[rows["qa_ok"].astype(bool)]
        return monitor_fluxes(
            rows, source_ids, reference_flux=reference_flux, **options
        )

    def lightcurve(self, source_id):
        """Return one source's light curve (xarray Dataset).

        Parameters
        ----------
        source_id : int or str
            The source.

        Returns
        -------
        xarray.Dataset
        """
        return self.lightcurves.lightcurve(source_id)


def default_state_dir(environ=None) -> Path:
    """Return the default state directory, ``$DSA110_DATA_DIR/variability``.

    Falls back to ``$XDG_DATA_HOME/dsa110/variability`` and then
    ``~/.local/share/dsa110/variability``. Only the CLI calls this.

    Parameters
    ----------
    environ : mapping, optional
        Environment (``os.environ`` when omitted).

    Returns
    -------
    pathlib.Path
    """
    env = os.environ if environ is None else environ
    if env.get("DSA110_DATA_DIR"):
        return Path(env["DSA110_DATA_DIR"]) / "variability"
    base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "dsa110" / "variability"
