"""Watch mode: groups processed as they complete, incomplete ones skipped after the
timeout, nothing processed twice across restarts."""

from dsa110.io import find_groups
from dsa110.pipeline.context import PipelineContext
from dsa110.pipeline.watch import watch


def test_watch_skips_incomplete_and_survives_restart(night_copy, tmp_path, make_config):
    raw, sky = night_copy
    groups = find_groups(raw)
    incomplete = groups[-1]  # day 1's target tile
    next(p for p in incomplete.paths if p.name.endswith("_sb07.hdf5")).unlink()
    cfg = make_config(
        tmp_path / "data", "input.incomplete=skip", "input.incomplete_timeout_s=0"
    )
    PipelineContext(cfg).catalog_store.add(sky.catalog, "nvss", overwrite=True)
    lines = []
    first = watch(raw, cfg, poll_s=0, settle_s=0, max_polls=1, out=lines.append)
    status = {r.group_id: r.status for r in first}
    assert status.pop(incomplete.group_id) == "skipped"
    assert set(status.values()) == {"processed"} and len(status) == 3
    assert any("skipping incomplete group" in line and "[7]" in line for line in lines)
    # A restarted watcher does nothing more.
    assert watch(raw, cfg, poll_s=0, settle_s=0, max_polls=1, out=lines.append) == []
    # Flag-fill instead: the incomplete group is processed with sb07 flagged.
    fill = make_config(
        tmp_path / "data2", "input.incomplete=flag", "input.incomplete_timeout_s=0"
    )
    PipelineContext(fill).catalog_store.add(sky.catalog, "nvss", overwrite=True)
    results = watch(raw, fill, poll_s=0, settle_s=0, max_polls=1, out=lines.append)
    assert {r.group_id: r.status for r in results}[incomplete.group_id] == "processed"
