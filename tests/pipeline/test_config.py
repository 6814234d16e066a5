"""The pipeline configuration: defaults, TOML, overrides, clear errors."""

import pytest

from dsa110.errors import ConfigurationError
from dsa110.pipeline.config import PipelineConfig, load_config


def test_defaults_are_documented():
    cfg = load_config()
    assert (
        cfg.calibration.validity_hours == 12 and cfg.calibration.max_dec_offset_deg == 5
    )
    assert cfg.calibration.refant == "103" and cfg.calibration.min_snr == 5
    for section in PipelineConfig.model_fields.values():
        for name, field in section.annotation.model_fields.items():
            assert field.description, name


def test_toml_and_overrides(tmp_path):
    path = tmp_path / "dsa110.toml"
    path.write_text(
        '[imaging]\nnpix = 1024\nrobust = 0.5\n[runtime]\ndata_dir = "/tmp/x"\n'
    )
    cfg = load_config(path, overrides=["imaging.niter=5", "calibration.gain_solint=60"])
    assert (cfg.imaging.npix, cfg.imaging.robust, cfg.imaging.niter) == (1024, 0.5, 5)
    assert cfg.calibration.gain_solint == 60.0
    assert str(cfg.runtime.data_dir) == "/tmp/x"


def test_antenna_names_written_as_numbers_are_names(tmp_path):
    path = tmp_path / "dsa110.toml"
    path.write_text("[calibration]\nrefant = 104\n")
    assert load_config(path).calibration.refant == "104"
    assert load_config(overrides=["calibration.refant=105"]).calibration.refant == "105"
    assert load_config(overrides=["runtime.memory_limit=auto"]).runtime.memory_limit


@pytest.mark.parametrize(
    ("text", "overrides", "match"),
    [
        ("[imaging]\nrobust = 3\n", (), r"imaging\.robust"),
        ("[imaging]\nnpixx = 3\n", (), r"imaging\.npixx"),
        ("[nosuch]\na = 1\n", (), "nosuch"),
        ("not toml = = ", (), "not valid TOML"),
        ("", ("imaging.nope=1",), "no field 'nope'"),
        ("", ("nodot=1",), "section.key=value"),
        ("", ("calibration.gain_solint=-1",), "gain_solint"),
        ("", ("input.missing=maybe",), r"input\.missing"),
        ("", ("runtime.memory_limit=lots",), r"runtime\.memory_limit"),
        ("", ("runtime.memory_limit=0",), r"runtime\.memory_limit"),
        ("", ("flagging.strategy=nonexistent",), r"flagging\.strategy.*'basic'"),
    ],
)
def test_invalid_configuration_fails_before_work(tmp_path, text, overrides, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=match):
        load_config(path, overrides=overrides)


def test_candidate_thresholds_replace_the_presets_one_by_one():
    from dsa110.variability import PRESETS, Preset

    assert load_config().variability.thresholds() == PRESETS["moderate"]
    cfg = load_config(
        overrides=["variability.preset=conservative", "variability.sigma_dev=0"]
    )
    assert cfg.variability.thresholds() == Preset(0.0, 4.0, 3.0)
    with pytest.raises(ConfigurationError, match=r"variability\.eta"):
        load_config(overrides=["variability.eta=-1"])


@pytest.mark.parametrize("name", ["2026-11-24", "2026", "true", '"x"', "a=b"])
def test_data_dir_and_db_options_are_taken_as_given(name):
    from argparse import Namespace
    from pathlib import Path

    from dsa110.cli.pipeline import _load

    args = Namespace(config=None, overrides=[], data_dir=name, db=name, force=True)
    runtime = _load(args).runtime
    assert runtime.data_dir == Path(name) and runtime.database_url == name
    assert runtime.force
