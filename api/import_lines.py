"""Catalogue lines for ``swarmseek import`` and the demo: JSON objects, one per line
(gzip accepted), each a card's ``infohash``, ``name``, ``size`` and optionally
``files``, ``created`` and ``description``. Pure and bounded: a line, a name, a
description and the unpacked whole each have a limit, and a bad line is reported by
number without stopping the rest.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from swarmseek.index import Card

from .errors import BadRequest

MAX_IMPORT_ERRORS = 50  # errors listed in an import report; the count covers all
MAX_IMPORT_BYTES = 512 << 20  # unpacked lines of one import: 35x the Debian catalogue
MAX_LINE = 16 * 1024  # one catalogue line: a name, a description and a few numbers
MAX_NAME = 4096
MAX_DESCRIPTION = 64 * 1024


def parse_lines(data: bytes, now: int) -> tuple[list[Card], list[str], int]:
    """Cards from JSON lines (gzip accepted); errors name their line. Pure."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data)
    cards: list[Card] = []
    errors: list[str] = []
    rejected = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            cards.append(_card_from_line(line, now))
        except (ValueError, TypeError) as exc:
            rejected += 1
            if len(errors) < MAX_IMPORT_ERRORS:
                errors.append(f"line {number}: {exc}")
    return cards, errors, rejected


def _gunzip(data: bytes) -> bytes:
    # Bounded: a small gzip body can expand a thousandfold (a "zip bomb").
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_IMPORT_BYTES)
    except zlib.error as exc:
        raise BadRequest(f"bad gzip data: {exc}") from None
    if inflater.unconsumed_tail:
        raise BadRequest(f"more than {MAX_IMPORT_BYTES >> 20} MiB of lines once unpacked")
    return out


def _card_from_line(line: bytes, now: int) -> Card:
    if len(line) > MAX_LINE:
        raise ValueError(f"longer than {MAX_LINE} bytes")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ValueError("not valid JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    infohash = obj.get("infohash")
    if not isinstance(infohash, str) or len(infohash) != 40:
        raise ValueError("'infohash' must be 40 hexadecimal digits")
    try:
        raw = bytes.fromhex(infohash)
    except ValueError:
        raise ValueError("'infohash' must be 40 hexadecimal digits") from None
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValueError("'name' must be a non-empty string")
    size = _int(obj, "size", required=True)
    files = _int(obj, "files", default=1)
    created = _int(obj, "created", default=0)
    description = obj.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_DESCRIPTION
    ):
        raise ValueError("'description' must be a string")
    if created > now + 86400:
        raise ValueError("'created' is in the future")
    return Card.create(raw, name, size, max(files, 1), created)


def _int(obj: dict[str, Any], key: str, *, required: bool = False, default: int = 0) -> int:
    value = obj.get(key)
    if value is None:
        if required:
            raise ValueError(f"'{key}' is required")
        return default
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError(f"'{key}' must be a non-negative integer")
    return value
