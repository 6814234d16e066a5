"""Simulate DSA-110 observations: a sky and an instrument → correlator-format UVH5.

The sky visibility of baseline ``(i, j)`` (``b = x_j − x_i``) in integration ``t``
and channel ``f`` is

``V_ij(t, f) = Σ_k S_k (f/f_ref)^α_k A(θ_k(t), f) exp(+2πi b·(d_k(t) − s(t)) f/c)``

where ``d_k(t)`` is source ``k``'s apparent topocentric unit vector (ITRF axes,
:func:`dsa110.phasing.source_directions`), ``s(t)`` that of integration ``t``'s
phase centre (the meridian at the pointing declination at the integration's
centre, :func:`dsa110.phasing.meridian_centers`), and ``A`` the Airy power beam
at the source's offset from the pointing (the dishes point at the meridian, so
the pointing is ``s(t)``). Visibilities are evaluated at each integration's
centre (no time or bandwidth smearing). Gains, noise and RFI are added as
described in :mod:`dsa110.simulate.instrument` and
:func:`dsa110.simulate.kernels.assemble_visibilities`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110.errors import ConfigurationError, OutputExistsError
from dsa110.phasing.uvw import (
    baseline_uvw,
    meridian_centers,
    source_directions,
    uvw_basis,
)
from dsa110.simulate.config import SimulationConfig, noise_sigma
from dsa110.simulate.instrument import draw_gains, draw_rfi
from dsa110.simulate.kernels import (
    add_gaussian_sources,
    antenna_phasors,
    assemble_visibilities,
)
from dsa110.simulate.sky import (
    SkyModel,
    airy_envelope,
    angular_separation,
    draw_population,
)
from dsa110.simulate.truth import Truth, save_truth
from dsa110.simulate.writer import CorrelatorFile, applied_delays_string
from dsa110.telescope.antennas import (
    DISH_DIAMETER_M,
    N_STATIONS,
    antenna_table,
    default_site,
)
from dsa110.telescope.beam import SPEED_OF_LIGHT, airy_beam
from dsa110.telescope.frequencies import channel_width, subband_frequencies
from dsa110.telescope.time import as_time

__all__ = [
    "Tile",
    "simulate_observation",
    "integration_times",
    "correlator_baselines",
    "unix_to_jd",
]

_UNIX_EPOCH_JD = 2440587.5
_STRIP_DEG = 2.0  # RA width of the population's independently seeded strips
_TAG_GAINS, _TAG_POPULATION, _TAG_TILE, _TAG_RFI_CHANNELS = 0, 1, 2, 3


@dataclass(frozen=True)
class Tile:
    """One simulated tile (observation group).

    Attributes
    ----------
    index : int
        Tile number within the simulated observation.
    start : str
        Nominal start, ISO UTC to the second.
    files : tuple of Path
        The subband files, in subband order (sb00 first).
    truth_path : Path
        The ground-truth file (:func:`dsa110.simulate.load_truth`).
    """

    index: int
    start: str
    files: tuple
    truth_path: Path


def unix_to_jd(unix):
    """Unix seconds (UTC) → Julian date (UTC).

    Parameters
    ----------
    unix : array-like of float
        Seconds since 1970-01-01 UTC.

    Returns
    -------
    numpy.ndarray
        float64 JD.
    """
    return np.asarray(unix, dtype=np.float64) / 86400.0 + _UNIX_EPOCH_JD


def _iso(unix: float) -> str:
    return _dt.datetime.fromtimestamp(math.floor(unix), _dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )


def integration_times(start, config: SimulationConfig, tile: int = 0) -> np.ndarray:
    """Centres of the integrations of one tile.

    Tile ``k`` starts at ``start + k · n_times · integration_time``; integration
    ``n`` of it is centred at ``(n + ½) · integration_time`` after that.

    Parameters
    ----------
    start : str, float or astropy.time.Time
        Start of the observation (ISO UTC string, Time, or unix seconds).
    config : SimulationConfig
        Number and length of integrations.
    tile : int
        Tile index.

    Returns
    -------
    numpy.ndarray
        ``(time,)`` float64 unix seconds.
    """
    t0 = _start_unix(start) + tile * config.tile_duration_s
    return t0 + (np.arange(config.n_times) + 0.5) * config.integration_time_s


def _start_unix(start) -> float:
    if isinstance(start, int | float | np.floating):
        return float(start)
    try:
        return float(as_time(start).unix)
    except ValueError as exc:
        raise ConfigurationError(f"start={start!r}: not an ISO time ({exc})") from exc


def correlator_baselines(n_ant: int):
    """Return the correlator's baseline order: for ``j`` ascending, ``i = 0..j``.

    Parameters
    ----------
    n_ant : int
        Number of active antennas.

    Returns
    -------
    ant1, ant2 : numpy.ndarray
        ``(n_ant (n_ant + 1) / 2,)`` int64 indices into the active antennas,
        autocorrelations included, ``ant1 ≤ ant2``.
    """
    ant2, ant1 = np.tril_indices(n_ant)  # row-major over the lower triangle (j, i≤j)
    return ant1.astype(np.int64), ant2.astype(np.int64)


class _Population:
    """The random population, drawn in RA strips seeded independently.

    The sky therefore does not depend on how many tiles are simulated: a source
    drifting from one tile into the next is the same source.
    """

    def __init__(self, seed, config, dec_center, radius):
        self.seed, self.config = seed, config
        self.dec_center, self.radius = dec_center, radius
        self.n_strips = int(round(360.0 / _STRIP_DEG))
        self.width = 2 * math.pi / self.n_strips
        self._cache = {}

    def _strip(self, s):
        if s not in self._cache:
            rng = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=(_TAG_POPULATION, s))
            )
            self._cache[s] = draw_population(
                rng,
                self.config,
                ra_range=(s * self.width, self.width),
                dec_center=self.dec_center,
                radius=self.radius,
            )
        return self._cache[s]

    def around(self, ra_lo, ra_hi) -> SkyModel:
        """Every population source in the strips covering RA ra_lo..ra_hi ± margin."""
        max_dec = min(abs(self.dec_center) + self.radius, math.pi / 2)
        if max_dec >= math.pi / 2 - 1e-9:
            strips = range(self.n_strips)
        else:
            margin = self.radius / math.cos(max_dec)
            span = (ra_hi - ra_lo) % (2 * math.pi) + 2 * margin
            first = math.floor((ra_lo - margin) / self.width)
            n = min(self.n_strips, math.ceil(span / self.width) + 1)
            strips = sorted({(first + i) % self.n_strips for i in range(n)})
        sky = SkyModel.empty()
        for s in strips:
            sky = sky.concat(self._strip(s))
        return sky


def _check_outputs(paths, overwrite):
    for p in paths:
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p}: exists already (pass overwrite=True)")


def simulate_observation(
    outdir,
    *,
    preset: str = "small",
    seed: int = 0,
    start="2026-11-24T00:00:00",
    n_tiles: int = 1,
    dec_deg: float = 33.0,
    sources: SkyModel | None = None,
    population: bool = True,
    noise: bool = True,
    gains: bool = True,
    rfi: bool = False,
    config: SimulationConfig | None = None,
    overwrite: bool = False,
    nthreads: int | None = None,
) -> list[Tile]:
    """Simulate DSA-110 drift-scan tiles and write them as the correlator does.

    Parameters
    ----------
    outdir : str or Path
        Output directory (created if needed); every tile's 16 files and truth go
        in it, flat.
    preset : {"small", "full"}, keyword-only
        Size preset; ignored when ``config`` is given.
    seed : int, keyword-only
        Seed of every random draw (gains, population, noise, RFI, name jitter).
    start : str, float or astropy.time.Time, keyword-only
        Nominal start of the first tile (ISO UTC).
    n_tiles : int, keyword-only
        Consecutive tiles, each ``n_times × 12.88 s`` after the previous.
    dec_deg : float, keyword-only
        Pointing declination, degrees.
    sources : SkyModel, optional, keyword-only
        User point sources (e.g. :func:`dsa110.simulate.point_source`).
    population : bool, keyword-only
        Add the NVSS-like random population.
    noise, gains, rfi : bool, keyword-only
        Thermal noise, per-antenna gains, RFI.
    config : SimulationConfig, optional, keyword-only
        Full configuration (overrides ``preset``).
    overwrite : bool, keyword-only
        Replace existing files of the same names.
    nthreads : int, optional, keyword-only
        Threads computing subbands in parallel (default: the CPU count). BLAS is
        held to one thread inside each, and the result does not depend on it.

    Returns
    -------
    list of Tile

    Raises
    ------
    ConfigurationError
        For invalid options.
    OutputExistsError
        When an output file exists and ``overwrite`` is False.
    """
    config = SimulationConfig.preset(preset) if config is None else config
    if n_tiles < 1:
        raise ConfigurationError(f"n_tiles={n_tiles}: must be ≥ 1")
    if not -90.0 <= dec_deg <= 90.0:
        raise ConfigurationError(f"dec_deg={dec_deg}: must be within ±90")
    sources = SkyModel.empty() if sources is None else sources
    if not isinstance(sources, SkyModel):
        raise ConfigurationError("sources: expected a SkyModel (see point_source)")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t_start = _start_unix(start)
    pointing_dec = math.radians(dec_deg)

    site = default_site()
    rel_ecef = antenna_table().relative_ecef(site)
    ant_index = np.asarray(config.antennas) - 1
    positions = rel_ecef[ant_index]
    a1, a2 = correlator_baselines(config.n_ant)
    sb_freqs = {
        sb: subband_frequencies(sb, n_chan=config.n_chan) for sb in config.subbands
    }
    freq_asc = np.sort(np.concatenate(list(sb_freqs.values())))
    sb_index = {sb: np.searchsorted(freq_asc, f) for sb, f in sb_freqs.items()}
    dnu = channel_width(config.n_chan)
    sigma = noise_sigma(config.sefd_jy, dnu, config.integration_time_s)
    auto_scale = 1.0 / math.sqrt(dnu * config.integration_time_s)

    gain_model = draw_gains(
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TAG_GAINS,))),
        config,
        freq_min_hz=freq_asc[0],
        freq_max_hz=freq_asc[-1],
        t0_unix=t_start,
        enabled=gains,
    )
    rfi_rng = np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(_TAG_RFI_CHANNELS,))
    )
    rfi_channels = rfi_rng.choice(
        freq_asc.size, size=min(config.rfi_channels, freq_asc.size), replace=False
    )
    radius = config.population_radius_deg
    radius = (
        3 * 1.2197 * SPEED_OF_LIGHT / (freq_asc[0] * DISH_DIAMETER_M)
        if radius is None
        else math.radians(radius)
    )
    pop = _Population(seed, config, pointing_dec, radius) if population else None

    common = dict(
        config=config,
        seed=seed,
        site=site,
        positions=positions,
        rel_ecef=rel_ecef,
        ant_index=ant_index,
        a1=a1,
        a2=a2,
        sb_freqs=sb_freqs,
        freq_asc=freq_asc,
        sb_index=sb_index,
        dnu=dnu,
        sigma=sigma,
        auto_scale=auto_scale,
        gain_model=gain_model,
        rfi_channels=rfi_channels,
        pointing_dec=pointing_dec,
        sources=sources,
        pop=pop,
        noise=noise,
        gains=gains,
        rfi=rfi,
        outdir=outdir,
        overwrite=overwrite,
        nthreads=nthreads,
    )
    return [
        _simulate_tile(k, t_start + k * config.tile_duration_s, **common)
        for k in range(n_tiles)
    ]


@contextlib.contextmanager
def _blas_single_thread():
    """Hold BLAS to one thread while simulating.

    The simulator parallelises over subbands itself, and small multi-threaded
    BLAS calls oversubscribe a shared machine badly.
    """
    try:
        from threadpoolctl import threadpool_limits  # optional: only a speed-up
    except ImportError:  # pragma: no cover - depends on the environment
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class _SubbandWorker:
    """Computes one subband's visibilities for one integration at a time.

    Each subband has its own random generator, so the noise does not depend on
    the order in which threads run.
    """

    def __init__(
        self,
        freqs,
        index,
        *,
        positions,
        sky,
        offset,
        delta,
        direction,
        gain_values,
        rfi_model,
        a1,
        a2,
        config,
        sigma,
        auto_scale,
        noise,
        rng,
    ):
        self.direction = direction
        self.point = np.flatnonzero(sky.size == 0)
        self.extended = np.flatnonzero(sky.size > 0)
        self.freqs, self.index = freqs, index
        self.positions, self.sky, self.offset, self.delta = (
            positions,
            sky,
            offset,
            delta,
        )
        self.gain_values, self.rfi_model = gain_values, rfi_model
        self.a1, self.a2, self.config = a1, a2, config
        self.sigma, self.auto_scale, self.noise, self.rng = (
            sigma,
            auto_scale,
            noise,
            rng,
        )
        self.flux = sky.flux_at(freqs, config.reference_frequency_hz)  # (source, freq)

    def __call__(self, t):
        cfg, n_freq, n_ant = self.config, self.freqs.size, self.config.n_ant
        weights = (
            self.flux * airy_beam(self.offset[:, t, None], self.freqs[None, :])
        ).T.astype(np.float32)  # (freq, source)
        pt, ext = self.point, self.extended
        phasors = antenna_phasors(self.positions, self.delta[pt, t], self.freqs)
        w_pt = np.ascontiguousarray(weights[:, pt])
        vis_model = np.empty((n_freq, n_ant, n_ant), np.complex64)
        for f in range(n_freq):
            np.matmul(phasors[f].conj() * w_pt[f], phasors[f].T, out=vis_model[f])
        if ext.size:
            add_gaussian_sources(
                self.positions,
                self.direction[ext, t],
                self.delta[ext, t],
                weights[:, ext],
                self.sky.size[ext],
                self.freqs,
                out=vis_model,
            )
        noise_draw = (
            self.rng.standard_normal((self.a1.size, n_freq, 2, 2), dtype=np.float32)
            if self.noise
            else None
        )
        return assemble_visibilities(
            vis_model,
            np.ascontiguousarray(self.gain_values[t][:, self.index, :]),
            noise_draw,
            self.rfi_model.amplitude[t, self.index],
            self.rfi_model.antenna_response,
            self.a1,
            self.a2,
            sefd=cfg.sefd_jy,
            sigma=self.sigma if self.noise else 0.0,
            auto_scale=self.auto_scale,
        )


def _tile_sky(sources, pop, config, ra_c, dec_c, freq_asc):
    """User sources plus the population sources that pass the beam threshold."""
    if pop is None:
        return sources, 0
    cand = pop.around(float(ra_c.min()), float(ra_c.max()))
    if len(cand) == 0:
        return sources, 0
    # ICRS separations approximate the apparent ones to ~1e-4 relative (aberration);
    # the envelope bound has a 10 % margin, so nothing above threshold is dropped.
    sep = angular_separation(
        cand.ra[:, None], cand.dec[:, None], ra_c[None], dec_c[None]
    )
    min_sep = np.min(sep, axis=1)
    ratio = np.stack([freq_asc[0], freq_asc[-1]]) / config.reference_frequency_hz
    spec = np.max(ratio[None, :] ** cand.spectral_index[:, None], axis=1)
    bound = (
        cand.flux * spec * airy_envelope(np.minimum(min_sep, np.pi / 2), freq_asc[0])
    )
    keep = bound >= config.population_threshold_jy
    return sources.concat(cand.select(keep)), len(cand)


def _simulate_tile(
    k,
    t0,
    *,
    config,
    seed,
    site,
    positions,
    rel_ecef,
    ant_index,
    a1,
    a2,
    sb_freqs,
    freq_asc,
    sb_index,
    dnu,
    sigma,
    auto_scale,
    gain_model,
    rfi_channels,
    pointing_dec,
    sources,
    pop,
    noise,
    gains,
    rfi,
    outdir,
    overwrite,
    nthreads,
):
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TAG_TILE, k)))
    nthreads = nthreads or os.cpu_count() or 1
    n_t = config.n_times
    times = t0 + (np.arange(n_t) + 0.5) * config.integration_time_s
    time_jd = unix_to_jd(times)
    ra_c, dec_c = meridian_centers(times, pointing_dec, site)
    s_dir = source_directions(ra_c, dec_c, times, site)  # (time, 3)
    basis = uvw_basis(ra_c[:1], dec_c[:1], times[:1], site)
    uvw = baseline_uvw(rel_ecef, ant_index[a1], ant_index[a2], basis)[0].astype(
        np.float32
    )

    sky, n_drawn = _tile_sky(sources, pop, config, ra_c, dec_c, freq_asc)
    if len(sky):
        d_dir = source_directions(
            sky.ra[:, None], sky.dec[:, None], times[None, :], site
        )
    else:
        d_dir = np.zeros((0, n_t, 3))
    delta = d_dir - s_dir[None]  # (source, time, 3)
    offset = 2.0 * np.arcsin(np.clip(np.linalg.norm(delta, axis=-1) / 2.0, 0.0, 1.0))
    apparent = sky.flux[:, None] * airy_beam(offset, config.reference_frequency_hz)

    gain_values = gain_model.evaluate(times, freq_asc)  # (time, antenna, freq, pol)
    rfi_model = draw_rfi(
        rng,
        config,
        n_times=n_t,
        n_freq=freq_asc.size,
        sigma_jy=sigma,
        persistent_channels=rfi_channels,
        enabled=rfi,
    )

    jitter = rng.uniform(0.0, config.filename_jitter_s, len(config.subbands))
    names = {
        sb: f"{_iso(round(t0 + j))}_sb{sb:02d}.hdf5"
        for sb, j in zip(config.subbands, jitter)
    }
    tile_start = _iso(t0)
    truth_path = outdir / f"{tile_start}_truth.npz"
    paths = [outdir / names[sb] for sb in config.subbands]
    _check_outputs(paths + [truth_path], overwrite)

    station = np.asarray(config.antennas)
    header = dict(
        site=site,
        antenna_positions=rel_ecef,
        ant1=station[a1] - 1,
        ant2=station[a2] - 1,
        channel_width_hz=dnu,
        pointing_dec=pointing_dec,
        applied_delays=applied_delays_string(np.zeros((N_STATIONS, 2), int)),
        fs_table="simulated",
        history=(
            f"Simulated by dsa110.simulate: seed={seed}, tile={k}, "
            f"n_ant={config.n_ant}, noise={noise}, gains={gains}, rfi={rfi}."
        ),
    )
    files = {}
    try:
        for sb in config.subbands:
            files[sb] = CorrelatorFile(
                outdir / names[sb], freqs_hz=sb_freqs[sb], **header
            )
        workers = {
            sb: _SubbandWorker(
                sb_freqs[sb],
                sb_index[sb],
                positions=positions,
                sky=sky,
                offset=offset,
                delta=delta,
                direction=d_dir,
                gain_values=gain_values,
                rfi_model=rfi_model,
                a1=a1,
                a2=a2,
                config=config,
                sigma=sigma,
                auto_scale=auto_scale,
                noise=noise,
                rng=np.random.default_rng(
                    np.random.SeedSequence(seed, spawn_key=(_TAG_TILE, k, sb))
                ),
            )
            for sb in config.subbands
        }
        with _blas_single_thread(), ThreadPoolExecutor(nthreads) as pool:
            pending = [pool.submit(workers[sb], 0) for sb in config.subbands]
            for t in range(n_t):
                done = [fut.result() for fut in pending]
                if (
                    t + 1 < n_t
                ):  # compute the next integration while this one is written
                    pending = [
                        pool.submit(workers[sb], t + 1) for sb in config.subbands
                    ]
                for sb, visdata in zip(config.subbands, done):
                    files[sb].append(
                        time_jd=time_jd[t],
                        integration_time_s=config.integration_time_s,
                        uvw=uvw,
                        visdata=visdata,
                    )
        written = tuple(files[sb].close() for sb in config.subbands)
    except BaseException:
        for fh in files.values():
            fh.abort()
        raise

    truth = Truth(
        config=config,
        seed=int(seed),
        tile_index=k,
        time_jd=time_jd,
        time_unix=times,
        phase_center_ra=ra_c,
        phase_center_dec=dec_c,
        pointing_dec=pointing_dec,
        frequency=freq_asc,
        antennas=station,
        ant1=station[a1],
        ant2=station[a2],
        source_ra=sky.ra,
        source_dec=sky.dec,
        source_flux=sky.flux,
        source_spectral_index=sky.spectral_index,
        source_population=sky.population,
        source_size=sky.size,
        source_offset=offset,
        source_apparent_flux=apparent,
        gains=gain_values,
        rfi_amplitude=rfi_model.amplitude,
        sefd_jy=config.sefd_jy,
        sigma_jy=sigma if noise else 0.0,
        noise=bool(noise),
        gains_applied=bool(gains),
        rfi=bool(rfi),
        n_population_drawn=n_drawn,
    )
    save_truth(truth, truth_path)
    return Tile(k, tile_start, written, truth_path)
