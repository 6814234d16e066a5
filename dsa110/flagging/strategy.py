"""Flagging strategies: which flaggers :func:`dsa110.flagging.flag_rfi` runs, how."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dsa110.errors import ConfigurationError

__all__ = ["FlagStrategy", "STRATEGIES", "get_strategy"]


@dataclass(frozen=True)
class FlagStrategy:
    """Options of the combined flagger, in the order the steps run.

    Attributes
    ----------
    invalid : bool
        Flag exact zeros and NaN/Inf samples.
    autocorrelations : bool
        Flag autocorrelations.
    amplitude_threshold : float or None
        Flag ``|V|`` above this (Jy); None: no absolute clip.
    sumthreshold : bool
        Run iterative SumThreshold per baseline and polarization.
    threshold : float
        SumThreshold's ``χ_1`` in units of the residual's robust σ.
    rho : float
        SumThreshold's threshold decrease per window doubling.
    max_window : int
        SumThreshold's largest window (samples).
    n_iter : int
        SumThreshold background/threshold iterations.
    threshold_step : float
        Sensitivity factor between SumThreshold iterations.
    sigma_time, sigma_frequency : float
        Background smoothing widths (integrations, channels).
    mad_sigma : float or None
        Robust clip per baseline and polarization at this many σ; None: off.
    extend_polarization : bool
        A sample flagged in one polarization is flagged in all.
    extend_time_fraction, extend_frequency_fraction : float
        Flag a whole channel (integration) of a baseline once more than this
        fraction of it is flagged; 1 disables.
    dead_antenna_fraction : float or None
        Flag every baseline of an antenna whose cross-correlations are flagged
        above this fraction; None: off.
    """

    invalid: bool = True
    autocorrelations: bool = True
    amplitude_threshold: float | None = None
    sumthreshold: bool = True
    threshold: float = 6.0
    rho: float = 1.5
    max_window: int = 64
    n_iter: int = 3
    threshold_step: float = 2.0
    sigma_time: float = 2.5
    sigma_frequency: float = 5.0
    mad_sigma: float | None = 7.0
    extend_polarization: bool = True
    extend_time_fraction: float = 0.5
    extend_frequency_fraction: float = 0.5
    dead_antenna_fraction: float | None = 0.95

    def __post_init__(self):
        def bad(name, why):
            raise ConfigurationError(
                f"flag strategy: {name}={getattr(self, name)!r} {why}"
            )

        if self.amplitude_threshold is not None and not self.amplitude_threshold > 0:
            bad("amplitude_threshold", "must be > 0 or None")
        if not self.threshold > 0:
            bad("threshold", "must be > 0")
        if not self.rho >= 1:
            bad("rho", "must be >= 1")
        if int(self.max_window) < 1:
            bad("max_window", "must be >= 1")
        if int(self.n_iter) < 1:
            bad("n_iter", "must be >= 1")
        if not self.threshold_step >= 1:
            bad("threshold_step", "must be >= 1")
        if not (self.sigma_time >= 0 and self.sigma_frequency >= 0):
            bad("sigma_time", "and sigma_frequency must be >= 0")
        if self.mad_sigma is not None and not self.mad_sigma > 0:
            bad("mad_sigma", "must be > 0 or None")
        for name in ("extend_time_fraction", "extend_frequency_fraction"):
            if not 0 < getattr(self, name) <= 1:
                bad(name, "must be in (0, 1]")
        if (
            self.dead_antenna_fraction is not None
            and not 0 < self.dead_antenna_fraction <= 1
        ):
            bad("dead_antenna_fraction", "must be in (0, 1] or None")

    def replace(self, **changes) -> FlagStrategy:
        """Return a copy with some options changed (validated).

        Parameters
        ----------
        **changes
            Attribute names and new values.

        Returns
        -------
        FlagStrategy

        Raises
        ------
        ConfigurationError
            For an unknown option or an invalid value.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigurationError(
                f"flag strategy: unknown option(s) {sorted(unknown)}"
            )
        return dataclasses.replace(self, **changes)


#: Named strategies. ``"dsa110"``: what the observatory runs (AOFlagger-style
#: SumThreshold + a 7σ MAD clip), plus zeros, autocorrelations, extension and
#: dead antennas. ``"basic"``: zeros/NaN and autocorrelations only.
STRATEGIES = {
    "dsa110": FlagStrategy(),
    "basic": FlagStrategy(
        sumthreshold=False,
        mad_sigma=None,
        extend_polarization=False,
        extend_time_fraction=1.0,
        extend_frequency_fraction=1.0,
        dead_antenna_fraction=None,
    ),
}


def get_strategy(strategy) -> FlagStrategy:
    """Resolve a strategy name, mapping of options, or :class:`FlagStrategy`.

    Parameters
    ----------
    strategy : str or dict or FlagStrategy
        A name in :data:`STRATEGIES`, a dict of options overriding
        ``"dsa110"`` (may hold ``"base"``: the name to start from), or a strategy.

    Returns
    -------
    FlagStrategy

    Raises
    ------
    ConfigurationError
        For an unknown name or option.
    """
    if isinstance(strategy, FlagStrategy):
        return strategy
    if isinstance(strategy, str):
        try:
            return STRATEGIES[strategy]
        except KeyError:
            raise ConfigurationError(
                f"unknown flag strategy {strategy!r}; "
                f"choose one of {sorted(STRATEGIES)}"
            ) from None
    if isinstance(strategy, dict):
        options = dict(strategy)
        base = get_strategy(options.pop("base", "dsa110"))
        return base.replace(**options)
    raise ConfigurationError(
        f"flag strategy must be a name, a dict or a FlagStrategy, not {strategy!r}"
    )
