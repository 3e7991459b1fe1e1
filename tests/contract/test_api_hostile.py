"""Malformed and hostile requests, end to end over HTTP: each gets a 4xx JSON error.

The app runs with ``FakeServices``; what is checked is the HTTP layer's own defences
(shapes, sizes, rates, origin, host, token). Requests so broken that aiohttp's parser
refuses them before any handler runs get its plain-text 400, also checked here.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from swarmseek.api.http import ApiConfig, make_app
from tests.support.api_server import serve_in_thread
from tests.support.fake_services import FakeServices, sample_cards

IH = "ab" * 20
TOKEN = "t0ken-t0ken-t0ken-t0ken"
JSON = {"Content-Type": "application/json"}


async def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body


@pytest.fixture
async def services(tmp_path: Path) -> FakeServices:
    return FakeServices(cards=sample_cards(), download_dir=tmp_path)


@pytest.fixture
async def client(services: FakeServices) -> AsyncIterator[TestClient[Any, Any]]:
    config = ApiConfig(max_json=1024, max_torrent=4096, max_body=64 * 1024, max_event_streams=2)
    async with TestClient(TestServer(make_app(services, config))) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/shares", {"path": "../../etc/passwd"}),
        ("/api/v1/shares", {"path": "relative/file"}),
        ("/api/v1/shares", {"path": "/tmp/a\x00b"}),
        ("/api/v1/shares", {"path": ["/etc"]}),
        ("/api/v1/shares", {"path": {"$gt": ""}}),
        ("/api/v1/shares", {}),
        ("/api/v1/similar", {"path": "etc/passwd"}),
        ("/api/v1/downloads", {"infohash": IH, "name": "../../.bashrc"}),
        ("/api/v1/downloads", {"infohash": IH, "name": ".."}),
        ("/api/v1/downloads", {"infohash": IH, "name": "a/b"}),
        ("/api/v1/downloads", {"infohash": IH, "name": "a\\b"}),
        ("/api/v1/downloads", {"infohash": IH, "folder": "/etc"}),
        ("/api/v1/downloads", {"infohash": IH, "folder": "~root"}),
        ("/api/v1/downloads", {"infohash": IH, "folder": "a/../../b"}),
        ("/api/v1/downloads", {"infohash": IH, "folder": ".."}),
        ("/api/v1/downloads", {"infohash": IH, "folder": "a\\..\\b"}),
        ("/api/v1/downloads", {"infohash": IH, "folder": "/x\x00/y"}),
        ("/api/v1/downloads", {"magnet": "javascript:alert(1)"}),
        ("/api/v1/downloads", {"infohash": IH + "00"}),
        ("/api/v1/downloads", {"infohash": None}),
        ("/api/v1/downloads", {"infohash": IH, "extra": "1"}),
    ],
)
async def test_bad_paths_and_fields_are_400(
    client: TestClient[Any, Any], services: FakeServices, path: str, body: Any
) -> None:
    await assert_error(await client.post(path, json=body), 400, "bad_request")
    assert services.shared == [] and services.requests == []


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b"[" * 100_000, b'{"path": "/a", "path": 1}'],
)
async def test_malformed_json_is_400(client: TestClient[Any, Any], raw: bytes) -> None:
    # The nested one is larger than max_json: refused for its size before parsing.
    response = await client.post("/api/v1/shares", data=raw, headers=JSON)
    await assert_error(response, 413 if len(raw) > 1024 else 400)


async def test_deep_json_within_size_is_400(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/v1/shares", data=b"[" * 1000, headers=JSON)
    await assert_error(response, 400)


async def test_wrong_media_types_are_415(client: TestClient[Any, Any]) -> None:
    # A cross-site HTML form can only send these; JSON endpoints refuse them.
    for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = await client.post(
            "/api/v1/downloads",
            data=b'{"infohash": "' + IH.encode() + b'"}',
            headers={"Content-Type": media},
        )
        await assert_error(response, 415, "unsupported_media_type")
    response = await client.post(
        "/api/v1/similar", data=b"x", headers={"Content-Type": "text/html"}
    )
    await assert_error(response, 415)


async def test_oversized_bodies_are_413(client: TestClient[Any, Any]) -> None:
    big = b'{"path": "/' + b"a" * 5000 + b'"}'
    await assert_error(
        await client.post("/api/v1/shares", data=big, headers=JSON), 413, "too_large"
    )

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(100):
            yield b"a" * 1024

    response = await client.post(
        "/api/v1/similar", data=chunks(), headers={"Content-Type": "application/octet-stream"}
    )
    await assert_error(response, 413)
    torrent = b"d" + b"x" * 5000 + b"e"
    response = await client.post(
        "/api/v1/downloads", data=torrent, headers={"Content-Type": "application/x-bittorrent"}
    )
    await assert_error(response, 413)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/torrents/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/torrents/" + "a" * 41,
        "/api/v1/downloads/" + "1" * 100,
        "/api/v1/similar?infohash=zz",
        "/api/v1/similar?infohash=" + IH + "&limit=1e3",
        "/api/v1/search?q=a&limit=-1",
        "/api/v1/search?q=a%00b",
        "/api/v1/search?size_min=0x10",
        "/api/v1/search?after=%EF%BC%91%EF%BC%92",  # full-width digits: not an integer
        "/api/v1/suggest",
        "/api/v1/suggest?prefix=" + "a" * 200,
        "/api/v1/events?x=1",
        "/api/v1/openapi.json?x=1",
        "/api/v1/search?q=a&limit=&limit=zz",  # a repeated name is refused, not guessed
    ],
)
async def test_bad_urls_are_4xx_json(client: TestClient[Any, Any], url: str) -> None:
    response = await client.get(url)
    assert 400 <= response.status < 500
    await assert_error(response, response.status)


async def test_unknown_method_is_405_json(client: TestClient[Any, Any]) -> None:
    response = await client.request("PUT", "/api/v1/search")
    await assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    await assert_error(await client.request("PATCH", "/api/v1/downloads/1"), 405)


async def test_cross_site_requests_are_403(client: TestClient[Any, Any]) -> None:
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        response = await client.post("/api/v1/downloads", json={"infohash": IH}, headers=headers)
        await assert_error(response, 403, "forbidden")


async def test_dns_rebinding_host_is_403(client: TestClient[Any, Any]) -> None:
    # evil.example resolving to 127.0.0.1: same origin as far as the browser knows.
    for method in ("GET", "POST"):
        response = await client.request(
            method,
            "/api/v1/downloads",
            json={"infohash": IH},
            headers={"Host": "evil.example", "Origin": "http://evil.example"},
        )
        await assert_error(response, 403)
    for host in ("localhost", "127.0.0.1:8080", "[::1]:80"):
        response = await client.get("/api/v1/stats", headers={"Host": host})
        assert response.status == 200, host


async def test_token_is_required_for_every_mutation(services: FakeServices) -> None:
    app = make_app(services, ApiConfig(host="0.0.0.0", token=TOKEN))
    mutations = [
        ("POST", "/api/v1/shares", {"path": "/tmp"}),
        ("POST", "/api/v1/downloads", {"infohash": IH}),
        ("POST", "/api/v1/similar", {"path": "/tmp"}),
        ("POST", "/api/v1/imports", None),
        ("DELETE", "/api/v1/downloads/1", None),
        ("POST", "/api/v1/downloads/1/pause", None),
        ("POST", "/api/v1/downloads/1/resume", None),
    ]
    async with TestClient(TestServer(app)) as c:
        for method, path, body in mutations:
            for auth in (
                None,
                "Bearer",
                "Bearer " + TOKEN[:-1],
                "Basic " + TOKEN,
                TOKEN,
                "Bearer " + TOKEN + "x",
                "Bearer é",
            ):
                headers = {} if auth is None else {"Authorization": auth}
                response = await c.request(method, path, json=body, headers=headers)
                await assert_error(response, 401, "unauthorized")
        assert services.shared == [] and services.requests == []
        ok = await c.post(
            "/api/v1/shares", json={"path": "/tmp"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert ok.status == 200
        # Reading needs no token, from any Host (the node is not bound to loopback).
        response = await c.get("/api/v1/search?q=debian", headers={"Host": "node.lan"})
        assert response.status == 200


def test_short_token_refused() -> None:
    with pytest.raises(ValueError, match="16"):
        ApiConfig(host="0.0.0.0", token="short")


async def test_flood_is_rate_limited(services: FakeServices) -> None:
    app = make_app(services, ApiConfig(rate=0.001, burst=20))
    async with TestClient(TestServer(app)) as c:
        responses = await asyncio.gather(*(c.get("/api/v1/stats") for _ in range(60)))
        statuses = sorted(r.status for r in responses)
        assert statuses.count(200) == 20 and statuses.count(429) == 40
        await assert_error(next(r for r in responses if r.status == 429), 429, "rate_limited")


async def test_event_streams_are_capped(
    client: TestClient[Any, Any], services: FakeServices
) -> None:
    open_streams = [await client.get("/api/v1/events") for _ in range(2)]
    for stream in open_streams:
        assert await stream.content.readline() == b": connected\n"
    await assert_error(await client.get("/api/v1/events"), 503, "unavailable")
    services.close()
    for stream in open_streams:
        await stream.read()
    again = await client.get("/api/v1/events")
    assert again.status == 200
    again.close()


async def test_security_headers_on_page_and_api(client: TestClient[Any, Any]) -> None:
    for url in ("/", "/api/v1/stats", "/api/v1/nothing"):
        response = await client.get(url)
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


# ---------- raw bytes on the socket ----------


def _exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` and return the answer's head; the timeout only bounds a hang."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.fixture(scope="module")
def raw_port() -> Any:
    with serve_in_thread(lambda: make_app(FakeServices(cards=sample_cards()))) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/v1/stats?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /api/v1/stats HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GET /api/v1/stats HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"Host: localhost\r\n\r\n",
        b"POST /api/v1/shares HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/v1/shares HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\nzz\r\n",
        b"GET /api/v1/stats HTTP/1.1\r\n\r\n",
    ],
)
def test_broken_http_is_400_not_a_hang(raw_port: int, raw: bytes) -> None:
    answer = _exchange(raw_port, raw)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]


@given(st.binary(min_size=1, max_size=2048))
@settings(max_examples=60)
def test_arbitrary_bytes_are_answered_4xx(raw_port: int, raw: bytes) -> None:
    # Blank lines before a request are allowed (RFC 9112 2.2): the server waits for more.
    assume(raw.lstrip(b"\r\n"))
    answer = _exchange(raw_port, raw + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1."), answer[:200]
    assert 400 <= int(answer.split(b" ", 2)[1]) < 500, answer[:200]


async def test_server_still_answers_after_abuse(raw_port: int) -> None:
    url = f"http://127.0.0.1:{raw_port}/api/v1/stats"
    async with ClientSession(timeout=ClientTimeout(total=10)) as session, session.get(url) as r:
        assert r.status == 200
