"""The aiohttp JSON API and web page of a node.

Every handler validates its input against the route table (``api/routes.py``); one
middleware turns errors into ``{"error": {"status", "code", "message"}}`` JSON, so
a client never sees an HTML error page or a traceback.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
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
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from .openapi import build_openapi
from .params import parse
from .ratelimit import RateLimiter
from .routes import DOWNLOAD_FIELDS, INFOHASH_PARAM, PATH_MAX, ROUTES, Route
from .services import DownloadRequest, Json, SearchRequest, Services
from .web_assets import WebAssets

log = logging.getLogger(__name__)

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[Json]]
SERVICES_KEY = web.AppKey("services", Services)
LIMITER_KEY = web.AppKey("limiter", RateLimiter)
STREAMS_KEY = web.AppKey("streams", set[web.StreamResponse])


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """How the API listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    # Uploads for similarity search and bulk imports; other bodies are far smaller.
    max_body: int = 64 * 1024 * 1024
    # JSON bodies hold a path or a magnet link; .torrent files of huge torrents reach
    # a few MiB (the transfer package's own metainfo limit applies after this).
    max_json: int = 64 * 1024
    max_torrent: int = 16 * 1024 * 1024
    # Each open event stream holds a task and a queue in the node.
    max_event_streams: int = 64
    # Per client address; generous for a page that searches as the user types.
    rate: float = 100.0
    burst: float = 400.0

    def __post_init__(self) -> None:
        if not _is_loopback(self.host) and not self.token:
            raise ValueError(
                f"binding the API to {self.host} exposes it to the network: give a token"
            )
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the API token must be at least 16 characters long")

    @property
    def loopback(self) -> bool:
        return _is_loopback(self.host)


CONFIG_KEY = web.AppKey("config", ApiConfig)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """'127.0.0.1:8080' -> '127.0.0.1', '[::1]:80' -> '::1', 'localhost' -> 'localhost'."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


# Sent with every response: the page loads only its own files and cannot be framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


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
    except ConnectionResetError:
        raise  # the client went away; nothing to answer
    except web.HTTPRequestEntityTooLarge:
        return json_response(_error_body(413, "too_large", "request body too large"), 413)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = json_response(_error_body(exc.status, code, exc.reason), exc.status)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ValueError as exc:
        # Our packages raise ValueError subclasses for bad input (torrents, magnets, paths).
        return json_response(_error_body(400, "bad_request", str(exc)[:500]), 400)
    except (FileNotFoundError, NotADirectoryError) as exc:
        # A path the client gave does not exist (share, similar by path).
        return json_response(_error_body(404, "not_found", _os_message(exc)), 404)
    except PermissionError as exc:
        return json_response(_error_body(403, "forbidden", _os_message(exc)), 403)
    except OSError as exc:
        if exc.errno not in _CLIENT_ERRNOS:
            log.exception("OS error answering %s %s", request.method, request.path)
            return json_response(_error_body(500, "internal", _os_message(exc)), 500)
        return json_response(_error_body(400, "bad_request", _os_message(exc)), 400)
    except Exception:
        # A bug of ours: log it, and still answer in the API's error format.
        log.exception("internal error answering %s %s", request.method, request.path)
        return json_response(_error_body(500, "internal", "internal error"), 500)


# OS errors caused by the path a client sent, not by the node's state.
_CLIENT_ERRNOS = {errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL, errno.EISDIR}


def _os_message(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


@web.middleware
async def guard_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    config = request.app[CONFIG_KEY]
    limiter = request.app[LIMITER_KEY]
    if not limiter.allow(request.remote or "?", time.monotonic()):
        raise TooManyRequests("too many requests; slow down")
    if config.loopback and not _is_loopback(_host_name(request.host)):
        # DNS rebinding: a site whose name resolves to 127.0.0.1 would otherwise be
        # "same origin" with the node and could read and drive it.
        raise Forbidden("this node answers only to localhost names")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        _check_origin(request)
        if config.token is not None:
            expected = f"Bearer {config.token}".encode()
            given = request.headers.get("Authorization", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                raise Unauthorized("this node requires a token: send 'Authorization: Bearer …'")
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _check_origin(request: web.Request) -> None:
    # A page on another site must not drive the node through the user's browser.
    origin = request.headers.get("Origin")
    if origin is not None and origin not in (
        f"http://{request.host}",
        f"https://{request.host}",
    ):
        raise Forbidden("cross-origin requests may not change anything")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("cross-site requests may not change anything")


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, or PayloadTooLarge as soon as it exceeds ``limit`` (even when chunked)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body may be at most {limit} bytes")
    data = await request.content.read(limit + 1)
    while len(data) <= limit and not request.content.at_eof():
        chunk = await request.content.read(limit + 1 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) > limit:
        raise PayloadTooLarge(f"the body may be at most {limit} bytes")
    return data


async def _json_body(request: web.Request, fields: dict[str, int]) -> dict[str, str]:
    """A JSON object of string fields, each at most ``fields[name]`` characters."""
    if _media_type(request) != "application/json":
        # Also a CSRF defence: a cross-site form cannot send application/json.
        raise UnsupportedMediaType("send the body as application/json")
    data = await _read_limited(request, request.app[CONFIG_KEY].max_json)
    try:
        body = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest(f"unknown field '{unknown[0][:64]}'")
    for key, value in body.items():
        if not isinstance(value, str):
            raise BadRequest(f"field '{key}' must be a string")
        if len(value) > fields[key]:
            raise BadRequest(f"field '{key}' is longer than {fields[key]}")
        if "\x00" in value:
            raise BadRequest(f"field '{key}' contains a NUL character")
    return body


def _check_path(path: str) -> str:
    # The node resolves and confines paths; here only the shape: absolute, no empty text.
    if not path.startswith("/"):
        raise BadRequest("'path' must be an absolute path")
    return path


def _check_folder(folder: str) -> str:
    # A subfolder of the node's download directory; the node builds the real path.
    if folder.startswith(("/", "~")) or "\\" in folder or ".." in folder.split("/"):
        raise BadRequest("'folder' must be relative to the download folder, without '..'")
    return folder


def _check_file_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise BadRequest("'name' must be a plain file name, without '/'")
    return name


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
            body = await _json_body(request, {"path": PATH_MAX})
            if "path" not in body:
                raise BadRequest("field 'path' is required")
            return await self.s.similar_to_path(_check_path(body["path"]), v["limit"])
        if _media_type(request) not in ("application/octet-stream", ""):
            raise UnsupportedMediaType("send the file as application/octet-stream")
        data = await _read_limited(request, request.app[CONFIG_KEY].max_body)
        if not data:
            raise BadRequest('send the file\'s bytes, or JSON {"path": …}')
        return await self.s.similar_to_bytes(data, v["limit"])

    async def suggest(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.suggest(v["prefix"], v["limit"])

    async def torrent(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.torrent(v["infohash"])

    async def share(self, request: web.Request, v: dict[str, Any]) -> Json:
        body = await _json_body(request, {"path": PATH_MAX})
        if "path" not in body:
            raise BadRequest("field 'path' is required")
        return await self.s.share(_check_path(body["path"]))

    async def import_(self, request: web.Request, v: dict[str, Any]) -> Json:
        if _media_type(request) not in ("application/x-ndjson", "application/jsonl", ""):
            raise UnsupportedMediaType("send JSON lines as application/x-ndjson")
        data = await _read_limited(request, request.app[CONFIG_KEY].max_body)
        if not data.strip():
            raise BadRequest("send JSON lines, one torrent each")
        return await self.s.import_lines(data)

    async def stats(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.stats()

    async def downloads(self, request: web.Request, v: dict[str, Any]) -> Json:
        return await self.s.list_downloads()

    async def add_download(self, request: web.Request, v: dict[str, Any]) -> Json:
        if _media_type(request) == "application/x-bittorrent":
            data = await _read_limited(request, request.app[CONFIG_KEY].max_torrent)
            if not data:
                raise BadRequest("the .torrent body is empty")
            return await self.s.add_download(DownloadRequest(torrent=data))
        body = await _json_body(request, DOWNLOAD_FIELDS)
        if ("infohash" in body) == ("magnet" in body):
            raise BadRequest("give exactly one of 'infohash' and 'magnet'")
        if "infohash" in body:
            body["infohash"] = INFOHASH_PARAM.convert(body["infohash"])
        if "magnet" in body and not body["magnet"].startswith("magnet:?"):
            raise BadRequest("'magnet' must be a magnet: link")
        if "folder" in body:
            _check_folder(body["folder"])
        if "name" in body:
            _check_file_name(body["name"])
        return await self.s.add_download(
            DownloadRequest(
                infohash=body.get("infohash"),
                magnet=body.get("magnet"),
                folder=body.get("folder"),
                name=body.get("name"),
            )
        )

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
    parse((), request.query)  # no parameters: refuse unknown ones like every route
    streams = request.app[STREAMS_KEY]
    if len(streams) >= request.app[CONFIG_KEY].max_event_streams:
        raise Unavailable("too many open event streams")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    streams.add(response)
    try:
        await response.prepare(request)
        await response.write(b": connected\n\n")
        async for name, data in request.app[SERVICES_KEY].events():
            await response.write(b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data)))
    except ConnectionResetError:
        pass  # the page was closed or reloaded: the stream simply ends
    finally:
        streams.discard(response)
    return response


def _web_routes(app: web.Application, assets: WebAssets) -> None:
    etag = f'"{hashlib.sha256(assets.index_html).hexdigest()[:16]}"'

    async def index(request: web.Request) -> web.Response:
        # Revalidated on every visit (cheap with the ETag), so a new version's assets
        # are picked up at once; the assets themselves are immutable.
        headers = {"Cache-Control": "no-cache", "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=assets.index_html, content_type="text/html", charset="utf-8", headers=headers
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
    app[STREAMS_KEY] = set()
    app.on_response_prepare.append(_security_headers)
    handlers = _Handlers(services)
    for route in ROUTES:
        handler = getattr(handlers, route.name if route.name != "import" else "import_")
        app.router.add_route(route.method, route.path, _bind(route, handler))
    spec = build_openapi("1")

    async def openapi(request: web.Request) -> web.Response:
        parse((), request.query)
        return json_response(spec)

    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/events", _events)
    _web_routes(app, WebAssets.load())
    return app
