"""Finding and grouping subband files by name."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from dsa110.errors import DuplicateSubbandError, GroupError
from dsa110.io import find_groups, group_files, parse_subband_filename


def _touch_group(
    directory, start, *, subbands=range(16), jitter=40, rng=None, extra=()
):
    rng = np.random.default_rng(0) if rng is None else rng
    paths = []
    for sb in list(subbands) + list(extra):
        ts = start + timedelta(seconds=int(rng.integers(0, jitter + 1)))
        p = directory / f"{ts:%Y-%m-%dT%H:%M:%S}_sb{sb:02d}.hdf5"
        p.touch()
        paths.append(p)
    return paths


def test_parse_name():
    f = parse_subband_filename("/x/2026-11-24T01:02:03_sb07.hdf5")
    assert f.subband == 7
    assert f.timestamp == datetime(2026, 11, 24, 1, 2, 3, tzinfo=timezone.utc)
    assert parse_subband_filename("/x/2026-11-24T01:02:03_sb07.h5") is None
    assert parse_subband_filename("notes.txt") is None


def test_jittered_adjacent_groups(tmp_path):
    t0 = datetime(2026, 11, 24, 3, 0, 0)
    rng = np.random.default_rng(1)
    _touch_group(tmp_path, t0, rng=rng)
    _touch_group(tmp_path, t0 + timedelta(seconds=309), rng=rng)
    (tmp_path / "README.txt").touch()
    groups = find_groups(tmp_path)
    assert len(groups) == 2
    for g in groups:
        assert g.complete and g.subbands == tuple(range(16)) and g.missing == ()
    assert groups[0].group_id.startswith("2026-11-24T03:00:")
    assert groups[1].start > groups[0].start


def test_missing_and_duplicated_subbands(tmp_path):
    t0 = datetime(2026, 11, 24, 3, 0, 0)
    _touch_group(
        tmp_path, t0, subbands=[s for s in range(16) if s not in (3, 11)], extra=[5]
    )
    (g,) = find_groups(tmp_path)
    assert g.missing == (3, 11)
    assert g.duplicated == (5,)
    assert not g.complete
    with pytest.raises(DuplicateSubbandError, match="sb05"):
        g.check_unique()


def test_tolerance_measured_from_first_file(tmp_path):
    # Files every 25 s: with a 60 s tolerance the 4th (75 s after the first)
    # starts a new group even though it is 25 s after its predecessor.
    t0 = datetime(2026, 11, 24, 3, 0, 0)
    for k, sb in enumerate(range(4)):
        (
            tmp_path
            / f"{t0 + timedelta(seconds=25 * k):%Y-%m-%dT%H:%M:%S}_sb{sb:02d}.hdf5"
        ).touch()
    groups = find_groups(tmp_path, tolerance=60)
    assert [len(g.files) for g in groups] == [3, 1]


def test_time_range(tmp_path):
    t0 = datetime(2026, 11, 24, 3, 0, 0)
    for k in range(5):
        _touch_group(
            tmp_path, t0 + timedelta(seconds=309 * k), rng=np.random.default_rng(k)
        )
    groups = find_groups(
        tmp_path, start="2026-11-24T03:05:00", end="2026-11-24T03:15:00"
    )
    assert len(groups) == 2
    assert all(
        datetime(2026, 11, 24, 3, 5, tzinfo=timezone.utc) <= g.start for g in groups
    )
    # A group that starts just before `end` keeps its later files.
    last = find_groups(tmp_path, start=groups[-1].start, end=groups[-1].start)
    assert len(last) == 1 and last[0].complete


def test_many_files_quickly(tmp_path):
    import time

    t0 = datetime(2026, 11, 24)
    rng = np.random.default_rng(2)
    for k in range(600):
        _touch_group(tmp_path, t0 + timedelta(seconds=309 * k), rng=rng)
    start = time.perf_counter()
    groups = find_groups(tmp_path)
    elapsed = time.perf_counter() - start
    assert len(groups) == 600 and all(g.complete for g in groups)
    # Names only, never opening a file: 9600 files take well under a second
    # here; the bound is generous for loaded CI machines.
    assert elapsed < 5.0


def test_errors(tmp_path):
    with pytest.raises(GroupError, match="not a directory"):
        find_groups(tmp_path / "nope")
    with pytest.raises(GroupError, match="sbNN"):
        group_files([tmp_path / "bad_name.hdf5"])


def test_impossible_time_in_a_name_is_named_and_skipped(tmp_path):
    good = _touch_group(tmp_path, datetime(2026, 11, 24, 23, 58, 0))
    bad = tmp_path / "2026-11-24T23:59:60_sb03.hdf5"  # a leap-second stamp
    bad.touch()
    with pytest.raises(GroupError, match=r"23:59:60_sb03\.hdf5.*invalid"):
        parse_subband_filename(bad)
    with pytest.raises(GroupError, match=r"23:59:60_sb03\.hdf5"):
        group_files([bad])
    with pytest.warns(UserWarning, match=r"skipped: .*23:59:60_sb03\.hdf5"):
        (group,) = find_groups(tmp_path)
    assert sorted(group.paths) == sorted(good)


def test_partial_ids_are_the_ids_of_the_files_timestamps(tmp_path):
    paths = _touch_group(tmp_path, datetime(2026, 11, 24, 3, 0, 0))
    (group,) = find_groups(tmp_path)
    assert group.partial_ids[0] == group.group_id
    assert set(group.partial_ids) == {p.name.split("_sb")[0] for p in paths}
    late_first = find_groups(tmp_path)[0]
    late_first.files = [f for f in late_first.files if f.timestamp != group.start]
    assert late_first.group_id in group.partial_ids[1:]
