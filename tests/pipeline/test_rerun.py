"""Reruns of one tile: a late subband, a late earliest file, a subset of the files;
what the database records of the tile's files afterwards."""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from dsa110.io import find_groups
from dsa110.pipeline.tile import process_tile


@pytest.fixture(scope="module")
def small_tile(tmp_path_factory):
    from dsa110.simulate import simulate_observation

    raw = tmp_path_factory.mktemp("tile") / "raw"
    simulate_observation(raw, preset="small", seed=3, population=False)
    (group,) = find_groups(raw)
    return group


@pytest.fixture
def quick_config(make_config, tmp_path):
    return make_config(
        tmp_path / "data",
        "calibration.enabled=false",
        "imaging.npix=256",
        "imaging.niter=10",
    )


def _copy(files, indir):
    indir.mkdir(exist_ok=True)
    for f in files:
        shutil.copy(f.path, indir / f.path.name)


def _records(cfg):
    """The observations (group id, n_files), their files' paths, and the raw-file
    inputs of each image-pb product."""
    from dsa110.db import session_scope
    from dsa110.db.models import (
        Observation,
        ObservationFile,
        Product,
        Provenance,
        ProvenanceInput,
    )
    from dsa110.pipeline.context import PipelineContext

    with session_scope(PipelineContext(cfg).session_factory) as session:
        obs = session.execute(select(Observation.group_id, Observation.n_files)).all()
        paths = session.scalars(select(ObservationFile.path)).all()
        inputs = session.execute(
            select(Product.path, ProvenanceInput.input_file_id)
            .join(Provenance, Provenance.product_id == Product.id)
            .join(ProvenanceInput, ProvenanceInput.provenance_id == Provenance.id)
            .where(Product.path.like("%image-pb.fits"))
        ).all()
    raw_inputs = {}
    for path, file_id in inputs:
        raw_inputs[path] = raw_inputs.get(path, 0) + (file_id is not None)
    return [tuple(o) for o in obs], paths, raw_inputs


def test_earliest_file_arriving_late_supersedes_the_partial_run(
    small_tile, quick_config, tmp_path, monkeypatch
):
    late = [f for f in small_tile.files if f.timestamp == small_tile.start]
    _copy([f for f in small_tile.files if f not in late], tmp_path / "in")
    monkeypatch.chdir(tmp_path)  # files given by a relative path
    partial = process_tile("in", quick_config)
    assert partial.status == "processed", partial.error
    assert partial.group_id != small_tile.group_id
    _copy(late, tmp_path / "in")
    full = process_tile("in", quick_config)
    assert full.status == "processed", full.error
    assert full.group_id == small_tile.group_id
    obs, paths, raw_inputs = _records(quick_config)
    # one tile, under the complete group's id, with all its files
    assert obs == [(small_tile.group_id, 16)]
    assert sorted(paths) == sorted(
        str((tmp_path / "in" / f.path.name).resolve()) for f in small_tile.files
    )
    assert list(raw_inputs.values()) == [16]
    assert not (tmp_path / "data" / "products" / partial.group_id).exists()


def test_forced_rerun_records_the_late_subband(small_tile, quick_config, tmp_path):
    sb05 = [f for f in small_tile.files if f.subband == 5]
    _copy([f for f in small_tile.files if f not in sb05], tmp_path / "in")
    assert process_tile(tmp_path / "in", quick_config).status == "processed"
    _copy(sb05, tmp_path / "in")
    redo = process_tile(tmp_path / "in", quick_config, force=True)
    assert redo.status == "processed", redo.error
    obs, paths, raw_inputs = _records(quick_config)
    assert obs == [(small_tile.group_id, 16)] and len(paths) == 16
    assert any(p.endswith("_sb05.hdf5") for p in paths)
    assert list(raw_inputs.values()) == [16]


def test_subset_of_a_recorded_tile_is_refused_unless_forced(
    small_tile, quick_config, tmp_path
):
    _copy(small_tile.files, tmp_path / "in")
    assert process_tile(tmp_path / "in", quick_config).status == "processed"
    subset = [
        tmp_path / "in" / f.path.name
        for f in small_tile.files
        if f.timestamp != small_tile.start
    ]
    refused = process_tile(subset, quick_config)
    assert refused.status == "failed"
    assert f"recorded as tile {small_tile.group_id}" in refused.error
    assert "--force" in refused.error
    assert _records(quick_config)[0] == [(small_tile.group_id, 16)]
    forced = process_tile(subset, quick_config, force=True)
    assert forced.status == "processed", forced.error
    assert _records(quick_config)[0] == [(forced.group_id, len(subset))]


def test_forced_calibrator_rerun_keeps_the_solutions_other_tiles_used(
    night_copy, tmp_path, make_config
):
    from dsa110.db import CalibrationRepository, session_scope
    from dsa110.db.models import CalibrationSet, Product, Provenance, ProvenanceInput
    from dsa110.pipeline.context import PipelineContext

    raw, sky = night_copy
    cfg = make_config(tmp_path / "data")
    ctx = PipelineContext(cfg)
    ctx.catalog_store.add(sky.catalog, "nvss", overwrite=True)
    calibrator, target = find_groups(raw)[:2]
    assert process_tile(calibrator, cfg).solved_here
    used = process_tile(target, cfg)
    assert used.status == "processed" and not used.solved_here, used.error
    redo = process_tile(calibrator, cfg, force=True)
    assert redo.status == "processed" and redo.solved_here, redo.error
    with session_scope(ctx.session_factory) as session:
        image = session.scalars(select(Product).where(Product.path == used.image)).one()
        old = session.get(CalibrationSet, image.calibration_set_id)
        # the target's products keep their calibration and its table ...
        assert old is not None and old.name.startswith("superseded ")
        assert not old.qa_passed and old.qa["qa_passed"] is True
        (table,) = session.scalars(
            select(ProvenanceInput.input_product_id)
            .join(Provenance, Provenance.id == ProvenanceInput.provenance_id)
            .where(
                Provenance.product_id == image.id,
                ProvenanceInput.input_product_id.is_not(None),
            )
        ).all()
        old_table = session.get(Product, table)
        assert old_table.calibration_set_id == old.id
        assert ".superseded-" in old_table.path
        # ... which is no longer chosen: the rerun's set is
        window = CalibrationRepository(session).find_valid(
            old.reference_time, dec_deg=old.dec_deg
        )
        assert window is not None and window.id != old.id
        assert window.name == old.name.split(": ", 1)[1]
    assert Path(old_table.path).exists()
