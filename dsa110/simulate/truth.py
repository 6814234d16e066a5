"""The ground truth of a simulated tile, saved beside its files as ``.npz``."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from dsa110.errors import FileFormatError
from dsa110.simulate.config import SimulationConfig

__all__ = ["Truth", "save_truth", "load_truth"]


@dataclass(frozen=True)
class Truth:
    """What went into one simulated tile.

    Frequencies are ASCENDING here (the files store them descending); the
    antenna axis is the active antennas in ascending station number; baselines
    are in the correlator's order (as in the files).

    Attributes
    ----------
    config : SimulationConfig
        The configuration.
    seed : int
        The seed of the simulation.
    tile_index : int
        Index of the tile in its observation (0, 1, ...).
    time_jd : numpy.ndarray
        ``(time,)`` float64 integration centres, JD UTC (the files' ``time_array``).
    time_unix : numpy.ndarray
        ``(time,)`` float64 the same, unix seconds.
    phase_center_ra, phase_center_dec : numpy.ndarray
        ``(time,)`` float64 ICRS radians of each integration's phase centre (the
        meridian at the pointing declination).
    pointing_dec : float
        Pointing (apparent) declination, radians.
    frequency : numpy.ndarray
        ``(frequency,)`` float64 Hz, ascending.
    antennas : numpy.ndarray
        ``(antenna,)`` int station numbers.
    ant1, ant2 : numpy.ndarray
        ``(baseline_id,)`` int station numbers of each baseline, correlator order.
    source_ra, source_dec, source_flux, source_spectral_index : numpy.ndarray
        ``(source,)`` float64: the sources simulated (radians, Jy at
        ``config.reference_frequency_hz``).
    source_population : numpy.ndarray
        ``(source,)`` bool, True for the random population.
    source_size : numpy.ndarray
        ``(source,)`` float64 FWHM of circular Gaussian sources, radians (0 for
        point sources).
    source_offset : numpy.ndarray
        ``(source, time)`` float64 angular distance from the pointing, radians.
    source_apparent_flux : numpy.ndarray
        ``(source, time)`` float64 beam-attenuated flux at the reference
        frequency, Jy.
    gains : numpy.ndarray
        ``(time, antenna, frequency, polarization)`` complex64 as applied.
    rfi_amplitude : numpy.ndarray
        ``(time, frequency)`` float64 RFI amplitude, Jy (0 where none).
    sefd_jy, sigma_jy : float
        SEFD and the cross-correlation noise σ per real/imaginary part
        (0 when noise was off: see ``noise``).
    noise, gains_applied, rfi : bool
        Which corruptions were on.
    n_population_drawn : int
        Population sources drawn over the observation's footprint (before the
        per-tile beam threshold ``config.population_threshold_jy``).
    """

    config: SimulationConfig
    seed: int
    tile_index: int
    time_jd: np.ndarray
    time_unix: np.ndarray
    phase_center_ra: np.ndarray
    phase_center_dec: np.ndarray
    pointing_dec: float
    frequency: np.ndarray
    antennas: np.ndarray
    ant1: np.ndarray
    ant2: np.ndarray
    source_ra: np.ndarray
    source_dec: np.ndarray
    source_flux: np.ndarray
    source_spectral_index: np.ndarray
    source_population: np.ndarray
    source_size: np.ndarray
    source_offset: np.ndarray
    source_apparent_flux: np.ndarray
    gains: np.ndarray
    rfi_amplitude: np.ndarray
    sefd_jy: float
    sigma_jy: float
    noise: bool
    gains_applied: bool
    rfi: bool
    n_population_drawn: int

    @property
    def rfi_mask(self) -> np.ndarray:
        """``(time, baseline_id, frequency, polarization)`` bool (a broadcast view).

        True wherever RFI was added: the interferer is on every baseline and
        both polarizations, so this is :attr:`rfi_amplitude` ``!= 0`` broadcast.
        """
        m = self.rfi_amplitude != 0
        return np.broadcast_to(
            m[:, None, :, None], (m.shape[0], self.ant1.size, m.shape[1], 2)
        )


_SCALARS = {
    "seed": int,
    "tile_index": int,
    "pointing_dec": float,
    "sefd_jy": float,
    "sigma_jy": float,
    "noise": bool,
    "gains_applied": bool,
    "rfi": bool,
    "n_population_drawn": int,
}


def save_truth(truth: Truth, path) -> Path:
    """Write ``truth`` to ``path`` (``.npz``) atomically.

    Parameters
    ----------
    truth : Truth
        The ground truth.
    path : str or Path
        Output file.

    Returns
    -------
    Path
    """
    path = Path(path)
    arrays = {}
    for f in fields(Truth):
        value = getattr(truth, f.name)
        if f.name == "config":
            arrays["config_json"] = np.array(value.to_json())
        else:
            arrays[f.name] = np.asarray(value)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_truth(path) -> Truth:
    """Read a ground-truth file written by the simulator.

    Parameters
    ----------
    path : str or Path
        ``<tile start>_truth.npz``.

    Returns
    -------
    Truth

    Raises
    ------
    FileFormatError
        If the file is not a simulator truth file or lacks a field.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise FileFormatError(path, f"not a truth file: {exc}") from exc
    kwargs = {}
    for f in fields(Truth):
        key = "config_json" if f.name == "config" else f.name
        if key not in data:
            raise FileFormatError(path, "missing from the truth file", field=key)
        value = data[key]
        if f.name == "config":
            kwargs["config"] = SimulationConfig.from_json(str(value))
        elif f.name in _SCALARS:
            kwargs[f.name] = _SCALARS[f.name](value)
        else:
            kwargs[f.name] = value
    return Truth(**kwargs)
