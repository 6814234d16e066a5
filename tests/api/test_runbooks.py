"""The runbooks quote the messages the code actually produces."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = [
    ROOT / "docs" / "runbooks" / "service.md",
    ROOT / "docs" / "runbooks" / "database.md",
]


def _code_strings():
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
    for path in (ROOT / "tests").rglob("*.py"):  # test-only messages (stale openapi)
        out.append(path.read_text())
    return out


def _messages(path):
    return re.findall(r"\*\*Message:\*\* `([^`]+)`", path.read_text())


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda p: p.name)
def test_runbook_messages_exist_in_the_code(runbook):
    strings = _code_strings()
    messages = _messages(runbook)
    assert len(messages) >= 3
    for message in messages:
        fragments = [
            f.strip() for f in re.split(r"<[^>]+>", message) if len(f.strip()) >= 6
        ]
        assert fragments, message
        for fragment in fragments:
            assert any(fragment in s for s in strings), (
                f"{runbook.name}: {fragment!r} not in the code"
            )
