"""Many clients at once on a real uvicorn server: every one is answered."""

from __future__ import annotations

import asyncio
import collections

import httpx

from tests.api.conftest import API_KEY, serve_uvicorn

V1 = "/api/v1"


async def _burst(requests):
    """Send every ``(method, url, json)`` at once; count the status codes."""
    async with httpx.AsyncClient(
        timeout=120, limits=httpx.Limits(max_connections=len(requests))
    ) as client:
        responses = await asyncio.gather(
            *[
                client.request(method, url, json=body, headers={"X-API-Key": API_KEY})
                for method, url, body in requests
            ]
        )
    return collections.Counter(r.status_code for r in responses)


def test_more_clients_than_pooled_connections(tmp_path, build_app):
    """80 reads at once (the pool holds 5 + 10 connections) and 45 reviews of
    one candidate at once: every one answered (they stalled for the pool's
    30 s timeout and then half failed with 500, the writes with 503 'database
    is locked', while a sync session dependency waited for a thread to give
    its connection back)."""
    app, filled, _, engine = build_app(tmp_path)
    try:
        with serve_uvicorn(app) as base:
            reads = [("GET", f"{base}{V1}/observations", None)] * 80
            assert asyncio.run(_burst(reads)) == {200: 80}
            cid = filled.candidates[0]
            review = {"status": "confirmed", "note": "concurrent"}
            url = f"{base}{V1}/candidates/{cid}/status"
            codes = asyncio.run(_burst([("POST", url, review)] * 45))
            assert set(codes) <= {200, 409} and codes[200] >= 1, codes
    finally:
        engine.dispose()
