"""The pipeline's one typed configuration.

Every stage's parameters live in one pydantic model with documented defaults,
loadable from TOML (or YAML when PyYAML is installed) and overridable with
``section.key=value`` strings from the command line. Invalid values fail with a
message naming the field before any work starts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dsa110.errors import ConfigurationError

__all__ = [
    "PipelineConfig",
    "InputConfig",
    "FlagConfig",
    "CalibrationConfig",
    "ImagingConfig",
    "PhotometryConfig",
    "VariabilityConfig",
    "RuntimeConfig",
    "load_config",
    "apply_overrides",
    "set_values",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputConfig(_Section):
    """Finding and opening groups."""

    tolerance_s: float = Field(
        60.0, gt=0, description="grouping tolerance between subband files, s"
    )
    missing: Literal["error", "flag", "skip"] = Field(
        "flag",
        description="absent subbands: refuse the tile, fill with flagged zeros, or leave out",
    )
    incomplete_timeout_s: float = Field(
        600.0,
        ge=0,
        description="watch mode: wait this long for a group's 16 files before handling it as incomplete",
    )
    incomplete: Literal["skip", "flag"] = Field(
        "flag",
        description="watch mode: what to do with an incomplete group after the timeout",
    )
    time_chunk: int | None = Field(
        None, ge=1, description="integrations per chunk (default: a whole file)"
    )


class FlagConfig(_Section):
    """RFI flagging."""

    enabled: bool = Field(True, description="flag RFI before calibration")
    strategy: str = Field("dsa110", description="a dsa110.flagging strategy name")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v):
        from dsa110.flagging.strategy import STRATEGIES  # deferred: numba

        if v not in STRATEGIES:
            raise ValueError(
                f"unknown flag strategy {v!r}; choose one of {sorted(STRATEGIES)}"
            )
        return v


class CalibrationConfig(_Section):
    """Calibration: solving on calibrator transits, and choosing solutions."""

    enabled: bool = Field(
        True, description="calibrate (solve on transits, apply to every tile)"
    )
    calibrator: str | None = Field(
        None,
        description="force a calibrator name; default: the best one for the declination",
    )
    min_calibrator_flux_jy: float = Field(
        1.0, gt=0, description="minimum beam-attenuated flux of a usable calibrator, Jy"
    )
    refant: str = Field(
        "103", description="reference antenna name (with the outrigger fallback chain)"
    )
    min_snr: float = Field(
        5.0, gt=0, description="solutions below this SNR are flagged"
    )
    min_baselines: int = Field(
        4, ge=1, description="fewest unflagged baselines to solve an antenna"
    )
    uvmin_lambda: float = Field(
        1000.0, ge=0, description="uv-range cut for solving, wavelengths"
    )
    field_model: bool = Field(
        True,
        description="solve against the calibrator plus the reference survey's "
        "sources in the primary beam (field_min_apparent_jy), not the calibrator "
        "alone: the field's flux otherwise biases every antenna's gains",
    )
    field_min_apparent_jy: float = Field(
        0.005,
        gt=0,
        description="smallest beam-attenuated flux of a survey source in the "
        "calibration model, Jy. The gains partly fit away what the model leaves "
        "out (flux suppression of unmodelled sources): on the simulated 3C48 tile "
        "at 0.02 the 13 SNR > 50 sources left out came out 0.5 % low on average "
        "against the truth's gains, one near the PB limit 3.7 % low in every noise "
        "draw; at 0.005 (all 102 sources) none. Each source costs ~0.045 s of DFT "
        "per full tile on 2 cores",
    )
    gain_solint: Literal["inf"] | float = Field(
        "inf", description="'inf' or seconds, e.g. 60"
    )
    gain_mode: Literal["ap", "p"] = Field(
        "ap", description="gains: amplitude and phase, or phase only"
    )
    validity_hours: float = Field(
        12.0,
        gt=0,
        description="solutions apply within ± this many hours of their transit",
    )
    max_dec_offset_deg: float = Field(
        5.0,
        gt=0,
        description="solutions apply to tiles within this pointing-declination difference",
    )

    @field_validator("refant", mode="before")
    @classmethod
    def _refant_name(cls, v):
        # antenna names are numbers ("103"): --set refant=103 and TOML's
        # refant = 103 give an int, which is the same name
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v

    @field_validator("gain_solint")
    @classmethod
    def _solint(cls, v):
        if v != "inf" and not float(v) > 0:
            raise ValueError(
                "gain_solint must be 'inf' or a positive number of seconds"
            )
        return v


class ImagingConfig(_Section):
    """Imaging of each tile."""

    npix: int = Field(2400, ge=64, le=16384, description="image size, pixels")
    cell_arcsec: float = Field(6.0, gt=0, description="pixel size, arcsec")
    weighting: Literal["natural", "uniform", "briggs"] = Field(
        "briggs", description="visibility weighting"
    )
    robust: float = Field(0.0, ge=-2, le=2, description="Briggs robustness")
    niter: int = Field(
        30000,
        ge=0,
        description="CLEAN iterations at most (a safeguard: CLEAN stops on its "
        "threshold or major cycles first). A transit tile's ~100 catalogue sources "
        "need several thousand at loop gain 0.1 (7315 on a simulated full tile; "
        "1000 stopped CLEAN with their sidelobes above 5 sigma, hundreds of "
        "spurious blind detections); a tile holding 3C48's transit ~20000",
    )
    threshold_sigma: float = Field(
        3.0,
        gt=0,
        description="CLEAN auto-threshold inside the mask, × MAD noise (the "
        "catalogue's mask leaves auto-masking nothing to add: CLEAN reaches this "
        "in the last major cycle; it had stopped at the 4-sigma auto-mask level: "
        "on four simulated full tiles spurious blind detections 1/2/2/7 -> 1/2/2/3, "
        "noise 1.02-1.03 -> 1.01-1.03x thermal, no time added)",
    )
    major_cycles: int = Field(3, ge=1, description="Cotton-Schwab major cycles at most")
    calibrator_extra_major_cycles: int = Field(
        1,
        ge=0,
        description="more major cycles on a tile whose own calibrator transit was "
        "solved: at mgain 0.95 each cycle CLEANs to 5 % of its peak, so a 15 Jy "
        "calibrator needs a fourth cycle before the field's faint sources are "
        "CLEANed to the threshold. On a simulated 3C48 tile (2 terms) the sources "
        "of SNR 50-120 came out ~2 % low with 3 cycles (CLEAN stopped at 1.9 mJy, "
        "7-15 % of their flux left in the residual); with 4: median ratio 0.9934 "
        "-> 0.9997, none beyond 2 % and 3 sigma, +39 s",
    )
    mgain: float = Field(
        0.95,
        gt=0,
        le=1,
        description="major-cycle gain: each minor cycle CLEANs down to (1 - mgain) "
        "of its starting peak. With 3 major cycles, 0.8 stops a transit tile's "
        "16 Jy calibrator at ~0.1 Jy (16 -> 3.2 -> 0.6 -> 0.13 Jy); 0.95 reaches "
        "the 5 sigma threshold at the same cost",
    )
    epsilon: float = Field(1e-4, gt=0, lt=1e-1, description="gridding accuracy")
    bda_loss: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="baseline-dependent averaging in frequency before imaging: the "
        "largest bandwidth-smearing loss of a point source at the image's edge "
        "(0: none). 0.01 keeps ~26 % of a tile's visibilities and makes each "
        "gridding pass ~2.8x faster; sources agree with the unaveraged image to "
        "0.1 % (median)",
    )
    beam_time_chunks: int = Field(
        4,
        ge=1,
        description="CLEAN predicts the model through the drifting primary beam of "
        "this many blocks of integrations (1 with beam_freq_chunks 1: the image's "
        "mean beam only). A full tile: 4 blocks cost ~9 s and lower the residual "
        "from 2.17x to 1.71x thermal on a calibrator tile",
    )
    beam_freq_chunks: int = Field(
        2,
        ge=1,
        description="frequencies at which CLEAN's model sees each block's beam (see "
        "beam_time_chunks), interpolated linearly between them across the band: "
        "the beam narrows with frequency, so a source far from the centre has a "
        "steep apparent spectrum (nu^-2.5 at 1.7 deg). One beam per half band "
        "(before) left 0.5-0.7 % of the field's edge sources in the residual "
        "along the PSF's arms; interpolated, two do as well as one per channel "
        "(noise-free full tile: no such residual above 0.1 %; +1.5-2.5 s a tile, "
        "each visibility degridded from two beams)",
    )
    threads: int = Field(
        0,
        ge=0,
        description="threads of the gridding kernels and FFTs; 0: every thread the "
        "tile may use (its Dask worker's under a cluster, else the machine's "
        "CPUs). One gridding task of N threads holds one stack of w planes (~0.7 GB "
        "on a full tile) where N tasks of one thread held N, and its FFTs use every "
        "thread: measured on a full tile, peak 4.2 -> 3.4 GB",
    )
    reuse_stacks: bool = Field(
        True,
        description="hand the w-plane stacks (~0.7 GB on a full tile) from one "
        "gridding pass to the next instead of allocating them afresh: measured on a "
        "full tile with one single-threaded gridding task per CPU (threads=1) "
        "101.6-108.4 s against 113.4-115.8 s, peak 4.13-4.16 GB against "
        "3.86-3.88 GB; not re-measured with one task of all threads",
    )
    nterms: int = Field(
        1,
        ge=1,
        le=4,
        description="Taylor terms of CLEAN's spectral model (2-3: multi-term MFS for "
        "bright steep-spectrum sources; each term costs a prediction and a gridding "
        "pass per major cycle)",
    )
    subtract_calibrator: bool = Field(
        True,
        description="on a tile whose own calibrator transit was solved, subtract "
        "the calibrator's model (the one the data were calibrated to match) from "
        "the visibilities before imaging and restore it into the image afterwards "
        "(dsa110.imaging.subtract); CLEAN then needs neither calibrator_nterms nor "
        "calibrator_extra_major_cycles. On the simulated 3C48 tile: imaging "
        "50 -> ~25 s, see benchmarks/RESULTS.md (pipeline)",
    )
    outlier_min_apparent_jy: float = Field(
        0.01,
        ge=0,
        description="subtract the reference survey's sources outside the image "
        "whose flux through the primary beam (at the band's centre) reaches this, "
        "Jy, from the visibilities before imaging (0: none). CLEAN cannot model "
        "a source beyond the image's edge; its sidelobes stay in the image. On a "
        "simulated full tile one 27 mJy source 10' beyond the edge left 7 spurious "
        "blind detections (5-8 sigma) along its sidelobes",
    )
    restore_points: bool = Field(
        True,
        description="restore each bright cluster of CLEAN components that fits "
        "one point source through the PSF as one restoring-beam Gaussian at its "
        "sub-pixel position (dsa110.imaging.points). A source between pixel "
        "centres is CLEANed into a cluster whose ring shows, restored, as "
        "ripples: full simulated tile, spurious blind detections near bright "
        "sources 16 -> 0 (24 -> 8 in all), flux scatter 1.09 -> 0.96 % rms",
    )
    calibrator_nterms: int = Field(
        2,
        ge=1,
        le=4,
        description="Taylor terms on a tile whose own calibrator transit was solved: "
        "the bright calibrator's spectrum (3C48: alpha -0.8) otherwise dominates the "
        "residual (1.63x thermal with 1 term, 1.24x with 2, on a simulated full tile)",
    )
    pb_limit: float = Field(
        0.2,
        gt=0,
        le=1,
        description="blank the primary-beam-corrected image below this response",
    )
    mosaic: bool = Field(
        True, description="make linear mosaics of consecutive tile images"
    )
    mosaic_tiles: int = Field(
        11,
        ge=2,
        description="consecutive tiles per mosaic (11 × 309 s ≈ an hour)",
    )
    mosaic_partial: bool = Field(
        True,
        description="also mosaic the shorter last group (≥ 2 tiles) of a run of "
        "consecutive tiles: once a gap follows it, or at the end of a batch",
    )
    mosaic_max_gap_s: float | None = Field(
        None,
        ge=0,
        description="largest gap between consecutive tiles of one mosaic, s "
        "(default: one tile length)",
    )


class PhotometryConfig(_Section):
    """Source measurement."""

    catalog: Path | None = Field(
        None,
        description="catalog store directory (default: the data directory's catalogs/)",
    )
    survey: str = Field("nvss", description="reference survey for forced photometry")
    min_catalog_flux_jy: float = Field(
        0.01, ge=0, description="measure catalog sources brighter than this"
    )
    rms_floor_jy: float | None = Field(
        None,
        gt=0,
        description="expected image noise, Jy/beam; the epoch gate rms <= 2x this is checked when set",
    )
    find_seed_sigma: float = Field(
        5.0, gt=0, description="blind source finding: island seed threshold, sigma"
    )
    find_flood_sigma: float = Field(
        3.0, gt=0, description="blind source finding: island flood threshold, sigma"
    )


class VariabilityConfig(_Section):
    """Variability metrics and ESE candidates."""

    preset: Literal["conservative", "moderate", "sensitive"] = Field(
        "moderate", description="ESE candidate thresholds"
    )
    min_epochs: int = Field(
        5, ge=2, description="fewest measurements before a source can be a candidate"
    )
    sigma_dev: float | None = Field(
        None,
        ge=0,
        description="replace the preset's sigma-deviation threshold (0: not used). "
        "sigma-deviation = max|f - mean| / std of the light curve itself: an event "
        "lasting k of N epochs cannot exceed sqrt((N - k) / k), one epoch "
        "(N - 1) / sqrt(N), so the presets (>= 2.5) need long light curves",
    )
    chi2_nu: float | None = Field(
        None, ge=0, description="replace the preset's reduced chi-squared threshold"
    )
    eta: float | None = Field(
        None, ge=0, description="replace the preset's eta threshold"
    )

    def thresholds(self):
        """Return the candidate thresholds: the preset's, with any replaced.

        Returns
        -------
        dsa110.variability.Preset
        """
        from dsa110.variability import get_preset

        p = get_preset(self.preset)
        return type(p)(
            sigma_dev=p.sigma_dev if self.sigma_dev is None else self.sigma_dev,
            chi2_nu=p.chi2_nu if self.chi2_nu is None else self.chi2_nu,
            eta=p.eta if self.eta is None else self.eta,
        )


class RuntimeConfig(_Section):
    """Where things go and how they run."""

    data_dir: Path = Field(
        default_factory=lambda: _default_data_dir(),
        description="database, products, logs and stores ($DSA110_DATA_DIR, else ~/dsa110-data, as the service)",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (default: SQLite in the data directory)"
    )
    scheduler: str | None = Field(
        None, description="address of an existing Dask scheduler"
    )
    workers: int = Field(1, ge=1, description="worker processes of the local cluster")
    threads_per_worker: int = Field(1, ge=1, description="threads of each local worker")
    memory_limit: str = Field(
        "4GB", description="per-worker memory limit ('4GB', '500MiB', 'auto', ...)"
    )
    retries: int = Field(2, ge=0, description="Dask retries of a failed tile task")
    worker_profile: bool = Field(
        False,
        description="Dask's statistical profiler in the workers of the local "
        "cluster (the dashboard's Profile page). It keeps ~1000 one-second profiles "
        "per worker: over 24 small tiles on one worker the peak grew 1.035 -> 1.169 GB "
        "with it and 0.949 -> 1.018 GB without (the first 12 tiles set that peak)",
    )
    force: bool = Field(False, description="reprocess tiles that are already done")

    @field_validator("memory_limit")
    @classmethod
    def _memory_limit(cls, v):
        # checked here, not when the cluster starts (a traceback deep in Dask)
        if v != "auto":
            from dask.utils import parse_bytes

            try:
                if parse_bytes(v) <= 0:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"{v!r} is not a memory size ('4GB', '500MiB') or 'auto'"
                ) from None
        return v


def _default_data_dir() -> Path:
    from dsa110.db import default_data_dir

    return default_data_dir()


class PipelineConfig(_Section):
    """The whole pipeline configuration (see each section)."""

    input: InputConfig = Field(default_factory=InputConfig)
    flagging: FlagConfig = Field(default_factory=FlagConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    imaging: ImagingConfig = Field(default_factory=ImagingConfig)
    photometry: PhotometryConfig = Field(default_factory=PhotometryConfig)
    variability: VariabilityConfig = Field(default_factory=VariabilityConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)


def _format_error(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return f"{source}: invalid configuration: " + "; ".join(parts)


def load_config(path=None, *, overrides=()) -> PipelineConfig:
    """Load a configuration from TOML/YAML (or the defaults) and apply overrides.

    Parameters
    ----------
    path : str or Path, optional
        A ``.toml`` or ``.yaml``/``.yml`` file; sections as in :class:`PipelineConfig`.
    overrides : iterable of str, keyword-only
        ``"section.key=value"`` strings (values parsed as TOML scalars, else strings).

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ConfigurationError
        Naming the file and the invalid field(s).
    """
    data: dict = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigurationError(
                f"{path}: cannot read configuration: {exc}"
            ) from exc
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml  # optional: only for YAML configurations
            except ImportError:
                raise ConfigurationError(
                    f"{path}: YAML configuration needs PyYAML (pip install pyyaml)"
                ) from None
            data = yaml.safe_load(text) or {}
        else:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(_format_error(exc, source)) from None
    return apply_overrides(config, overrides)


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: PipelineConfig, overrides) -> PipelineConfig:
    """Return a copy of ``config`` with ``section.key=value`` overrides applied.

    Parameters
    ----------
    config : PipelineConfig
    overrides : iterable of str
        Values are parsed as TOML scalars, else taken as strings.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ConfigurationError
        For a malformed override, an unknown field or an invalid value.
    """
    values = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        section = key.strip().split(".")
        if (
            not sep
            or len(section) != 2
            or section[0] not in PipelineConfig.model_fields
        ):
            raise ConfigurationError(
                f"override {item!r}: expected section.key=value with a section "
                f"of {sorted(PipelineConfig.model_fields)}"
            )
        values[key.strip()] = _parse_value(value.strip())
    return set_values(config, values, source="overrides")


def set_values(
    config: PipelineConfig, values, *, source: str = "options"
) -> PipelineConfig:
    """Return a copy of ``config`` with ``{"section.key": value}`` set, validated.

    Values are taken as they are (a data directory named ``2026-11-24`` stays a
    path), unlike :func:`apply_overrides`' strings.

    Parameters
    ----------
    config : PipelineConfig
    values : mapping of str to object
    source : str, keyword-only
        What the values came from, for error messages.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ConfigurationError
        For an unknown field or an invalid value.
    """
    data = config.model_dump()
    for key, value in values.items():
        parts = key.split(".")
        if len(parts) != 2 or parts[0] not in data:
            raise ConfigurationError(
                f"{source}: {key!r}: expected section.key with a section "
                f"of {sorted(data)}"
            )
        section, field = parts
        if field not in data[section]:
            raise ConfigurationError(
                f"{source}: {key}: {section} has no field {field!r}"
            )
        data[section][field] = value
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(_format_error(exc, source)) from None
