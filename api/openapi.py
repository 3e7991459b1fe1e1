"""The OpenAPI 3 description of the JSON API, built from the route table."""

from __future__ import annotations

from typing import Any

from .params import openapi_parameters
from .routes import DOWNLOAD_FIELDS, PATH_MAX, ROUTES, Route

_INFOHASH = {"type": "string", "pattern": "^[0-9a-f]{40}$"}
_NULLABLE_INT = {"type": ["integer", "null"]}
# An absolute path without NUL; the node decides what it may point to.
_PATH = {"type": "string", "pattern": "^/[^\\x00]*$", "maxLength": PATH_MAX}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "code", "message"],
                "properties": {
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            }
        },
    },
    "Result": {
        "type": "object",
        "required": ["infohash", "name", "size", "magnet"],
        "properties": {
            "infohash": _INFOHASH,
            "name": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "files": {"type": "integer", "minimum": 0},
            "created": _NULLABLE_INT,
            "score": {"type": "number"},
            "similarity": {"type": "number"},
            "match": {"type": "string", "enum": ["exact", "fuzzy"]},
            "peers": _NULLABLE_INT,
            "magnet": {"type": "string"},
            "namespace": {"type": "string"},
            "signature": {
                "type": "boolean",
                "description": "the card has a content signature (similar can use it)",
            },
        },
    },
    "SearchPage": {
        "type": "object",
        "required": ["results", "next_cursor"],
        "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
            "next_cursor": {"type": ["string", "null"]},
            "total": {"type": "integer", "minimum": 0},
            "total_exact": {"type": "boolean"},
            "fuzzy": {"type": "boolean"},
            "corrected": {"type": "string"},
            "took_ms": {"type": "number"},
        },
    },
    "SimilarPage": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
            "took_ms": {"type": "number"},
        },
    },
    "Suggestions": {
        "type": "object",
        "required": ["suggestions"],
        "properties": {"suggestions": {"type": "array", "items": {"type": "string"}}},
    },
    "PathBody": {
        "type": "object",
        "required": ["path"],
        "properties": {"path": _PATH},
        "additionalProperties": False,
    },
    "Share": {
        "type": "object",
        "required": ["infohash", "name", "magnet"],
        "properties": {
            "infohash": _INFOHASH,
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "magnet": {"type": "string"},
        },
    },
    "ImportReport": {
        "type": "object",
        "required": ["imported", "rejected"],
        "properties": {
            "imported": {"type": "integer"},
            "rejected": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "string"}},
            "puts": {"type": "integer"},
        },
    },
    "Stats": {
        "type": "object",
        "description": "Counters of the node; more keys may appear",
        "properties": {
            "cards": {"type": "integer", "minimum": 0},
            "downloads": {"type": "integer", "minimum": 0},
            "dht": {"type": "object", "properties": {"nodes": {"type": "integer"}}},
        },
    },
    "Object": {"type": "object"},
    "DownloadBody": {
        "type": "object",
        "description": "Exactly one of infohash and magnet; folder and name are optional",
        "properties": {
            "infohash": {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"},
            "magnet": {
                "type": "string",
                "pattern": "^magnet:\\?[^\\x00]*$",
                "maxLength": DOWNLOAD_FIELDS["magnet"],
            },
            "folder": {
                "type": "string",
                "description": "Subfolder of the download folder",
                # Relative, no '..' component, no backslash or NUL.
                "pattern": "^(?![/~])(?!(.*/)?\\.\\.(/|$))[^\\\\\\x00]*$",
                "maxLength": DOWNLOAD_FIELDS["folder"],
            },
            "name": {
                "type": "string",
                "pattern": "^(?!\\.{1,2}$)[^/\\\\\\x00]+$",
                "maxLength": DOWNLOAD_FIELDS["name"],
            },
        },
        "oneOf": [
            {"required": ["infohash"], "not": {"required": ["magnet"]}},
            {"required": ["magnet"], "not": {"required": ["infohash"]}},
        ],
        "additionalProperties": False,
    },
    "Download": {
        "type": "object",
        "required": ["id", "infohash", "state", "verified_bytes"],
        "properties": {
            "id": {"type": "string"},
            "infohash": _INFOHASH,
            "name": {"type": ["string", "null"]},
            "state": {
                "type": "string",
                "enum": ["metadata", "checking", "downloading", "paused", "complete", "failed"],
            },
            "total_size": _NULLABLE_INT,
            "verified_bytes": {"type": "integer"},
            "rate": {"type": "number"},
            "peers": {"type": "integer"},
            "eta": {"type": ["number", "null"]},
            "folder": {"type": "string"},
            "path": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"]},
        },
    },
    "DownloadList": {
        "type": "object",
        "required": ["downloads"],
        "properties": {
            "downloads": {"type": "array", "items": {"$ref": "#/components/schemas/Download"}}
        },
    },
}


_STATUS_TEXT = {
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    503: "The DHT did not answer enough to give a complete answer: try again",
}


def _operation(route: Route) -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{route.response}"}}
            },
        },
        "400": error("Invalid parameters or body"),
        "403": error("Cross-origin request, or a Host that is not localhost"),
        "429": error("Too many requests"),
    }
    if route.method != "GET":
        responses["401"] = error("This node requires a token")
    statuses = set(route.extra_statuses)
    if route.body is not None:
        statuses |= {413, 415}
    for status in sorted(statuses):
        responses[str(status)] = error(_STATUS_TEXT[status])
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "parameters": openapi_parameters(route.params),
        "responses": responses,
    }
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": route.body}
    if route.method != "GET":
        # Without a token on loopback; with one when the node listens elsewhere.
        operation["security"] = [{}, {"bearer": []}]
    return operation


_DESCRIPTION = """\
The JSON API of one swarmseek node; its web page at `/` uses nothing else.

Errors: every error answer is `{"error": {"status", "code", "message"}}` with the
same HTTP status; `code` is stable (`bad_request`, `unauthorized`, `forbidden`,
`not_found`, `method_not_allowed`, `conflict`, `too_large`, `unsupported_media_type`,
`rate_limited`, `unavailable`, `internal`).

Security: the node listens on 127.0.0.1 and answers only to localhost names unless it
is configured with a token; then every request other than GET must carry
`Authorization: Bearer <token>`. Requests from another origin may not change
anything, JSON bodies must be sent as `application/json`, bodies and rates are limited.
"""


def build_openapi(version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    paths["/api/v1/events"] = {
        "get": {
            "operationId": "events",
            "summary": "Live download progress as server-sent events (event: download)",
            "responses": {
                "200": {
                    "description": "An event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "503": {
                    "description": "Too many open event streams",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "swarmseek node API",
            "version": version,
            "description": _DESCRIPTION,
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
