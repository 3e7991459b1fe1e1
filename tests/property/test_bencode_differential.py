"""The fast bencoder against the original one it replaced (tests/support/bencode_reference.py).

Same values, raw spans, problems, error messages and error positions, on encodings of
random values, the same encodings with a few bytes overwritten by bencode's own
characters (so the decoder gets deep into the input before it fails), arbitrary bytes,
random (tiny) limits, strict and lenient, with and without trailing data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from swarmseek.transfer import (
    DEFAULT_LIMITS,
    MESSAGE_LIMITS,
    BencodeError,
    Document,
    Limits,
    bencode,
    decode,
    decode_document,
    decode_prefix,
    encode,
)
from tests.support import bencode_reference as reference

Outcome = tuple[object, ...]

values = st.recursive(
    st.binary(max_size=12) | st.integers(-(10**25), 10**25),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.binary(max_size=4), children, max_size=4)
    ),
    max_leaves=25,
)
# Small enough that every limit is hit often by the values above.
limits = st.builds(
    Limits,
    max_size=st.integers(1, 400),
    max_depth=st.integers(0, 5),
    max_tokens=st.integers(0, 40),
    max_int_digits=st.integers(-1, 22),
)
edits = st.lists(st.tuples(st.integers(0, 500), st.sampled_from(b"0123456789:-ielde")), max_size=3)


def outcome(function: Callable[..., Any], *args: object, **kwargs: object) -> Outcome:
    """What a call did, comparable with ``==``: its result, or its error and position."""
    try:
        result = function(*args, **kwargs)
    except BencodeError as exc:
        return ("error", str(exc), exc.position)
    except TypeError as exc:  # sorted() over keys of mixed types: must match too
        return ("type error", str(exc))
    if isinstance(result, Document):
        return ("document", result.value, result.raw, result.problems)
    return ("ok", result)


def overwrite(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    buffer = bytearray(data)
    for at, byte in changes:
        buffer[at % len(buffer)] = byte
    return bytes(buffer)


def assert_decoders_agree(data: bytes, limit: Limits, strict: bool, trailing: bool) -> None:
    for lim in (limit, DEFAULT_LIMITS):
        options = {"limits": lim, "strict": strict}
        assert outcome(decode, data, **options) == outcome(reference.decode, data, **options)
        options["allow_trailing"] = trailing
        assert outcome(decode_document, data, **options) == outcome(
            reference.decode_document, data, **options
        )
        assert outcome(decode_prefix, data, limits=lim) == outcome(
            reference.decode_prefix, data, limits=lim
        )


@settings(max_examples=600)
@given(values, edits, limits, st.booleans(), st.booleans(), st.binary(max_size=3))
@example({b"a": 1}, [], Limits(max_tokens=1), False, False, b"")  # the top dict counts
def test_decoders_agree_on_encodings(
    value: object,
    changes: list[tuple[int, int]],
    limit: Limits,
    strict: bool,
    trailing: bool,
    suffix: bytes,
) -> None:
    data = encode(value)
    assert data == reference.encode(value)
    assert_decoders_agree(overwrite(data, changes) + suffix, limit, strict, trailing)


@settings(max_examples=300)
@given(st.binary(max_size=60), limits, st.booleans(), st.booleans())
@example(b"d1:ai1ee", Limits(max_tokens=0), False, False)
@example(b"d1:ai1ee", Limits(max_depth=0), False, False)
@example(b"i-0e", DEFAULT_LIMITS, False, False)
@example(b"d1:b0:1:a0:e", DEFAULT_LIMITS, False, False)
@example(b"i" + b"9" * 21 + b"e", DEFAULT_LIMITS, False, False)
def test_decoders_agree_on_arbitrary_bytes(
    data: bytes, limit: Limits, strict: bool, trailing: bool
) -> None:
    assert_decoders_agree(data, limit, strict, trailing)


def as_view(data: bytes) -> memoryview:
    return memoryview(data)


odd_values: st.SearchStrategy[object] = st.recursive(
    st.binary(max_size=5)
    | st.integers()
    | st.booleans()
    | st.text(max_size=3)
    | st.none()
    | st.binary(max_size=3).map(bytearray)
    | st.binary(max_size=3).map(as_view),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children)
        | st.dictionaries(st.binary(max_size=3) | st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300)
@given(odd_values)
def test_encoders_agree_on_any_value(value: object) -> None:
    assert outcome(encode, value) == outcome(reference.encode, value)


def nested(depth: int, make: Callable[[object], object]) -> object:
    value: object = b"x"
    for _ in range(depth):
        value = make(value)
    return value


def test_encoders_agree_around_the_depth_limit() -> None:
    for depth in range(95, 106):
        for make in (lambda v: [v], lambda v: {b"a": v}, lambda v: (v,), lambda v: {b"a": [v]}):
            value = nested(depth, make)
            assert outcome(encode, value) == outcome(reference.encode, value), depth


def test_the_compiled_decoder_serves_canonical_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path must really run (a silent fallback would only cost speed, so only
    # this test notices), and only where no limit could fire.
    calls: list[bytes] = []
    compiled = bencode._bdecode
    assert compiled is not None, "bencode2 (compiled) is a dependency"

    def counting(data: bytes) -> Any:
        calls.append(data)
        return compiled(data)

    monkeypatch.setattr(bencode, "_bdecode", counting)
    message = reference.encode({b"t": b"aa", b"y": b"r", b"r": {b"id": b"\x01" * 20}})
    assert bencode.decode(message, limits=MESSAGE_LIMITS) == reference.decode(message)
    assert calls == [message]
    deep = b"l" * 40 + b"e" * 40  # past MESSAGE_LIMITS' depth: ours must refuse it
    with pytest.raises(BencodeError):
        bencode.decode(deep, limits=MESSAGE_LIMITS)
    assert calls == [message]
