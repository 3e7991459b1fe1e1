"""The original bencoder of ``swarmseek.transfer.bencode``, kept as a test oracle.

``transfer/bencode.py`` was rewritten for speed (closures over locals, exact type checks
first). This is the straightforward class-based version it replaced, byte for byte the
same logic; ``tests/property/test_bencode_differential.py`` checks that both give the
same values, raw spans, problems, errors and error positions, and
``tests/benchmarks/bench_bencode.py`` measures one against the other. Do not optimise it.
The data types (``Limits``, ``Document``) are shared with the real module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarmseek.transfer.bencode import DEFAULT_LIMITS, Document, Limits, Value
from swarmseek.transfer.errors import BencodeError

_DIGITS = frozenset(b"0123456789")


class _Decoder:
    __slots__ = ("data", "limits", "pos", "problems", "strict", "tokens")

    def __init__(self, data: bytes, limits: Limits, strict: bool) -> None:
        self.data = data
        self.limits = limits
        self.strict = strict
        self.pos = 0
        self.tokens = 0
        self.problems: list[str] = []

    def _noncanonical(self, message: str, position: int) -> None:
        if self.strict:
            raise BencodeError(message, position)
        if len(self.problems) < 16:  # a report, not a second copy of the input
            self.problems.append(f"{message} at byte {position}")

    def _count(self) -> None:
        self.tokens += 1
        if self.tokens > self.limits.max_tokens:
            raise BencodeError("too many tokens", self.pos)

    def value(self, depth: int) -> Value:
        if self.pos >= len(self.data):
            raise BencodeError("unexpected end of input", self.pos)
        self._count()
        lead = self.data[self.pos]
        if lead == 0x69:  # i
            return self._int()
        if lead in _DIGITS:
            return self._string()
        if depth >= self.limits.max_depth:
            raise BencodeError("nesting too deep", self.pos)
        if lead == 0x6C:  # l
            return self._list(depth)
        if lead == 0x64:  # d
            return self._dict(depth)
        raise BencodeError(f"unexpected byte {bytes([lead])!r}", self.pos)

    def _digits(self, start: int, end: int, what: str) -> int:
        text = self.data[start:end]
        negative = text[:1] == b"-"
        body = text[1:] if negative else text
        if not body or not all(c in _DIGITS for c in body):
            raise BencodeError(f"malformed {what}", start)
        if len(body) > self.limits.max_int_digits:
            raise BencodeError(f"{what} too long", start)
        if (len(body) > 1 and body[0] == 0x30) or (negative and body == b"0"):
            self._noncanonical(f"non-canonical {what}", start)
        return int(text)

    def _int(self) -> int:
        start = self.pos + 1
        end = self.data.find(b"e", start, start + self.limits.max_int_digits + 2)
        if end < 0:
            raise BencodeError("unterminated integer", self.pos)
        number = self._digits(start, end, "integer")
        self.pos = end + 1
        return number

    def _string(self) -> bytes:
        start = self.pos
        colon = self.data.find(b":", start, start + self.limits.max_int_digits + 1)
        if colon < 0:
            raise BencodeError("malformed string length", start)
        length = self._digits(start, colon, "string length")
        end = colon + 1 + length
        if end > len(self.data):
            raise BencodeError("string runs past end of input", start)
        self.pos = end
        return self.data[colon + 1 : end]

    def _list(self, depth: int) -> list[Value]:
        self.pos += 1
        items: list[Value] = []
        while self._peek() != 0x65:  # e
            items.append(self.value(depth + 1))
        self.pos += 1
        return items

    def _dict(self, depth: int, raw: dict[bytes, bytes] | None = None) -> dict[bytes, Value]:
        self.pos += 1
        result: dict[bytes, Value] = {}
        previous: bytes | None = None
        while self._peek() != 0x65:
            key_at = self.pos
            if self.data[key_at] not in _DIGITS:
                raise BencodeError("dictionary key is not a string", key_at)
            self._count()
            key = self._string()
            if key in result:
                raise BencodeError(f"duplicate dictionary key {key[:40]!r}", key_at)
            if previous is not None and key < previous:
                self._noncanonical("dictionary keys not sorted", key_at)
            value_at = self.pos
            result[key] = self.value(depth + 1)
            if raw is not None:
                raw[key] = self.data[value_at : self.pos]
            previous = key
        self.pos += 1
        return result

    def _peek(self) -> int:
        if self.pos >= len(self.data):
            raise BencodeError("unexpected end of input", self.pos)
        return self.data[self.pos]

    def document(self) -> Document:
        raw: dict[bytes, bytes] = {}
        if self.data[:1] == b"d":
            self._count()
            value: Value = self._dict(0, raw)
        else:
            value = self.value(0)
        return Document(value, raw, self.problems)


def _check_input(data: bytes | bytearray | memoryview, limits: Limits) -> bytes:
    if len(data) > limits.max_size:
        raise BencodeError(f"input of {len(data)} bytes exceeds limit of {limits.max_size}")
    if not data:
        raise BencodeError("empty input", 0)
    return bytes(data)


def decode_document(
    data: bytes | bytearray | memoryview,
    *,
    limits: Limits = DEFAULT_LIMITS,
    strict: bool = False,
    allow_trailing: bool = False,
) -> Document:
    """Decode one value, keeping raw top-level spans and a list of tolerated problems.

    Lenient by default (real ``.torrent`` files are not always canonical); with
    ``strict=True`` any non-canonical form raises :class:`BencodeError`. Duplicate
    keys always raise: their meaning is ambiguous.
    """
    buffer = _check_input(data, limits)
    decoder = _Decoder(buffer, limits, strict)
    document = decoder.document()
    if decoder.pos != len(buffer) and not allow_trailing:
        raise BencodeError("trailing data after value", decoder.pos)
    return document


def decode(
    data: bytes | bytearray | memoryview,
    *,
    limits: Limits = DEFAULT_LIMITS,
    strict: bool = True,
) -> Value:
    """Decode exactly one bencoded value; strict (canonical only) by default."""
    return decode_document(data, limits=limits, strict=strict).value


def decode_prefix(
    data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS
) -> tuple[Value, int]:
    """Decode the value at the start of ``data``; return it and the bytes it used.

    BEP 9 ``data`` messages carry a bencoded dictionary followed by raw bytes.
    """
    buffer = _check_input(data, limits)
    decoder = _Decoder(buffer, limits, strict=True)
    value = decoder.value(0)
    return value, decoder.pos


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically (dictionary keys sorted)."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _encode(value: Value, out: list[bytes], depth: int) -> None:
    if depth > DEFAULT_LIMITS.max_depth:
        raise BencodeError("value nested too deeply to encode")
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out.append(b"%d:" % len(data))
        out.append(data)
    elif isinstance(value, bool):
        raise BencodeError("cannot bencode a bool; use 0 or 1")
    elif isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, Mapping):
        out.append(b"d")
        for key in sorted(value):
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key {key!r} is not bytes")
            _encode(key, out, depth + 1)
            _encode(value[key], out, depth + 1)
        out.append(b"e")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode {type(value).__name__}")
