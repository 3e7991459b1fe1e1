from __future__ import annotations

import hashlib

import pytest

from swarmseek.transfer import (
    BencodeError,
    Limits,
    decode,
    decode_document,
    decode_prefix,
    encode,
)


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"i0e", 0),
        (b"i-42e", -42),
        (b"4:spam", b"spam"),
        (b"0:", b""),
        (b"le", []),
        (b"li1e3:abce", [1, b"abc"]),
        (b"d3:bar4:spam3:fooi42ee", {b"bar": b"spam", b"foo": 42}),
        (b"d1:ad1:bleee", {b"a": {b"b": []}}),
    ],
)
def test_decode_known_values(data: bytes, value: object) -> None:
    assert decode(data) == value
    assert encode(value) == data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i",
        b"ie",
        b"i-e",
        b"i1x2e",
        b"5:abc",
        b"l",
        b"d",
        b"d1:a",
        b"di1ei2ee",  # integer key
        b"d1:ai1e1:ai2ee",  # duplicate key
        b"x",
        b"i1ei2e",  # trailing data
        b"-1:a",
        b"1a:a",
    ],
)
def test_malformed_input_raises_bencode_error(data: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(data)


@pytest.mark.parametrize("data", [b"i03e", b"i-0e", b"03:abc", b"d1:bi1e1:ai2ee"])
def test_non_canonical_rejected_when_strict_and_reported_when_lenient(data: bytes) -> None:
    with pytest.raises(BencodeError, match=r"non-canonical|not sorted"):
        decode(data)
    document = decode_document(data)
    assert not document.canonical
    assert document.problems


def test_raw_info_bytes_survive_non_canonical_encoding() -> None:
    # Keys out of order inside info: the infohash is over the bytes as sent, not re-encoded.
    info = b"d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:" + b"\0" * 20 + b"e"
    unsorted_info = b"d4:name1:x6:lengthi5e12:piece lengthi16384e6:pieces20:" + b"\0" * 20 + b"e"
    data = b"d8:announce3:foo4:info" + unsorted_info + b"e"
    document = decode_document(data)
    assert document.raw[b"info"] == unsorted_info
    assert hashlib.sha1(document.raw[b"info"]).digest() != hashlib.sha1(info).digest()
    assert encode(document.value[b"info"]) == info


def test_depth_limit() -> None:
    deep = b"l" * 101 + b"e" * 101
    with pytest.raises(BencodeError, match="too deep"):
        decode(deep)
    assert decode(b"l" * 100 + b"e" * 100, limits=Limits(max_depth=101))


def test_very_deep_input_does_not_recurse_past_limit() -> None:
    deep = b"l" * 1_000_000
    with pytest.raises(BencodeError, match="too deep"):
        decode(deep)


def test_size_and_token_limits() -> None:
    with pytest.raises(BencodeError, match="exceeds limit"):
        decode(b"4:spam", limits=Limits(max_size=5))
    many = b"l" + b"i1e" * 100 + b"e"
    with pytest.raises(BencodeError, match="too many tokens"):
        decode(many, limits=Limits(max_tokens=50))


def test_absurd_string_length_fails_without_allocating() -> None:
    with pytest.raises(BencodeError, match="past end"):
        decode(b"99999999999:x")
    with pytest.raises(BencodeError, match="string length"):
        decode(b"999999999999999999999999:x")


def test_huge_integer_rejected() -> None:
    with pytest.raises(BencodeError):
        decode(b"i" + b"9" * 1000 + b"e")


def test_decode_prefix_returns_consumed_length() -> None:
    value, used = decode_prefix(b"d8:msg_typei1e5:piecei0eeRAWDATA")
    assert value == {b"msg_type": 1, b"piece": 0}
    assert used == len(b"d8:msg_typei1e5:piecei0ee")


@pytest.mark.parametrize("value", [True, "text", 1.5, None, {"k": 1}])
def test_encode_rejects_non_bencode_types(value: object) -> None:
    with pytest.raises(BencodeError):
        encode(value)
