"""Products renamed into place: a crash never leaves a half product or none."""

import os

import pytest

from dsa110.errors import OutputExistsError
from dsa110.io import atomic
from dsa110.io.atomic import ASIDE_PREFIX, atomic_output, remove_stale


def _write_product(path, text):
    path.mkdir()
    (path / "data").write_text(text)


def test_overwrite_replaces_and_leaves_nothing_beside(tmp_path):
    product = tmp_path / "p.zarr"
    _write_product(product, "old")
    with pytest.raises(OutputExistsError, match="p.zarr"):
        with atomic_output(product) as tmp:
            _write_product(tmp, "new")
    with atomic_output(product, overwrite=True) as tmp:
        _write_product(tmp, "new")
    assert (product / "data").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["p.zarr"]


def test_a_crash_between_the_two_renames_gets_the_old_product_back(
    tmp_path, monkeypatch
):
    """Killed after moving the old product aside and before renaming the new
    one in, a writer leaves nothing under the name; the next writer's
    ``remove_stale`` puts the old product back (it used to delete it)."""
    product = tmp_path / "p.zarr"
    _write_product(product, "old")
    real_rename = os.rename
    calls = []

    def rename_then_die(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new product's rename into place
            raise KeyboardInterrupt("killed")
        real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(product, overwrite=True) as tmp:
            _write_product(tmp, "new")
    monkeypatch.setattr(atomic.os, "rename", real_rename)
    assert not product.exists()
    assert any(p.name.startswith(ASIDE_PREFIX) for p in tmp_path.iterdir())
    removed = remove_stale(tmp_path)  # the new one is unfinished as far as it knows
    assert [p.name.startswith(atomic.TEMP_PREFIX) for p in removed] == [True]
    assert (product / "data").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["p.zarr"]


def test_an_old_product_aside_goes_once_the_name_holds_a_product(tmp_path):
    product = tmp_path / "p.zarr"
    _write_product(product, "new")
    aside = atomic.temporary_name(product, prefix=ASIDE_PREFIX)
    _write_product(aside, "old")
    assert remove_stale(tmp_path) == [aside]
    assert (product / "data").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["p.zarr"]
