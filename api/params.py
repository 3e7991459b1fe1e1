"""Declarative request parameters: one table drives validation and the OpenAPI text.

Each endpoint lists its ``Param``s; ``parse`` turns a multidict of strings into typed
values or raises ``BadRequest`` naming the parameter, and ``openapi_parameters``
describes the same table, so the documentation cannot drift from the checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import BadRequest

Kind = Literal["string", "integer", "number", "infohash", "boolean"]

_INFOHASH = re.compile(r"^[0-9a-fA-F]{40}$")
_MAX_INT = 2**63 - 1  # sizes and times are signed 64-bit in every client we talk to


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind = "string"
    description: str = ""
    required: bool = False
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int = 256
    default: Any = None
    location: Literal["query", "path"] = "query"

    def convert(self, raw: str) -> Any:
        if len(raw) > self.max_length:
            raise BadRequest(f"parameter '{self.name}' is longer than {self.max_length}")
        converter = _CONVERTERS[self.kind]
        value = converter(self, raw)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise BadRequest(f"parameter '{self.name}' must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise BadRequest(f"parameter '{self.name}' must be at most {self.maximum}")
        return value


def _string(param: Param, raw: str) -> str:
    if "\x00" in raw:
        raise BadRequest(f"parameter '{param.name}' contains a NUL character")
    return raw


def _integer(param: Param, raw: str) -> int:
    text = raw.strip()
    # ASCII digits only: \d and int() also take full-width digits (U+FF10-U+FF19).
    if not re.fullmatch(r"[+-]?[0-9]{1,19}", text):
        raise BadRequest(f"parameter '{param.name}' must be an integer")
    value = int(text)
    if abs(value) > _MAX_INT:
        raise BadRequest(f"parameter '{param.name}' is out of range")
    return value


def _number(param: Param, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"parameter '{param.name}' must be a number") from None
    if not math.isfinite(value):
        raise BadRequest(f"parameter '{param.name}' must be a finite number")
    return value


def _infohash(param: Param, raw: str) -> str:
    if not _INFOHASH.match(raw):
        raise BadRequest(f"parameter '{param.name}' must be 40 hexadecimal digits")
    return raw.lower()


def _boolean(param: Param, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise BadRequest(f"parameter '{param.name}' must be true or false")


_CONVERTERS = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "infohash": _infohash,
    "boolean": _boolean,
}


def parse(
    params: Sequence[Param], query: Mapping[str, str], *, strict: bool = True
) -> dict[str, Any]:
    """Validate ``query`` against ``params``; unknown names are an error when strict."""
    known = {param.name for param in params}
    if strict:
        unknown = sorted(set(query) - known)
        if unknown:
            raise BadRequest(f"unknown parameter '{unknown[0]}'")
    values: dict[str, Any] = {}
    getall = getattr(query, "getall", None)  # a query string may repeat a name
    for param in params:
        if getall is not None and len(getall(param.name, [])) > 1:
            raise BadRequest(f"parameter '{param.name}' is given more than once")
        raw = query.get(param.name)
        # An empty string parameter (``q=``) is absent; an empty number is not a number.
        if raw is None or (raw == "" and param.kind == "string"):
            if param.required:
                raise BadRequest(f"parameter '{param.name}' is required")
            values[param.name] = param.default
            continue
        values[param.name] = param.convert(raw)
    return values


def openapi_parameters(params: Sequence[Param]) -> list[dict[str, Any]]:
    return [_describe(param) for param in params]


def _describe(param: Param) -> dict[str, Any]:
    schema: dict[str, Any]
    if param.kind == "infohash":
        schema = {"type": "string", "pattern": _INFOHASH.pattern}
    elif param.kind == "string":
        schema = {"type": "string", "maxLength": param.max_length, "pattern": "^[^\\x00]*$"}
    else:
        schema = {"type": param.kind}
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    if param.default is not None:
        schema["default"] = param.default
    return {
        "name": param.name,
        "in": param.location,
        "required": param.required or param.location == "path",
        "description": param.description,
        "schema": schema,
    }
