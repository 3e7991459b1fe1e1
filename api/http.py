"""The aiohttp JSON API and web page of a node.

Every handler validates its input against the route table (``api/routes.py``); one
middleware turns errors into ``{"error": {"status", "code", "message"}}`` JSON, so
a client never sees an HTML error page or a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .errors import (
    BadRequest,
    Forbidden,
    HttpError,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from .openapi import build_openapi
from .params import parse
from .ratelimit import RateLimiter
from .routes import INFOHASH_PARAM, ROUTES, Route
from .services import DownloadRequest, Json, SearchRequest, Services
from .web_assets import WebAssets

log = logging.getLogger(__name__)

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[Json]]
SERVICES_KEY = web.AppKey("services", Services)
LIMITER_KEY = web.AppKey("limiter", RateLimiter)


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """How the API listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    # Uploads for similarity search and .torrent files; JSON bodies are far smaller.
    max_body: int = 64 * 1024 * 1024
    # Per client address; generous for a page that searches as the user types.
    rate: float = 100.0
    burst: float = 400.0

    def __post_init__(self) -> None:
        if not _is_loopback(self.host) and not self.token:
            raise ValueError(
                f"binding the API to {self.host} exposes it to the network: give a token"
            )


CONFIG_KEY = web.AppKey("config", ApiConfig)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message}}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as exc:
        return json_response(_error_body(exc.status, exc.code, exc.message), exc.status)
    except web.HTTPRequestEntityTooLarge:
        return json_response(_error_body(413, "too_large", "request body too large"), 413)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else "http_error"
        return json_response(_error_body(exc.status, code, exc.reason), exc.status)
    except ValueError as exc:
        # Our packages raise ValueError subclasses for bad input (torrents, magnets, paths).
        return json_response(_error_body(400, "bad_request", str(exc)), 400)


@web.middleware
async def guard_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    config = request.app[CONFIG_KEY]
    limiter = request.app[LIMITER_KEY]
    if not limiter.allow(request.remote or "?", time.monotonic()):
        raise TooManyRequests("too many requests; slow down")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        _check_origin(request)
        if config.token is not None:
            expected = f"Bearer {config.token}"
            if request.headers.get("Authorization") != expected:
                raise Unauthorized("this node requires a token: send 'Authorization: Bearer …'")
    return await handler(request)


def _check_origin(request: web.Request) -> None:
    # A page on another site must not drive the node through the user's browser.
    origin = request.headers.get("Origin")
    if origin is not None and origin not in (
        f"http://{request.host}",
        f"https://{request.host}",
    ):
        raise Forbidden("cross-origin requests may not change anything")


async def _json_body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    data = await request.read()
    try:
        body = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field '{unknown[0]}'")
    for key, value in body.items():
        if not isinstance(value, str):
            raise BadRequest(f"field '{key}' must be a string")
    return body


def _media_type(request: web.Request) -> str:
    return request.content_type.split(";")[0].strip().lower()


class _Handlers:
    """Route name -> coroutine. Each gets the request and its validated parameters."""

    def __init__(self, services: Services) -> None:
        self.s = services

    async def search(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.search(SearchRequest(**v))

    async def similar_get(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.similar_to_infohash(v["infohash"], v["limit"])

    async def similar_post(self, request: web.Request, v: dict[str, Any]) -> Json:
        if _media_type(request) == "application/json":
            body = await _json_body(request, {"path"})
            if "path" not in body:
                raise BadRequest("field 'path' is required")
            return await self.s.similar_to_path(body["path"], v["limit"])
        data = await request.read()
        if not data:
            raise BadRequest('send the file\'s bytes, or JSON {"path": …}')
        return await self.s.similar_to_bytes(data, v["limit"])

    async def suggest(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.suggest(v["prefix"], v["limit"])

    async def torrent(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.torrent(v["infohash"])

    async def share(self, request: web.Request, v: dict[str, Any]) -> Json:
        body = await _json_body(request, {"path"})
        if "path" not in body:
            raise BadRequest("field 'path' is required")
        return await self.s.share(body["path"])

    async def import_(self, request: web.Request, v: dict[str, Any]) -> Json:
        data = await request.read()
        if not data.strip():
            raise BadRequest("send JSON lines, one torrent each")
        return await self.s.import_lines(data)

    async def stats(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.stats()

    async def downloads(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.list_downloads()

    async def add_download(self, request: web.Request, v: dict[str, Any]) -> Json:
        if _media_type(request) == "application/x-bittorrent":
            data = await request.read()
            if not data:
                raise BadRequest("the .torrent body is empty")
            return await self.s.add_download(DownloadRequest(torrent=data))
        body = await _json_body(request, {"infohash", "magnet", "folder", "name"})
        if ("infohash" in body) == ("magnet" in body):
            raise BadRequest("give exactly one of 'infohash' and 'magnet'")
        if "infohash" in body:
            body["infohash"] = INFOHASH_PARAM.convert(body["infohash"])
        return await self.s.add_download(DownloadRequest(**body))

    async def get_download(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.get_download(v["id"])

    async def remove_download(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.remove_download(v["id"], v["delete_files"])

    async def pause_download(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.pause_download(v["id"])

    async def resume_download(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.resume_download(v["id"])


def _bind(route: Route, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    query_params = tuple(p for p in route.params if p.location == "query")
    path_params = tuple(p for p in route.params if p.location == "path")

    async def endpoint(request: web.Request) -> web.Response:
        values = parse(query_params, request.query)
        values.update(parse(path_params, request.match_info))
        return json_response(await handler(request, values))

    return endpoint


async def _events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    await response.write(b": connected\n\n")
    async for name, data in request.app[SERVICES_KEY].events():
        await response.write(b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data)))
    return response


def _web_routes(app: web.Application, assets: WebAssets) -> None:
    async def index(request: web.Request) -> web.Response:
        return web.Response(
            body=assets.index_html,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def asset(request: web.Request) -> web.Response:
        found = assets.assets.get(request.match_info["name"])
        if found is None or request.match_info["version"] != assets.version:
            raise NotFound("no such asset")
        return web.Response(
            body=found.body,
            content_type=found.content_type,
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    app.router.add_get("/", index)
    app.router.add_get("/assets/{version}/{name}", asset)


def make_app(services: Services, config: ApiConfig | None = None) -> web.Application:
    """The node's web application: JSON API under /api/v1, the page at /."""
    config = config or ApiConfig()
    app = web.Application(
        middlewares=[error_middleware, guard_middleware], client_max_size=config.max_body
    )
    app[SERVICES_KEY] = services
    app[CONFIG_KEY] = config
    app[LIMITER_KEY] = RateLimiter(config.rate, config.burst)
    handlers = _Handlers(services)
    for route in ROUTES:
        handler = getattr(handlers, route.name if route.name != "import" else "import_")
        app.router.add_route(route.method, route.path, _bind(route, handler))
    spec = build_openapi("1")

    async def openapi(request: web.Request) -> web.Response:
        return json_response(spec)

    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/events", _events)
    _web_routes(app, WebAssets.load())
    return app
