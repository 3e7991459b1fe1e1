"""BEP 9 ut_metadata codec and MetadataAssembler; BEP 10 handshake codec; BEP 6 vectors."""

from __future__ import annotations

import hashlib

import pytest

from swarmseek.transfer import (
    METADATA_PIECE_SIZE,
    ExtensionHandshake,
    MetadataAssembler,
    MetadataData,
    MetadataHashMismatch,
    MetadataReject,
    MetadataRequest,
    RemoteProtocolError,
    allowed_fast_set,
    encode,
    metadata_piece_count,
    metadata_pieces,
)
from swarmseek.transfer.extension import decode_extension_handshake, encode_extension_handshake
from swarmseek.transfer.metadata import decode_metadata_message, encode_metadata_message

INFO = encode({b"name": b"x", b"piece length": 16384, b"pieces": b"\xaa" * 20 * 2000})
INFO_HASH = hashlib.sha1(INFO).digest()


def test_bep6_allowed_fast_vectors() -> None:
    # BEP 6, "Allowed Fast": 1313 pieces, infohash 0xaa * 20, peer 80.4.4.200.
    ip, info_hash = bytes([80, 4, 4, 200]), b"\xaa" * 20
    assert allowed_fast_set(info_hash, ip, 1313, 7) == [1059, 431, 808, 1217, 287, 376, 1188]
    assert allowed_fast_set(info_hash, ip, 1313, 9) == [
        1059, 431, 808, 1217, 287, 376, 1188, 353, 508,
    ]  # fmt: skip


def test_allowed_fast_small_torrent_and_ipv6() -> None:
    assert sorted(allowed_fast_set(b"\1" * 20, bytes(4), 3, 10)) == [0, 1, 2]
    with pytest.raises(ValueError):
        allowed_fast_set(b"\1" * 20, bytes(16), 10, 2)


def test_metadata_pieces_split_and_count() -> None:
    pieces = metadata_pieces(INFO)
    assert len(pieces) == metadata_piece_count(len(INFO)) == 3
    assert all(len(p) == METADATA_PIECE_SIZE for p in pieces[:-1])
    assert b"".join(pieces) == INFO


def test_assembler_collects_and_verifies() -> None:
    assembler = MetadataAssembler(INFO_HASH)
    assembler.set_size(len(INFO))
    pieces = metadata_pieces(INFO)
    picked = [assembler.pick("p1"), assembler.pick("p2"), assembler.pick("p1")]
    assert picked == [0, 1, 2]
    assert assembler.add_piece("p1", MetadataData(2, len(INFO), pieces[2])) is None
    assert assembler.add_piece("p2", MetadataData(1, len(INFO), pieces[1])) is None
    assert assembler.missing() == [0]
    assert assembler.add_piece("p1", MetadataData(0, len(INFO), pieces[0])) == INFO
    assert assembler.done and assembler.pick("p3") is None


def test_assembler_hash_mismatch_names_senders_and_restarts() -> None:
    assembler = MetadataAssembler(INFO_HASH)
    pieces = metadata_pieces(INFO)
    bad = b"\0" + pieces[1][1:]
    assembler.add_piece("good", MetadataData(0, len(INFO), pieces[0]))
    assembler.add_piece("evil", MetadataData(1, len(INFO), bad))
    with pytest.raises(MetadataHashMismatch) as info:
        assembler.add_piece("good", MetadataData(2, len(INFO), pieces[2]))
    assert info.value.peers == {"good", "evil"}
    assert assembler.missing() == [0, 1, 2] and not assembler.done


@pytest.mark.parametrize(
    ("piece", "data"),
    [(0, b"short"), (2, b"x" * 16384), (3, b"x")],
    ids=["short middle", "long last", "out of range"],
)
def test_assembler_rejects_wrong_piece_sizes(piece: int, data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        MetadataAssembler(INFO_HASH).add_piece("p", MetadataData(piece, len(INFO), data))


def test_assembler_size_limits_and_conflicts() -> None:
    assembler = MetadataAssembler(INFO_HASH, max_size=1000)
    with pytest.raises(RemoteProtocolError):
        assembler.set_size(1001)
    with pytest.raises(RemoteProtocolError):
        assembler.set_size(0)
    assembler.set_size(500)
    with pytest.raises(RemoteProtocolError, match="disagrees"):
        assembler.set_size(501)


def test_assembler_release_lets_others_pick() -> None:
    assembler = MetadataAssembler(INFO_HASH)
    assembler.set_size(100)
    assert assembler.pick("a") == 0
    assert assembler.pick("a") is None
    assert assembler.pick("b") == 0  # duplicate request to another peer is allowed
    assembler.release("a")
    assert assembler.pick("a") == 0


@pytest.mark.parametrize(
    ("message", "payload"),
    [
        (MetadataRequest(0), b"d8:msg_typei0e5:piecei0ee"),
        (MetadataReject(3), b"d8:msg_typei2e5:piecei3ee"),
        (MetadataData(1, 20000, b"abc"), b"d8:msg_typei1e5:piecei1e10:total_sizei20000eeabc"),
    ],
)
def test_metadata_codec_known_bytes(message: object, payload: bytes) -> None:
    assert encode_metadata_message(message) == payload  # type: ignore[arg-type]
    assert decode_metadata_message(payload) == message


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"i1e",
        b"d5:piecei0ee",
        b"d8:msg_typei0e5:piecei-1ee",
        b"d8:msg_typei9e5:piecei0ee",
        b"d8:msg_typei0e5:piecei0eetrailing",
        b"d8:msg_typei1e5:piecei0e10:total_sizei0eex",
        b"d8:msg_typei1e5:piecei0e10:total_sizei999999999eex",
        b"d8:msg_typei1e5:piecei0e10:total_sizei5ee" + b"x" * 16385,
        b"d8:msg_typei0e5:piecei99999999ee",
    ],
)
def test_metadata_codec_rejects(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_metadata_message(payload)


def test_extension_handshake_fields_round_trip() -> None:
    hs = ExtensionHandshake(
        m={b"ut_metadata": 1}, v="x", p=6881, reqq=500, metadata_size=123, yourip=bytes(4)
    )
    assert decode_extension_handshake(encode_extension_handshake(hs)) == hs


def test_extension_handshake_tolerates_odd_optional_fields() -> None:
    hs = decode_extension_handshake(b"d1:md1:ai1ee1:pi99999e1:v3:abc6:yourip1:xe")
    assert hs.m == {b"a": 1} and hs.p is None and hs.yourip is None and hs.v == "abc"
