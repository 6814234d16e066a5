"""The committed ``docs/openapi.json`` is the schema the service serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsa110.api import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_matches_the_code():
    if not COMMITTED.exists():
        pytest.fail(f"{COMMITTED} is missing; regenerate it (see docs/api.md)")
    generated = openapi_document()
    assert json.loads(COMMITTED.read_text()) == json.loads(generated), (
        "docs/openapi.json is stale: regenerate it with "
        'python -c "from dsa110.api import openapi_document; '
        "open('docs/openapi.json', 'w').write(openapi_document())\""
    )


def test_every_error_response_is_the_envelope():
    doc = json.loads(openapi_document())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")) and not (
                    path.endswith("/health") and status == "503"
                ):
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorEnvelope"), (method, path, status)
