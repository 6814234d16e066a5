"""The documentation cannot drift from the code.

* Every message a runbook quotes (``**Message:** `...```) appears in the package's
  string literals (``<...>`` marks run-time values; each literal fragment of six or
  more characters must be found). Same approach as ``tests/api/test_runbooks.py``,
  which covers the service and database runbooks; this covers the others.
* Every ``dsa110/...`` module path the pages name exists.
* Every ``dsa110 <command> ... --option`` line in a page's code blocks names a real
  command and real options of it (parsed with the CLI's own parser).
* Every page linked from a page exists.
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Covered by tests/api/test_runbooks.py (the service developer's pages).
OTHERS_RUNBOOKS = {"service.md", "database.md"}
RUNBOOKS = sorted(
    p for p in (DOCS / "runbooks").glob("*.md") if p.name not in OTHERS_RUNBOOKS
)
PAGES = sorted(DOCS.rglob("*.md"))


@lru_cache(maxsize=1)
def _code_strings() -> tuple:
    """Every string literal of the package (f-string placeholders become NUL)."""
    out = []
    for path in (ROOT / "dsa110").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append(node.value)
            elif isinstance(node, ast.JoinedStr):
                out.append(
                    "".join(
                        v.value if isinstance(v, ast.Constant) else "\0"
                        for v in node.values
                    )
                )
    return tuple(out)


def _messages(path: Path) -> list:
    return re.findall(r"\*\*Message:\*\* `([^`]+)`", path.read_text())


def _fragments(message: str) -> list:
    """Literal parts of a quoted message, without the punctuation around placeholders.

    ``FileFormatError`` prefixes ``"<file> [<field>]: "`` at run time, so that
    punctuation is not part of any literal in the code.
    """
    parts = (f.strip(" :;,.[]") for f in re.split(r"<[^>]+>", message))
    return [f for f in parts if len(f) >= 6]


def test_the_runbooks_are_there():
    names = {p.name for p in RUNBOOKS}
    assert {
        "incomplete-groups.md",
        "corrupt-files.md",
        "stale-calibration.md",
        "full-disk.md",
        "dead-worker.md",
    } <= names


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.name)
def test_runbook_messages_exist_in_the_code(runbook):
    strings = _code_strings()
    messages = _messages(runbook)
    assert messages, f"{runbook.name} quotes no message"
    for message in messages:
        fragments = _fragments(message)
        assert fragments, message
        for fragment in fragments:
            assert any(fragment in s for s in strings), (
                f"{runbook.name}: {fragment!r} not in the code"
            )


def test_fragment_check_catches_a_made_up_message():
    """The check above can fail: an invented message is not found."""
    strings = _code_strings()
    fragments = _fragments("<file>: the flux capacitor overheated at <n> GW")
    assert fragments == ["the flux capacitor overheated at"]
    assert not any(fragments[0] in s for s in strings)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_module_paths_exist(page):
    text = page.read_text()
    paths = set(re.findall(r"`(dsa110/[A-Za-z0-9_/]+(?:\.py)?)(?:::[\w.]+)?`", text))
    paths |= set(re.findall(r"\]\(\.\./(dsa110/[A-Za-z0-9_/]+(?:\.py)?)\)", text))
    paths |= set(re.findall(r"\]\(\.\./\.\./(dsa110/[A-Za-z0-9_/]+(?:\.py)?)\)", text))
    for rel in paths:
        assert (ROOT / rel).exists(), f"{page.name}: {rel} does not exist"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_relative_links_resolve(page):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
        if target.startswith(("http", "mailto")):
            continue
        assert (page.parent / target).resolve().exists(), f"{page.name}: {target}"


@lru_cache(maxsize=1)
def _parser():
    from dsa110.cli import build_parser

    return build_parser()


def _subparsers(parser):
    for action in parser._actions:  # argparse has no public accessor for these
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _command_lines(text: str) -> list:
    """``dsa110 ...`` lines of the shell code blocks (continuations joined)."""
    lines, lang, buf = [], None, []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            if lang is None:
                lang = stripped[3:].strip() or "text"
                buf = []
                continue
            if lang in ("bash", "console", "sh", "text"):
                block = "\n".join(buf).replace("\\\n", " ")
                for line in block.splitlines():
                    line = line.split(" #")[0].strip()
                    line = line[2:] if line.startswith("$ ") else line
                    if line.startswith("dsa110 "):
                        lines.append(line)
            lang = None
            continue
        if lang is not None:
            buf.append(raw)
    return lines


def _options(parser) -> set:
    opts = set()
    for action in parser._actions:
        opts.update(action.option_strings)
    return opts


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_cli_lines_name_real_commands_and_options(page):
    for line in _command_lines(page.read_text()):
        words = shlex.split(line.replace("<", "").replace(">", ""))[1:]
        if words[:1] in (["--help"], ["--version"]):
            continue
        parser = _parser()
        # descend through sub-commands (e.g. ``calibrate solve``)
        while words and (subs := _subparsers(parser)) and words[0] in subs:
            parser = subs[words.pop(0)]
        assert not _subparsers(parser) or not words or words[0].startswith("-"), line
        assert parser is not _parser(), f"{page.name}: unknown command in {line!r}"
        known = _options(parser)
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"{page.name}: {line!r}: {word}"


def _blocks(text: str, lang: str) -> list:
    """The fenced code blocks of one language, dedented."""
    import textwrap

    return [
        textwrap.dedent(b)
        for b in re.findall(
            rf"^[ \t]*```{lang}\n(.*?)^[ \t]*```", text, flags=re.S | re.M
        )
    ]


def test_user_guide_configuration_is_valid(tmp_path):
    """The guide's TOML example loads, and its values arrive in the configuration."""
    from dsa110.pipeline import load_config

    (toml,) = _blocks((DOCS / "user-guide.md").read_text(), "toml")
    path = tmp_path / "pipeline.toml"
    path.write_text(toml)
    config = load_config(path, overrides=["calibration.validity_hours=24"])
    assert config.input.missing == "flag"
    assert config.imaging.npix == 1024
    assert config.runtime.workers == 2
    assert config.calibration.validity_hours == 24


def test_user_guide_field_listing_runs(capsys):
    (snippet,) = [
        b
        for b in _blocks((DOCS / "user-guide.md").read_text(), "python")
        if "model_fields" in b
    ]
    exec(compile(snippet, "user-guide.md", "exec"), {})
    out = capsys.readouterr().out
    assert "calibration.validity_hours = 12.0" in out
    assert "imaging.npix = 2400" in out


@pytest.mark.slow
def test_user_guide_walkthrough_runs(tmp_path):
    """The calibrator walkthrough and the hand-off snippet run as written (~1-2 min)."""
    import subprocess
    import sys

    blocks = _blocks((DOCS / "user-guide.md").read_text(), "python")
    walk = next(b for b in blocks if "simulate_observation(" in b)
    handoff = next(b for b in blocks if "write_ms(" in b)
    script = (walk + "\n" + handoff).replace("/tmp/ug", str(tmp_path))
    # 10 %: a 12-antenna, 6-integration CLEAN image with gains solved on the same
    # data recovers the calibrator to a few per cent; the margin covers its spectrum
    # across the band (the catalog flux is at 1.4 GHz).
    script += (
        "\nfrom numpy.testing import assert_allclose\n"
        "assert_allclose(float(table['flux'][0]),\n"
        "                float(cal.flux_density(1.4e9)), rtol=0.1)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "tile.ms").is_dir() and (tmp_path / "tile.zarr").is_dir()
