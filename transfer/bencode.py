"""Bencode (BEP 3) with limits, strictness reporting and raw spans.

Written here rather than taken from PyPI: the maintained packages (bencode.py,
fastbencode, better-bencode) neither enforce depth/token/size limits on hostile
input nor expose the exact bytes of a sub-dictionary, which the infohash of a
non-canonically encoded real torrent needs (it is SHA-1 of the bytes *as sent*).

Strings decode to ``bytes``, integers to ``int``, lists to ``list`` and
dictionaries to ``dict[bytes, ...]``. Encoding accepts the same (plus tuples),
and emits dictionary keys sorted, so ``encode`` output is always canonical.

Every KRPC datagram and every index item passes through here, so the hot paths are
written for CPython's speed rather than for elegance: the decoder is a set of closures
over local variables (a local or closure read is much cheaper than ``self.attr``), it
passes positions as arguments and return values instead of keeping them on an object,
and the encoder tests the exact built-in types before the slower ABC ``isinstance``
checks. ``tests/support/bencode_reference.py`` keeps the plain class-based version
this replaced; ``tests/property/test_bencode_differential.py`` checks that both agree
on values, raw spans, problems, errors and error positions, and
``tests/benchmarks/bench_bencode.py`` measures the gain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .errors import BencodeError

Value: TypeAlias = Any  # bytes | int | list[Value] | dict[bytes, Value]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a decoder enforces on untrusted input.

    Defaults: libtorrent's ``bdecode`` uses ``depth_limit=100`` and a token limit of
    2,000,000; a real ``.torrent`` rarely nests past depth 6, and 10 MiB holds the
    info dictionary of a 40 TB torrent at 16 MiB pieces, so both are generous.
    """

    max_size: int = 10 * 1024 * 1024
    max_depth: int = 100
    max_tokens: int = 2_000_000
    # Integers wider than this are hostile: no field in any BEP needs more than 64 bits.
    max_int_digits: int = 20


DEFAULT_LIMITS = Limits()
# KRPC datagrams and BEP 10 messages are small; a tighter bound fails fast.
MESSAGE_LIMITS = Limits(max_size=64 * 1024, max_depth=32, max_tokens=10_000)


@dataclass(slots=True)
class Document:
    """A decoded top-level value with what a lenient decode noticed.

    ``raw`` maps each key of a top-level dictionary to the exact bytes of its value
    as they appeared in the input (``raw[b"info"]`` is what an infohash hashes).
    ``problems`` lists deviations from canonical form that were tolerated.
    """

    value: Value
    raw: dict[bytes, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def canonical(self) -> bool:
        return not self.problems


_Decoded: TypeAlias = tuple[Value, int]  # a value and the position just past it
_Raw: TypeAlias = dict[bytes, bytes] | None


def _noncanonical(strict: bool, problems: list[str], message: str, position: int) -> None:
    if strict:
        raise BencodeError(message, position)
    if len(problems) < 16:  # a report, not a second copy of the input
        problems.append(f"{message} at byte {position}")


def _decoder(  # noqa: PLR0915 - closures over locals are the speed-up (module docstring)
    data: bytes, limits: Limits, strict: bool, problems: list[str], tokens: int
) -> tuple[Callable[[int, int], _Decoded], Callable[[int, int, _Raw], _Decoded]]:
    """Build the decoding closures for one input; return ``(value, dictionary)``.

    ``value(pos, depth)`` decodes the value starting at ``pos``. ``dictionary(pos,
    depth, raw)`` decodes the dictionary whose ``d`` is at ``pos``, without counting
    that token or checking the depth, and records each value's bytes in ``raw`` unless
    it is None. Both return the value and the position just past it. ``tokens`` is how
    many tokens the caller already counted.
    """
    n = len(data)
    find = data.find
    max_depth = limits.max_depth
    max_tokens = limits.max_tokens
    max_digits = limits.max_int_digits

    def string(pos: int) -> tuple[bytes, int]:
        # The length is all digits (the caller saw the first one), so it has no sign.
        if pos + 1 < n and data[pos + 1] == 0x3A and max_digits > 0:  # 1 digit
            end = pos + 2 + data[pos] - 0x30
            if end > n:
                raise BencodeError("string runs past end of input", pos)
            return data[pos + 2 : end], end
        colon = find(b":", pos, pos + max_digits + 1)
        if colon < 0:
            raise BencodeError("malformed string length", pos)
        digits = data[pos:colon]
        if not digits.isdigit():  # bytes.isdigit(): ASCII 0-9 only, False when empty
            raise BencodeError("malformed string length", pos)
        if digits[0] == 0x30 and len(digits) > 1:
            _noncanonical(strict, problems, "non-canonical string length", pos)
        end = colon + 1 + int(digits)
        if end > n:
            raise BencodeError("string runs past end of input", pos)
        return data[colon + 1 : end], end

    def integer(pos: int) -> _Decoded:
        start = pos + 1
        end = find(b"e", start, start + max_digits + 2)
        if end < 0:
            raise BencodeError("unterminated integer", pos)
        text = data[start:end]
        negative = text[:1] == b"-"
        body = text[1:] if negative else text
        if not body.isdigit():
            raise BencodeError("malformed integer", start)
        if len(body) > max_digits:
            raise BencodeError("integer too long", start)
        if (body[0] == 0x30 and len(body) > 1) or (negative and body == b"0"):
            _noncanonical(strict, problems, "non-canonical integer", start)
        return int(text), end + 1

    def value(pos: int, depth: int) -> _Decoded:
        nonlocal tokens
        if pos >= n:
            raise BencodeError("unexpected end of input", pos)
        tokens += 1  # count() inlined: this is the hottest line
        if tokens > max_tokens:
            raise BencodeError("too many tokens", pos)
        lead = data[pos]
        if 0x30 <= lead <= 0x39:
            return string(pos)
        if lead == 0x69:  # i
            return integer(pos)
        if depth >= max_depth:
            raise BencodeError("nesting too deep", pos)
        if lead == 0x6C:  # l
            pos += 1
            items: list[Value] = []
            while True:
                if pos >= n:
                    raise BencodeError("unexpected end of input", pos)
                if data[pos] == 0x65:  # e
                    return items, pos + 1
                item, pos = value(pos, depth + 1)
                items.append(item)
        if lead == 0x64:  # d
            return dictionary(pos, depth, None)
        raise BencodeError(f"unexpected byte {bytes([lead])!r}", pos)

    def dictionary(pos: int, depth: int, raw: _Raw) -> _Decoded:
        nonlocal tokens
        pos += 1
        result: dict[bytes, Value] = {}
        previous: bytes | None = None
        while True:
            if pos >= n:
                raise BencodeError("unexpected end of input", pos)
            lead = data[pos]
            if lead == 0x65:  # e
                return result, pos + 1
            if not 0x30 <= lead <= 0x39:
                raise BencodeError("dictionary key is not a string", pos)
            tokens += 1
            if tokens > max_tokens:
                raise BencodeError("too many tokens", pos)
            key_at = pos
            key, pos = string(pos)
            if key in result:
                raise BencodeError(f"duplicate dictionary key {key[:40]!r}", key_at)
            if previous is not None and key < previous:
                _noncanonical(strict, problems, "dictionary keys not sorted", key_at)
            value_at = pos
            result[key], pos = value(pos, depth + 1)
            if raw is not None:
                raw[key] = data[value_at:pos]
            previous = key

    return value, dictionary


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
    return _document(data, limits, strict, allow_trailing)


def _document(
    data: bytes | bytearray | memoryview, limits: Limits, strict: bool, allow_trailing: bool
) -> Document:
    buffer = _check_input(data, limits)
    problems: list[str] = []
    raw: dict[bytes, bytes] = {}
    if buffer[0] == 0x64:  # d: a top-level dictionary keeps its raw spans
        # Counted here, and (as before the rewrite) exempt from the depth limit.
        if limits.max_tokens < 1:
            raise BencodeError("too many tokens", 0)
        _, dictionary = _decoder(buffer, limits, strict, problems, 1)
        result, end = dictionary(0, 0, raw)
    else:
        value, _ = _decoder(buffer, limits, strict, problems, 0)
        result, end = value(0, 0)
    if end != len(buffer) and not allow_trailing:
        raise BencodeError("trailing data after value", end)
    return Document(result, raw, problems)


def decode(
    data: bytes | bytearray | memoryview,
    *,
    limits: Limits = DEFAULT_LIMITS,
    strict: bool = True,
) -> Value:
    """Decode exactly one bencoded value; strict (canonical only) by default."""
    buffer = _check_input(data, limits)
    if _bdecode is not None and _within_limits(buffer, limits):
        try:
            return _bdecode(buffer)
        except (ValueError, TypeError, RecursionError):
            pass  # not canonical, or not bencode: ours gives the exact answer or error
    return _document(buffer, limits, strict, False).value


# bencode2 (MIT, compiled C++) decodes a KRPC message about forty times faster than
# the Python above, but knows no limits, no raw spans and no lenient mode, and its errors
# carry other messages. So it serves only ``decode``, and only where its answer provably
# equals ours: it accepts canonical input alone (anything else falls through to our
# decoder, which then decides), and the checks below make every limit unreachable for
# the input at hand. The differential property test holds it to that. (fastbencode was
# the other candidate: GPL, so not a dependency of this MIT project.)
_bdecode: Callable[[bytes], Any] | None
try:
    import bencode2

    _bdecode = bencode2.bdecode if bencode2.COMPILED else None  # its Python one is slower
except ImportError:  # pragma: no cover - a dependency; the Python decoder still works
    _bdecode = None

_long_ints: dict[int, re.Pattern[bytes]] = {}


def _within_limits(buffer: bytes, limits: Limits) -> bool:
    """Can no limit of ``limits`` fire on ``buffer``, whatever it holds?"""
    size = len(buffer)
    if size > limits.max_tokens or limits.max_int_digits < len(str(size)):
        return False  # a token is at least a byte; a string length fits the digit limit
    if buffer.count(b"l") + buffer.count(b"d") > limits.max_depth:
        return False  # every list or dictionary starts with one of these bytes
    pattern = _long_ints.get(limits.max_int_digits)
    if pattern is None:
        pattern = re.compile(rb"i-?[0-9]{%d}" % (limits.max_int_digits + 1))
        _long_ints[limits.max_int_digits] = pattern
    return pattern.search(buffer) is None


def decode_prefix(
    data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS
) -> tuple[Value, int]:
    """Decode the value at the start of ``data``; return it and the bytes it used.

    BEP 9 ``data`` messages carry a bencoded dictionary followed by raw bytes.
    """
    buffer = _check_input(data, limits)
    value, _ = _decoder(buffer, limits, True, [], 0)
    return value(0, 0)


_MAX_ENCODE_DEPTH = DEFAULT_LIMITS.max_depth


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically (dictionary keys sorted)."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _encode(value: Value, out: list[bytes], depth: int) -> None:
    # Exact types first: ``type(x) is dict`` is several times cheaper than
    # ``isinstance(x, Mapping)``, and it also keeps ``bool`` (an int subclass) out.
    if depth > _MAX_ENCODE_DEPTH:
        raise BencodeError("value nested too deeply to encode")
    kind = type(value)
    if kind is bytes:
        out.append(b"%d:" % len(value))
        out.append(value)
    elif kind is dict:
        out.append(b"d")
        for key in sorted(value):
            if type(key) is not bytes:
                _encode_key(key, out, depth + 1)
            elif depth + 1 > _MAX_ENCODE_DEPTH:  # a key is encoded one level down
                raise BencodeError("value nested too deeply to encode")
            else:
                out.append(b"%d:" % len(key))
                out.append(key)
            _encode(value[key], out, depth + 1)
        out.append(b"e")
    elif kind is int:
        out.append(b"i%de" % value)
    elif kind is list:
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        _encode_other(value, out, depth)


def _encode_key(key: object, out: list[bytes], depth: int) -> None:
    if not isinstance(key, bytes):
        raise BencodeError(f"dictionary key {key!r} is not bytes")
    _encode(key, out, depth)


def _encode_other(value: Value, out: list[bytes], depth: int) -> None:
    # Everything the exact checks in _encode did not take, in the original order.
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
            _encode_key(key, out, depth + 1)
            _encode(value[key], out, depth + 1)
        out.append(b"e")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode {type(value).__name__}")
