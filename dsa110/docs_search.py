"""Full-text search over ``docs/`` and the package's docstrings (SQLite FTS5).

The index is built on first use into the user's cache directory and rebuilt
whenever a Markdown page or a source file changes. Docstrings are read with
:mod:`ast`, so searching never imports (or runs) the modules.

Examples
--------
>>> from dsa110.docs_search import search
>>> for hit in search("stale calibration"):  # doctest: +SKIP
...     print(hit.location, hit.title)
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import os
import re
import sqlite3
from pathlib import Path

from dsa110.errors import DSA110Error

__all__ = ["DocsSearchError", "Hit", "default_index_path", "build_index", "search"]

PACKAGE_DIR = Path(__file__).resolve().parent
#: ``docs/`` of a source checkout (absent from an installed wheel).
DOCS_DIR = PACKAGE_DIR.parent / "docs"
_SCHEMA_VERSION = "1"


class DocsSearchError(DSA110Error, RuntimeError):
    """The documentation index cannot be built or queried."""


@dataclasses.dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes
    ----------
    title : str
        Section heading or qualified object name.
    location : str
        ``docs/page.md#anchor`` or ``dsa110.module.object``.
    snippet : str
        The matching text, with matches in ``[brackets]``.
    score : float
        BM25 rank (lower is better).
    """

    title: str
    location: str
    snippet: str
    score: float


def default_index_path() -> Path:
    """Return ``$XDG_CACHE_HOME/dsa110/docs-index.sqlite`` (or under ``~/.cache``)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "dsa110" / "docs-index.sqlite"


def _sources(docs_dir: Path | None, package_dir: Path) -> list[Path]:
    files = sorted(package_dir.rglob("*.py"))
    if docs_dir is not None and docs_dir.is_dir():
        files += sorted(docs_dir.rglob("*.md"))
    return [f for f in files if "__pycache__" not in f.parts]


def _signature(files: list[Path]) -> str:
    digest = hashlib.sha256(_SCHEMA_VERSION.encode())
    for f in files:
        st = f.stat()
        digest.update(f"{f}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    return digest.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", text.lower()).strip().replace(" ", "-")


def _markdown_sections(path: Path, root: Path):
    rel = path.relative_to(root.parent).as_posix()
    title, anchor, lines = path.stem, "", []
    in_code = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = re.match(r"(#{1,6})\s+(.*)", line) if not in_code else None
        if heading:
            if lines:
                yield title, f"{rel}#{anchor}" if anchor else rel, "\n".join(lines)
            title, anchor, lines = heading.group(2).strip(), _slug(heading.group(2)), []
        else:
            lines.append(line)
    if lines:
        yield title, f"{rel}#{anchor}" if anchor else rel, "\n".join(lines)


def _docstrings(path: Path, package_dir: Path):
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    module = ".".join(parts)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return
    doc = ast.get_docstring(tree)
    if doc:
        yield module, module, doc

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if child.name.startswith("_"):
                    continue
                name = f"{prefix}.{child.name}"
                text = ast.get_docstring(child)
                if text:
                    yield name, name, text
                if isinstance(child, ast.ClassDef):
                    yield from walk(child, name)

    yield from walk(tree, module)


def build_index(
    index_path: Path | None = None,
    *,
    docs_dir: Path | None = DOCS_DIR,
    package_dir: Path = PACKAGE_DIR,
    force: bool = False,
) -> Path:
    """Build (or refresh) the index; a no-op when nothing changed.

    Parameters
    ----------
    index_path : Path, optional
        Index file (default :func:`default_index_path`).
    docs_dir : Path or None
        Markdown pages to index (``None``: docstrings only).
    package_dir : Path
        Package whose docstrings are indexed.
    force : bool
        Rebuild even if nothing changed.

    Returns
    -------
    Path
        The index file.

    Raises
    ------
    DocsSearchError
        If the index cannot be written or SQLite lacks FTS5.
    """
    index_path = Path(index_path or default_index_path())
    files = _sources(docs_dir, package_dir)
    signature = _signature(files)
    if not force and index_path.exists():
        try:
            with contextlib.closing(sqlite3.connect(index_path)) as conn:
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = 'signature'"
                ).fetchone()
            if row and row[0] == signature:
                return index_path
        except sqlite3.DatabaseError:
            pass
    index_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = index_path.with_name(f".{index_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(tmp)) as conn:
            conn.execute(
                "CREATE VIRTUAL TABLE docs USING fts5("
                "title, location UNINDEXED, body, tokenize='porter unicode61')"
            )
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            rows = []
            for f in files:
                if f.suffix == ".md":
                    rows.extend(_markdown_sections(f, docs_dir))
                else:
                    rows.extend(_docstrings(f, package_dir))
            conn.executemany(
                "INSERT INTO docs (title, location, body) VALUES (?, ?, ?)", rows
            )
            conn.execute("INSERT INTO meta VALUES ('signature', ?)", (signature,))
            conn.commit()
        os.replace(tmp, index_path)
    except sqlite3.OperationalError as exc:
        tmp.unlink(missing_ok=True)
        raise DocsSearchError(
            f"cannot build the docs index at {index_path}: {exc}"
        ) from exc
    return index_path


def _fts_query(query: str) -> str:
    tokens = re.findall(r"\w+", query)
    if not tokens:
        raise DocsSearchError(f"the query {query!r} has no words to search for")
    return " ".join('"' + tok.replace('"', '""') + '"' for tok in tokens)


def search(
    query: str,
    *,
    limit: int = 10,
    index_path: Path | None = None,
    docs_dir: Path | None = DOCS_DIR,
    package_dir: Path = PACKAGE_DIR,
) -> list[Hit]:
    """Search the documentation and docstrings; every word must match.

    Parameters
    ----------
    query : str
        Words to look for (stemmed: "calibrating" finds "calibration"
        only through its stem "calibr").
    limit : int
        Most hits returned.
    index_path, docs_dir, package_dir
        As for :func:`build_index` (built or refreshed on first use).

    Returns
    -------
    list of Hit
        Best first.
    """
    path = build_index(index_path, docs_dir=docs_dir, package_dir=package_dir)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT title, location, snippet(docs, 2, '[', ']', ' … ', 16), "
            "bm25(docs, 5.0, 0, 1.0) AS rank "
            "FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT ?",
            (_fts_query(query), int(limit)),
        ).fetchall()
    return [
        Hit(title=t, location=loc, snippet=s, score=float(r)) for t, loc, s, r in rows
    ]
