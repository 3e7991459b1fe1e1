"""Bitfield: BEP 3 byte layout (piece 0 is the high bit of byte 0)."""

from __future__ import annotations

import pytest

from swarmseek.transfer import Bitfield, RemoteProtocolError


def test_layout_and_set_operations() -> None:
    bits = Bitfield(10, [0, 9])
    assert bits.to_bytes() == b"\x80\x40"
    assert list(bits) == [0, 9] and len(bits) == 2 and 9 in bits and 10 not in bits
    assert bits.add(3) and not bits.add(3)
    assert bits.discard(0) and not bits.discard(0)
    assert list(bits) == [3, 9]
    copy = bits.copy()
    copy.add(1)
    assert 1 not in bits and copy != bits


def test_full_and_complete() -> None:
    assert Bitfield.full(9).complete and Bitfield.full(9).to_bytes() == b"\xff\x80"
    assert not Bitfield(9).complete and Bitfield(0).complete


def test_out_of_range_is_a_local_error() -> None:
    with pytest.raises(ValueError):
        Bitfield(4).add(4)
    assert "x" not in Bitfield(4)


@pytest.mark.parametrize(("data", "size"), [(b"\xff", 9), (b"\xff\xff", 7), (b"\x01", 7)])
def test_from_bytes_rejects_bad_payloads(data: bytes, size: int) -> None:
    with pytest.raises(RemoteProtocolError):
        Bitfield.from_bytes(data, size)
