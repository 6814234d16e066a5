"""``dsa110 docs search``: FTS5 index over Markdown pages and docstrings."""

from __future__ import annotations

import os
import time

import pytest

from dsa110.docs_search import DocsSearchError, build_index, search


@pytest.fixture
def tree(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "runbook.md").write_text(
        "# Runbook\n\nIntro.\n\n## Full disk\n\n"
        "The data directory has only 0.5 GiB free: "
        "delete old measurement sets.\n\n```\n# not a heading inside code\n```\n"
        "## Dead worker\n\nRestart the Dask worker.\n"
    )
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""The package."""\n')
    (pkg / "mod.py").write_text(
        '"""Module about calibrators."""\n\n'
        "def solve(x):\n"
        '    """Solve for antenna gains with a point-source calibrator."""\n\n'
        "def _private():\n"
        '    """Hidden gains helper."""\n\n'
        "class Table:\n"
        '    """A solution table."""\n\n'
        "    def write(self):\n"
        '        """Write the gains to disk."""\n'
    )
    return docs, pkg, tmp_path / "index.sqlite"


def test_search_finds_sections_and_docstrings(tree):
    docs, pkg, index = tree
    hits = search("gains", index_path=index, docs_dir=docs, package_dir=pkg)
    locations = {h.location for h in hits}
    assert locations == {"pkg.mod.solve", "pkg.mod.Table.write"}  # _private is skipped
    disk = search("disk free", index_path=index, docs_dir=docs, package_dir=pkg)
    assert [h.location for h in disk] == ["docs/runbook.md#full-disk"]
    assert "[disk]" in disk[0].snippet or "[free]" in disk[0].snippet
    # stemming: "workers" matches "worker"
    assert (
        search("workers", index_path=index, docs_dir=docs, package_dir=pkg)[0].title
        == "Dead worker"
    )
    # the code block's "# ..." line is not a heading
    assert not any(
        h.title.startswith("not a heading")
        for h in search("heading", index_path=index, docs_dir=docs, package_dir=pkg)
    )


def test_index_is_rebuilt_only_when_sources_change(tree):
    docs, pkg, index = tree
    build_index(index, docs_dir=docs, package_dir=pkg)
    first = index.stat().st_mtime_ns
    build_index(index, docs_dir=docs, package_dir=pkg)
    assert index.stat().st_mtime_ns == first
    page = docs / "runbook.md"
    page.write_text(page.read_text() + "\n## Corrupt files\n\nChecksum mismatch.\n")
    future = time.time() + 5
    os.utime(page, (future, future))
    hits = search("checksum mismatch", index_path=index, docs_dir=docs, package_dir=pkg)
    assert [h.title for h in hits] == ["Corrupt files"]


def test_queries_are_escaped(tree):
    docs, pkg, index = tree
    # FTS5 operators and quotes in user input are searched as words, never parsed
    assert (
        search('gains" OR "x', index_path=index, docs_dir=docs, package_dir=pkg) == []
    )
    assert (
        search("solve* ^(", index_path=index, docs_dir=docs, package_dir=pkg)[
            0
        ].location
        == "pkg.mod.solve"
    )
    with pytest.raises(DocsSearchError, match="no words"):
        search("*** ---", index_path=index, docs_dir=docs, package_dir=pkg)


def test_cli_searches_the_real_package(tmp_path, capsys):
    from dsa110.cli import main

    index = tmp_path / "idx.sqlite"
    assert (
        main(["docs", "search", "calibration", "declination", "--index", str(index)])
        == 0
    )
    out = capsys.readouterr().out
    assert "dsa110.db.repositories.calibration.CalibrationRepository.find_valid" in out
