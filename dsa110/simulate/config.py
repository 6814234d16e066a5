"""Configuration of a DSA-110 simulation: array size, noise, sky and RFI options.

Two presets exist: ``"small"`` (12 antennas, 16 subbands × 4 channels,
6 integrations, for tests) and ``"full"`` (the 96 active antennas, 16 × 48
channels, 24 integrations: the real size, ~2.2 GB per tile). Tests may build a
custom :class:`SimulationConfig` of any size.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from dsa110.errors import ConfigurationError
from dsa110.telescope.antennas import ACTIVE_ANTENNAS, DISH_DIAMETER_M, N_STATIONS
from dsa110.telescope.frequencies import N_CHAN_PER_SUBBAND, N_SUBBANDS

__all__ = [
    "INTEGRATION_TIME_S",
    "BOLTZMANN",
    "JY",
    "SMALL_ANTENNAS",
    "SimulationConfig",
    "default_sefd",
    "noise_sigma",
]

#: Correlator integration time, s (0.134217728 s × 96).
INTEGRATION_TIME_S = 12.884901888
#: Boltzmann's constant, J/K.
BOLTZMANN = 1.380649e-23
#: One jansky in W m⁻² Hz⁻¹.
JY = 1e-26
#: The ``small`` preset's antennas: E-W arm, N-S arm and a few outriggers.
SMALL_ANTENNAS = (1, 5, 12, 24, 40, 51, 68, 80, 95, 103, 108, 115)


def default_sefd(
    *,
    t_sys_k: float = 25.0,
    aperture_efficiency: float = 0.7,
    diameter_m: float = DISH_DIAMETER_M,
) -> float:
    """System-equivalent flux density of one DSA-110 dish, Jy.

    Parameters
    ----------
    t_sys_k : float, keyword-only
        System temperature, K (≈ 25 K for DSA-110's uncooled LNAs at L band).
    aperture_efficiency : float, keyword-only
        Aperture efficiency η (≈ 0.7).
    diameter_m : float, keyword-only
        Dish diameter, m.

    Returns
    -------
    float
        ``SEFD = 2 k T_sys / (η π D² / 4)`` in Jy.

    Notes
    -----
    With ``T_sys = 25 K``, ``η = 0.7`` and ``D = 4.65 m``: the geometric area is
    ``π × 2.325² = 16.98 m²``, the effective area ``11.89 m²``, and
    ``2 k T_sys = 6.90e-22 W/Hz``, so ``SEFD = 5.81e-23 W m⁻² Hz⁻¹ ≈ 5806 Jy``.
    """
    area = aperture_efficiency * math.pi * diameter_m**2 / 4.0
    return 2.0 * BOLTZMANN * t_sys_k / area / JY


def noise_sigma(
    sefd_jy: float, channel_width_hz: float, integration_time_s: float
) -> float:
    """Thermal noise of one cross-correlation, per real and imaginary part, Jy.

    Parameters
    ----------
    sefd_jy : float
        System-equivalent flux density of each antenna, Jy.
    channel_width_hz : float
        Channel width Δν, Hz.
    integration_time_s : float
        Integration time τ, s.

    Returns
    -------
    float
        ``σ = SEFD / sqrt(2 Δν τ)``.

    Notes
    -----
    The radiometer equation for one polarization product of two identical
    antennas (Thompson, Moran & Swenson, *Interferometry and Synthesis in Radio
    Astronomy*, 3rd ed., §6.2; Wrobel & Walker 1999, *Synthesis Imaging in
    Radio Astronomy II*, eq. 9-23): each of the real and imaginary parts has
    standard deviation ``SEFD / sqrt(2 Δν τ)``. For DSA-110 (Δν = 244.14 kHz,
    τ = 12.88 s, SEFD ≈ 5806 Jy) σ ≈ 2.31 Jy. Autocorrelations (real) have
    ``σ_auto = (SEFD + S_sky) / sqrt(Δν τ)``.
    """
    return sefd_jy / math.sqrt(2.0 * channel_width_hz * integration_time_s)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that fixes a simulation except the seed, start, tiles and sky.

    Attributes
    ----------
    antennas : tuple of int
        Active station numbers (1..117), ascending.
    subbands : tuple of int
        Subbands written (0..15). Every preset writes all 16.
    n_chan : int
        Channels per subband (a divisor of 384; 48 for the real correlator).
    n_times : int
        Integrations per tile (24 for the real correlator).
    integration_time_s : float
        Integration time, s.
    sefd_jy : float
        System-equivalent flux density, Jy (see :func:`default_sefd`).
    reference_frequency_hz : float
        Frequency at which source fluxes are given (1.4 GHz).
    filename_jitter_s : float
        Each file's name time is the tile start plus ``U(0, jitter)`` s, rounded
        to whole seconds (the correlator nodes start their files tens of seconds
        apart).
    population_density_deg2 : float
        NVSS-like population: sources per deg² brighter than
        ``population_density_flux_jy`` (50 deg⁻² above 2.5 mJy; Condon et al.
        1998).
    population_density_flux_jy : float
        Flux at which ``population_density_deg2`` is given, Jy.
    population_min_flux_jy, population_max_flux_jy : float
        Flux range drawn, Jy (at ``reference_frequency_hz``).
    population_slope_faint, population_slope_bright : float
        Differential count slopes ``γ`` (``dN/dS ∝ S^-γ``) below and above
        ``population_break_flux_jy``.
    population_break_flux_jy : float
        Break of the broken power law, Jy.
    population_radius_deg : float or None
        Half-size of the footprint in which the population is drawn, degrees;
        None means three first-null radii of the beam at the lowest frequency.
    population_threshold_jy : float
        Population sources whose beam-attenuated flux never reaches this (over
        every integration and channel of a tile) are dropped from that tile.
    spectral_index_mean, spectral_index_std : float
        Normal distribution of the population's spectral indices.
    bandpass_amplitude_std : float
        Standard deviation of each Chebyshev coefficient (orders 1..3) of the
        per-antenna bandpass amplitude.
    bandpass_phase_std : float
        Standard deviation of each Chebyshev coefficient (orders 2..3) of the
        per-antenna bandpass phase, rad.
    delay_std_ns : float
        Standard deviation of the per-antenna delay, ns.
    phase_drift_deg : tuple of float
        Range of the amplitude of the slow phase drift, degrees.
    phase_drift_period_s : tuple of float
        Range of the period of the slow phase drift, s.
    rfi_channels : int
        Persistent narrow-band RFI channels (when ``rfi=True``).
    rfi_bursts : int
        Broadband RFI bursts, each one integration long (when ``rfi=True``).
    rfi_strength_sigma : tuple of float
        Range of the RFI amplitude, in units of the cross-correlation σ.
    """

    antennas: tuple = ACTIVE_ANTENNAS
    subbands: tuple = tuple(range(N_SUBBANDS))
    n_chan: int = N_CHAN_PER_SUBBAND
    n_times: int = 24
    integration_time_s: float = INTEGRATION_TIME_S
    sefd_jy: float = field(default_factory=default_sefd)
    reference_frequency_hz: float = 1.4e9
    filename_jitter_s: float = 40.0
    population_density_deg2: float = 50.0
    population_density_flux_jy: float = 2.5e-3
    population_min_flux_jy: float = 2.5e-3
    population_max_flux_jy: float = 20.0
    population_slope_faint: float = 2.0
    population_slope_bright: float = 2.5
    population_break_flux_jy: float = 1.0
    population_radius_deg: float | None = None
    population_threshold_jy: float = 5e-3
    spectral_index_mean: float = -0.7
    spectral_index_std: float = 0.3
    bandpass_amplitude_std: float = 0.06
    bandpass_phase_std: float = 0.1
    delay_std_ns: float = 1.0
    phase_drift_deg: tuple = (1.0, 5.0)
    phase_drift_period_s: tuple = (3600.0, 4 * 3600.0)
    rfi_channels: int = 3
    rfi_bursts: int = 2
    rfi_strength_sigma: tuple = (30.0, 100.0)

    def __post_init__(self):
        ants = tuple(int(a) for a in self.antennas)
        object.__setattr__(self, "antennas", ants)
        object.__setattr__(self, "subbands", tuple(int(s) for s in self.subbands))
        if len(ants) < 2 or list(ants) != sorted(set(ants)):
            raise ConfigurationError(
                "antennas: need at least two distinct station numbers, ascending; "
                f"got {ants}"
            )
        if ants[0] < 1 or ants[-1] > N_STATIONS:
            raise ConfigurationError(
                f"antennas: station numbers must be 1..{N_STATIONS}"
            )
        if not self.subbands or any(s < 0 or s >= N_SUBBANDS for s in self.subbands):
            raise ConfigurationError(f"subbands: must be in 0..{N_SUBBANDS - 1}")
        if len(set(self.subbands)) != len(self.subbands):
            raise ConfigurationError("subbands: duplicated subband")
        if self.n_chan < 2 or 384 % self.n_chan:
            raise ConfigurationError(
                f"n_chan={self.n_chan}: must divide 384 and be ≥ 2"
            )
        if self.n_times < 1:
            raise ConfigurationError(f"n_times={self.n_times}: must be ≥ 1")
        for name in ("integration_time_s", "sefd_jy", "reference_frequency_hz"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{name} must be positive")
        if not 0 < self.population_min_flux_jy < self.population_max_flux_jy:
            raise ConfigurationError("population flux range must satisfy 0 < min < max")
        if self.population_slope_faint <= 1 or self.population_slope_bright <= 1:
            raise ConfigurationError("population slopes must be > 1")

    @classmethod
    def preset(cls, name: str, **overrides) -> SimulationConfig:
        """Build a named preset, optionally with some fields replaced.

        Parameters
        ----------
        name : {"small", "full"}
            ``small``: 12 antennas, 16 subbands × 4 channels, 6 integrations;
            ``full``: 96 antennas, 16 × 48 channels, 24 integrations.
        **overrides
            Fields of :class:`SimulationConfig` to replace.

        Returns
        -------
        SimulationConfig

        Raises
        ------
        ConfigurationError
            For an unknown preset name or field.
        """
        presets = {
            "small": dict(antennas=SMALL_ANTENNAS, n_chan=4, n_times=6),
            "full": dict(
                antennas=ACTIVE_ANTENNAS, n_chan=N_CHAN_PER_SUBBAND, n_times=24
            ),
        }
        if name not in presets:
            raise ConfigurationError(
                f"preset={name!r}: must be one of {sorted(presets)}"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - fields
        if unknown:
            raise ConfigurationError(
                f"unknown SimulationConfig fields: {sorted(unknown)}"
            )
        return cls(**{**presets[name], **overrides})

    @property
    def n_ant(self) -> int:
        """Number of active antennas."""
        return len(self.antennas)

    @property
    def n_baselines(self) -> int:
        """Baselines including autocorrelations, ``n_ant (n_ant + 1) / 2``."""
        return self.n_ant * (self.n_ant + 1) // 2

    @property
    def tile_duration_s(self) -> float:
        """Length of one tile, s."""
        return self.n_times * self.integration_time_s

    def to_json(self) -> str:
        """Serialise the configuration as JSON (saved with the ground truth).

        Returns
        -------
        str
        """
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SimulationConfig:
        """Inverse of :meth:`to_json`.

        Parameters
        ----------
        text : str
            JSON from :meth:`to_json`.

        Returns
        -------
        SimulationConfig
        """
        data = json.loads(text)
        for key, value in data.items():
            if isinstance(value, list):
                data[key] = tuple(value)
        return cls(**data)
