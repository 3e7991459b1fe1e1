"""The JSON API's contract with a fake node: validation, errors, security, assets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from swarmseek.api.http import ApiConfig, make_app
from swarmseek.api.services import SearchRequest
from tests.support.fake_services import FakeServices

IH = "ab" * 20


@pytest.fixture
async def client_and_services() -> AsyncIterator[tuple[TestClient[Any, Any], FakeServices]]:
    services = FakeServices()
    async with TestClient(TestServer(make_app(services))) as client:
        yield client, services


async def test_search_parameters_are_typed(client_and_services: Any) -> None:
    client, services = client_and_services
    response = await client.get("/api/v1/search", params={"q": "gpl", "size_min": "10"})
    assert response.status == 200
    assert services.searches[-1] == SearchRequest(q="gpl", size_min=10)


@pytest.mark.parametrize(
    "query",
    [
        {"size_min": "ten"},
        {"size_min": "-1"},
        {"limit": "0"},
        {"limit": "100000"},
        {"bogus": "1"},
        {"q": "x" * 1000},
        {"after": "99999999999999999999999"},
    ],
)
async def test_bad_search_parameters_are_400_json(client_and_services: Any, query: Any) -> None:
    client, _ = client_and_services
    response = await client.get("/api/v1/search", params=query)
    assert response.status == 400
    body = await response.json()
    assert body["error"]["status"] == 400
    assert body["error"]["message"]


async def test_not_found_is_json(client_and_services: Any) -> None:
    client, _ = client_and_services
    for path in ("/api/v1/similar?infohash=" + IH, "/api/v1/nothing", f"/api/v1/torrents/{IH}"):
        response = await client.get(path)
        assert response.status == 404, path
        assert (await response.json())["error"]["code"] == "not_found"


async def test_download_body_validation(client_and_services: Any) -> None:
    client, services = client_and_services
    bad = [
        b"",
        b"[]",
        b"{",
        b'{"infohash": 5}',
        b'{"infohash": "zz"}',
        b'{"x": "y"}',
        b'{"infohash": "' + IH.encode() + b'", "magnet": "magnet:?"}',
    ]
    for body in bad:
        response = await client.post(
            "/api/v1/downloads", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400, body
    response = await client.post("/api/v1/downloads", json={"infohash": IH.upper()})
    assert response.status == 200
    assert services.requests[-1].infohash == IH


async def test_cross_origin_mutation_refused(client_and_services: Any) -> None:
    client, _ = client_and_services
    response = await client.post(
        "/api/v1/shares", json={"path": "/tmp"}, headers={"Origin": "http://evil.example"}
    )
    assert response.status == 403


async def test_token_required_when_configured() -> None:
    app = make_app(FakeServices(), ApiConfig(token="s3cret-s3cret-s3cret"))
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/api/v1/shares", json={"path": "/x"})).status == 401
        ok = await client.post(
            "/api/v1/shares",
            json={"path": "/tmp"},
            headers={"Authorization": "Bearer s3cret-s3cret-s3cret"},
        )
        assert ok.status == 200
        assert (await client.get("/api/v1/stats")).status == 200


def test_public_bind_without_token_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        ApiConfig(host="0.0.0.0")


async def test_rate_limit_answers_429() -> None:
    app = make_app(FakeServices(), ApiConfig(rate=0.001, burst=3))
    async with TestClient(TestServer(app)) as client:
        statuses = [(await client.get("/api/v1/stats")).status for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]


async def test_page_and_versioned_assets(client_and_services: Any) -> None:
    client, _ = client_and_services
    page = await client.get("/")
    html = await page.text()
    assert page.status == 200 and "swarmseek" in html
    start = html.index("/assets/") + len("/assets/")
    version = html[start : html.index("/", start)]
    asset = await client.get(f"/assets/{version}/app.js")
    assert asset.status == 200
    assert "immutable" in asset.headers["Cache-Control"]
    assert (await client.get("/assets/old/app.js")).status == 404
    again = await client.get("/", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status == 304


async def test_openapi_lists_every_route(client_and_services: Any) -> None:
    client, _ = client_and_services
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/search", "/api/v1/similar", "/api/v1/downloads/{id}"} <= set(spec["paths"])


async def test_events_stream(client_and_services: Any) -> None:
    client, services = client_and_services
    response = await client.get("/api/v1/events")
    assert await response.content.readline() == b": connected\n"
    await client.post("/api/v1/downloads", json={"infohash": IH})
    services.close()
    text = await response.text()
    assert "event: download" in text and IH in text
