"""Round trips and fuzzing of the bencode decoder: only BencodeError, never a hang."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.transfer import BencodeError, decode, decode_document, encode

values = st.recursive(
    st.binary(max_size=64) | st.integers(min_value=-(2**63), max_value=2**64),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.binary(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)


@given(values)
def test_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_bencode_error(data: bytes) -> None:
    with contextlib.suppress(BencodeError):
        decode_document(data)


@given(values, st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=4))
def test_mutated_encodings_only_raise_bencode_error(value: object, at: int, junk: bytes) -> None:
    data = bytearray(encode(value))
    position = at % (len(data) + 1)
    data[position:position] = junk
    with contextlib.suppress(BencodeError):
        decode(bytes(data))
