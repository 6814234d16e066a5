"""Sky models for the simulator: point sources and an NVSS-like random population.

Fluxes are Stokes I in Jy at the reference frequency (1.4 GHz by default), with
``S(f) = S_ref (f / f_ref)^α``. The sky is unpolarized and the simulator puts
``S`` in both XX and YY (Stokes ``I = (XX + YY) / 2``, the convention with which
DSA-110 calibrates each of XX and YY to a source's Stokes I flux).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsa110.errors import ConfigurationError
from dsa110.telescope.antennas import DISH_DIAMETER_M
from dsa110.telescope.beam import SPEED_OF_LIGHT, airy_beam

__all__ = [
    "SkyModel",
    "point_source",
    "draw_population",
    "population_counts",
    "airy_envelope",
    "angular_separation",
]

_FIELDS = ("ra", "dec", "flux", "spectral_index", "population", "size")
_AIRY_FIRST_NULL_X = 3.8317059702075125  # first zero of J1
_AIRY_FIRST_SIDELOBE = 0.0175  # peak of the first sidelobe of (2 J1(x)/x)^2


@dataclass(frozen=True)
class SkyModel:
    """A list of point sources.

    Attributes
    ----------
    ra, dec : numpy.ndarray
        ``(source,)`` float64, ICRS radians.
    flux : numpy.ndarray
        ``(source,)`` float64, Stokes I at the reference frequency, Jy.
    spectral_index : numpy.ndarray
        ``(source,)`` float64, ``α`` in ``S ∝ f^α``.
    population : numpy.ndarray
        ``(source,)`` bool, True for sources of the random population.
    size : numpy.ndarray, optional
        ``(source,)`` float64 FWHM of a circular Gaussian, radians; 0 (the
        default) for a point source.
    """

    ra: np.ndarray
    dec: np.ndarray
    flux: np.ndarray
    spectral_index: np.ndarray
    population: np.ndarray
    size: np.ndarray | None = None

    def __post_init__(self):
        n = np.asarray(self.ra).size
        if self.size is None:
            object.__setattr__(self, "size", np.zeros(n))
        for name in _FIELDS:
            arr = np.atleast_1d(np.asarray(getattr(self, name)))
            if name == "population":
                arr = np.broadcast_to(arr.astype(bool), (n,)).copy()
            else:
                arr = arr.astype(np.float64)
            if arr.shape != (n,):
                raise ConfigurationError(
                    f"SkyModel.{name}: shape {arr.shape}, expected ({n},)"
                )
            if name != "population" and not np.all(np.isfinite(arr)):
                raise ConfigurationError(f"SkyModel.{name}: values must be finite")
            object.__setattr__(self, name, arr)
        if np.any(self.size < 0):
            raise ConfigurationError("SkyModel.size: FWHM must be ≥ 0")
        if np.any(np.abs(self.dec) > np.pi / 2):
            raise ConfigurationError("SkyModel.dec: must be within ±π/2 rad")

    def __len__(self) -> int:
        return self.ra.size

    @classmethod
    def empty(cls) -> SkyModel:
        """Return a sky with no sources."""
        z = np.zeros(0)
        return cls(z, z, z, z, np.zeros(0, bool))

    @classmethod
    def from_degrees(
        cls, ra_deg, dec_deg, flux_jy, spectral_index=0.0, size_arcsec=0.0
    ) -> SkyModel:
        """Build user sources from degrees.

        Parameters
        ----------
        ra_deg, dec_deg : array-like of float
            ``(source,)`` ICRS degrees.
        flux_jy : array-like of float
            ``(source,)`` flux at the reference frequency, Jy.
        spectral_index : float or array-like of float
            ``α``; broadcast to ``(source,)``.
        size_arcsec : float or array-like of float
            FWHM of a circular Gaussian, arcsec (0: point source).

        Returns
        -------
        SkyModel
        """
        ra = np.radians(np.atleast_1d(np.asarray(ra_deg, dtype=np.float64)))
        n = ra.size
        return cls(
            ra,
            np.radians(np.broadcast_to(np.asarray(dec_deg, dtype=np.float64), (n,))),
            np.broadcast_to(np.asarray(flux_jy, dtype=np.float64), (n,)),
            np.broadcast_to(np.asarray(spectral_index, dtype=np.float64), (n,)),
            np.zeros(n, bool),
            np.radians(
                np.broadcast_to(np.asarray(size_arcsec, dtype=float), (n,)) / 3600
            ),
        )

    def concat(self, other: SkyModel) -> SkyModel:
        """Return this model followed by ``other``."""
        return SkyModel(
            *(np.concatenate([getattr(self, n), getattr(other, n)]) for n in _FIELDS)
        )

    def select(self, mask) -> SkyModel:
        """Return the sources where ``mask`` is True (or at the given indices)."""
        return SkyModel(*(getattr(self, n)[mask] for n in _FIELDS))

    def flux_at(self, freq_hz, reference_frequency_hz: float):
        """Flux of each source at each frequency.

        Parameters
        ----------
        freq_hz : array-like of float
            ``(frequency,)`` Hz.
        reference_frequency_hz : float
            Frequency at which ``flux`` is given.

        Returns
        -------
        numpy.ndarray
            ``(source, frequency)`` float64, Jy.
        """
        ratio = np.asarray(freq_hz, dtype=np.float64)[None, :] / reference_frequency_hz
        return self.flux[:, None] * ratio ** self.spectral_index[:, None]


def point_source(
    ra_deg: float,
    dec_deg: float,
    flux_jy: float,
    spectral_index: float = 0.0,
    size_arcsec: float = 0.0,
):
    """Build one source (a point, or a circular Gaussian of FWHM ``size_arcsec``).

    Parameters
    ----------
    ra_deg, dec_deg : float
        ICRS degrees.
    flux_jy : float
        Flux at the reference frequency, Jy.
    spectral_index : float
        ``α`` in ``S ∝ f^α``.
    size_arcsec : float
        FWHM of a circular Gaussian, arcsec (0: point source).

    Returns
    -------
    SkyModel
    """
    return SkyModel.from_degrees(
        [ra_deg], [dec_deg], [flux_jy], spectral_index, size_arcsec
    )


def population_counts(config):
    """Return the broken power-law source counts of the random population.

    Parameters
    ----------
    config : SimulationConfig
        Supplies the density normalisation, slopes, break and flux range.

    Returns
    -------
    density_deg2 : float
        Sources per deg² between ``population_min_flux_jy`` and
        ``population_max_flux_jy``.
    sample : callable
        ``sample(u)`` maps uniform deviates ``u`` in [0, 1) to fluxes (Jy) with
        the counts' distribution (inverse CDF).

    Notes
    -----
    ``dN/dS = k S^-γ1`` below the break flux ``S_b`` and ``k S_b^(γ2-γ1) S^-γ2``
    above it. The normalisation puts ``population_density_deg2`` sources per deg²
    above ``population_density_flux_jy``: by default 50 deg⁻² above 2.5 mJy, the
    density of the NVSS catalogue (1.8 million sources over the 82 % of the sky
    north of δ = −40°, complete near 2.5 mJy; Condon et al. 1998, AJ 115, 1693).
    The default slopes (γ1 = 2.0 below 1 Jy, the Euclidean γ2 = 2.5 above)
    approximate the 1.4 GHz Euclidean-normalised counts ``S^2.5 dN/dS``, which rise
    roughly as ``S^0.5`` from a few mJy to ~1 Jy and are flat above (Condon 1984,
    ApJ 287, 461; de Zotti et al. 2010, A&ARv 18, 1). A single ``S^-1.8`` law
    normalised at 2.5 mJy would put ~10× too many sources above 1 Jy; the break
    gives ~0.05 deg⁻² above 1 Jy, near the observed few × 10⁻² deg⁻².
    """
    g1, g2 = config.population_slope_faint, config.population_slope_bright
    sb = config.population_break_flux_jy
    smin, smax = config.population_min_flux_jy, config.population_max_flux_jy

    def n_above(s):
        # integral counts per unit k above s (to infinity for γ > 1)
        s = np.asarray(s, dtype=np.float64)
        above_break = sb ** (g2 - g1) * np.maximum(s, sb) ** (1 - g2) / (g2 - 1)
        below = np.where(s < sb, (s ** (1 - g1) - sb ** (1 - g1)) / (g1 - 1), 0.0)
        return below + above_break

    k = config.population_density_deg2 / float(
        n_above(config.population_density_flux_jy)
    )
    n_lo, n_hi = float(n_above(smin)), float(n_above(smax))
    density = k * (n_lo - n_hi)
    # tabulated inverse CDF on a fine log grid (exact enough: 4096 log-spaced nodes)
    grid = np.geomspace(smin, smax, 4096)
    cdf = (n_lo - n_above(grid)) / (n_lo - n_hi)

    def sample(u):
        return np.exp(np.interp(u, cdf, np.log(grid)))

    return density, sample


def angular_separation(ra1, dec1, ra2, dec2):
    """Great-circle distance (haversine form, stable at small angles).

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : array-like of float
        Radians, broadcast together.

    Returns
    -------
    numpy.ndarray
        float64 radians.
    """
    sdd = np.sin((dec2 - dec1) / 2.0)
    sda = np.sin((ra2 - ra1) / 2.0)
    h = sdd**2 + np.cos(dec1) * np.cos(dec2) * sda**2
    return 2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def airy_envelope(offset_rad, freq_hz, *, diameter_m: float = DISH_DIAMETER_M):
    """Bound :func:`dsa110.telescope.airy_beam` from above, non-increasingly.

    ``max(main lobe, 1.1 × min(0.0175, 8 / (π x³)))`` where the main lobe is the
    exact beam out to the first null (``x = 3.83``) and zero beyond, and the
    second term is 1.1 times the smaller of the first
    sidelobe's peak and the asymptotic sidelobe envelope of ``(2 J1(x)/x)²``
    (``|J1(x)| ≈ sqrt(2/(πx))``). It decreases with ``x``; the test suite checks
    that it bounds the beam.

    Parameters
    ----------
    offset_rad : array-like of float
        Angular offsets, radians.
    freq_hz : array-like of float
        Frequencies, Hz (broadcast with ``offset_rad``).
    diameter_m : float, keyword-only
        Dish diameter.

    Returns
    -------
    numpy.ndarray
        float64 ≥ ``airy_beam(offset_rad, freq_hz)``.
    """
    x = (
        np.pi
        * diameter_m
        * np.asarray(freq_hz)
        * np.sin(np.asarray(offset_rad))
        / SPEED_OF_LIGHT
    )
    x = np.abs(x)
    main = airy_beam(np.asarray(offset_rad), freq_hz, diameter_m=diameter_m)
    main = np.where(x <= _AIRY_FIRST_NULL_X, main, 0.0)
    xs = np.maximum(x, _AIRY_FIRST_NULL_X)
    tail = 1.1 * np.minimum(_AIRY_FIRST_SIDELOBE, 8.0 / (np.pi * xs**3))
    return np.maximum(main, tail)


def draw_population(
    rng,
    config,
    *,
    ra_range,
    dec_center: float,
    radius: float,
) -> SkyModel:
    """Draw an NVSS-like random population over a patch of sky.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    config : SimulationConfig
        Counts, flux range and spectral-index distribution.
    ra_range : tuple of float, keyword-only
        ``(ra_start, ra_width)`` radians: RA from ``ra_start`` over ``ra_width``
        (wrapped to [0, 2π); a width ≥ 2π covers all RA).
    dec_center : float, keyword-only
        Declination at the centre of the band, radians.
    radius : float, keyword-only
        Half-height of the declination band, radians (clipped at the poles).

    Returns
    -------
    SkyModel
        Sources uniform on the sphere within the patch, fluxes from
        :func:`population_counts`, spectral indices normal.
    """
    density, sample = population_counts(config)
    ra0, width = float(ra_range[0]), min(float(ra_range[1]), 2 * math.pi)
    dec_lo = max(dec_center - radius, -math.pi / 2)
    dec_hi = min(dec_center + radius, math.pi / 2)
    area_deg2 = width * (math.sin(dec_hi) - math.sin(dec_lo)) * (180 / math.pi) ** 2
    n = int(rng.poisson(density * area_deg2))
    ra = np.mod(ra0 + width * rng.random(n), 2 * math.pi)
    dec = np.arcsin(rng.uniform(math.sin(dec_lo), math.sin(dec_hi), n))
    flux = sample(rng.random(n))
    alpha = rng.normal(config.spectral_index_mean, config.spectral_index_std, n)
    return SkyModel(ra, dec, flux, alpha, np.ones(n, bool))
