"""The API's endpoints as a table: method, path, parameters, body and response shapes.

``api/http.py`` binds handlers to it and ``api/openapi.py`` documents it, so the
description served at ``/api/v1/openapi.json`` is the one the server enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .params import Param

INFOHASH_PARAM = Param(
    "infohash", "infohash", "Infohash of the torrent, 40 hex digits", required=True
)
_LIMIT = Param("limit", "integer", "Most results to return", minimum=1, maximum=200, default=20)
# Longest path accepted in a body (Linux PATH_MAX); the node checks what it points to.
PATH_MAX = 4096
# Fields of a JSON download request and their longest values.
DOWNLOAD_FIELDS = {"infohash": 40, "magnet": 8192, "folder": 1024, "name": 255}
_DOWNLOAD_ID = Param("id", "string", "Download id", location="path", max_length=64)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    method: str
    path: str
    summary: str
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # OpenAPI requestBody "content"
    response: str = "Object"  # a schema name in api/openapi.py
    mutating: bool = False
    extra_statuses: tuple[int, ...] = field(default=())


SEARCH_PARAMS = (
    Param("q", "string", "Keywords; every one must match a word of the name", max_length=512),
    Param("prefix", "string", "A name word must start with this", max_length=128),
    Param("size_min", "integer", "Smallest total size in bytes", minimum=0),
    Param("size_max", "integer", "Largest total size in bytes", minimum=0),
    Param("after", "integer", "Created at or after (Unix seconds)", minimum=0),
    Param("before", "integer", "Created before (Unix seconds)", minimum=0),
    _LIMIT,
    Param("cursor", "string", "Opaque cursor from a previous page", max_length=512),
    Param(
        "fuzzy",
        "boolean",
        "When no name has every word, return names like the words given (typos, word"
        " order) and say so with fuzzy: true",
        default=True,
    ),
)

ROUTES: tuple[Route, ...] = (
    Route(
        "search",
        "GET",
        "/api/v1/search",
        "Search by keywords, prefix, size and date",
        SEARCH_PARAMS,
        response="SearchPage",
        extra_statuses=(503,),
    ),
    Route(
        "similar_get",
        "GET",
        "/api/v1/similar",
        "Torrents with content similar to a known one",
        (INFOHASH_PARAM, _LIMIT),
        response="SimilarPage",
        extra_statuses=(404, 503),
    ),
    Route(
        "similar_post",
        "POST",
        "/api/v1/similar",
        'Torrents similar to a file: send its bytes, or JSON {"path": ...} of a local file',
        (_LIMIT,),
        body={
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/PathBody"}},
        },
        response="SimilarPage",
        extra_statuses=(404, 413, 503),
    ),
    Route(
        "suggest",
        "GET",
        "/api/v1/suggest",
        "Completions of a word prefix from known names",
        (
            Param("prefix", "string", "Word prefix", required=True, max_length=128),
            Param("limit", "integer", "Most suggestions", minimum=1, maximum=50, default=10),
        ),
        response="Suggestions",
    ),
    Route(
        "torrent",
        "GET",
        "/api/v1/torrents/{infohash}",
        "One torrent's card",
        (Param("infohash", "infohash", "Infohash", location="path"),),
        response="Result",
        extra_statuses=(404,),
    ),
    Route(
        "share",
        "POST",
        "/api/v1/shares",
        "Share a local file or folder: seed and index it",
        body={"application/json": {"schema": {"$ref": "#/components/schemas/PathBody"}}},
        response="Share",
        mutating=True,
        extra_statuses=(404, 503),
    ),
    Route(
        "import",
        "POST",
        "/api/v1/imports",
        "Index torrents' metadata in bulk: JSON lines with infohash, name, size",
        body={"application/x-ndjson": {"schema": {"type": "string"}}},
        response="ImportReport",
        mutating=True,
        extra_statuses=(413, 503),
    ),
    Route("stats", "GET", "/api/v1/stats", "Node statistics", response="Stats"),
    Route("downloads", "GET", "/api/v1/downloads", "All downloads", response="DownloadList"),
    Route(
        "add_download",
        "POST",
        "/api/v1/downloads",
        "Start a download from an infohash, a magnet link or a .torrent file",
        body={
            "application/json": {"schema": {"$ref": "#/components/schemas/DownloadBody"}},
            "application/x-bittorrent": {"schema": {"type": "string", "format": "binary"}},
        },
        response="Download",
        mutating=True,
        extra_statuses=(409,),
    ),
    Route(
        "get_download",
        "GET",
        "/api/v1/downloads/{id}",
        "One download",
        (_DOWNLOAD_ID,),
        response="Download",
        extra_statuses=(404,),
    ),
    Route(
        "remove_download",
        "DELETE",
        "/api/v1/downloads/{id}",
        "Cancel and remove a download (files kept unless delete_files=true)",
        (_DOWNLOAD_ID, Param("delete_files", "boolean", "Also delete the files", default=False)),
        response="Download",
        mutating=True,
        extra_statuses=(404,),
    ),
    Route(
        "pause_download",
        "POST",
        "/api/v1/downloads/{id}/pause",
        "Pause a download",
        (_DOWNLOAD_ID,),
        response="Download",
        mutating=True,
        extra_statuses=(404,),
    ),
    Route(
        "resume_download",
        "POST",
        "/api/v1/downloads/{id}/resume",
        "Resume a download",
        (_DOWNLOAD_ID,),
        response="Download",
        mutating=True,
        extra_statuses=(404,),
    ),
)
