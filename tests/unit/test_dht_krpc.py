"""KRPC codec: bytes in, typed messages out (BEP 5, 43, 44)."""

from __future__ import annotations

import pytest

from swarmseek.discovery import krpc
from swarmseek.discovery.errors import KrpcError
from swarmseek.discovery.krpc import ErrorReply, Query, Response
from swarmseek.transfer import encode

ID = b"A" * 20


def test_query_round_trip() -> None:
    q = Query(b"aa", b"find_node", ID, {b"target": b"B" * 20}, read_only=True)
    assert krpc.decode_message(krpc.encode_query(q, version=b"SS01")) == q


def test_response_round_trip() -> None:
    nodes = krpc.compact_nodes([(b"C" * 20, ("1.2.3.4", 6881))])
    r = Response(b"t", ID, {b"nodes": nodes, b"token": b"tok"})
    assert krpc.decode_message(krpc.encode_response(r)) == r
    assert krpc.parse_nodes(nodes) == [(b"C" * 20, ("1.2.3.4", 6881))]


def test_error_round_trip() -> None:
    e = ErrorReply(b"t", 201, b"A Generic Error Ocurred")
    assert krpc.decode_message(krpc.encode_error(e)) == e


def test_bep5_example_ping() -> None:
    # BEP 5's example: ping Query = {"t":"aa", "y":"q", "q":"ping", "a":{"id":...}}
    data = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
    assert krpc.decode_message(data) == Query(b"aa", b"ping", b"abcdefghij0123456789")


def test_unknown_method_keeps_tid_for_a_204() -> None:
    data = encode({b"t": b"xy", b"y": b"q", b"q": b"vote", b"a": {b"id": ID}})
    with pytest.raises(krpc.UnknownMethod) as info:
        krpc.decode_message(data)
    assert info.value.tid == b"xy"


@pytest.mark.parametrize(
    "args",
    [
        {b"id": ID},  # target missing
        {b"id": ID, b"target": b"short"},
        {b"id": b"short", b"target": ID},
        {b"id": ID, b"target": 5},
    ],
)
def test_bad_find_node_arguments(args: dict[bytes, object]) -> None:
    data = encode({b"t": b"xy", b"y": b"q", b"q": b"find_node", b"a": args})
    with pytest.raises(krpc.BadQuery):
        krpc.decode_message(data)


def test_announce_port_range_checked() -> None:
    args = {b"id": ID, b"info_hash": ID, b"port": 70000, b"token": b"t"}
    with pytest.raises(krpc.BadQuery):
        krpc.decode_message(encode({b"t": b"1", b"y": b"q", b"q": b"announce_peer", b"a": args}))


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"le",
        b"d1:t1:a1:y1:ze",
        encode({b"t": b"x" * 100, b"y": b"r", b"r": {b"id": ID}}),  # tid too long
        encode({b"t": b"x", b"y": b"r", b"r": {b"id": ID, b"nodes": b"x" * 27}}),
        encode({b"t": b"x", b"y": b"e", b"e": [201]}),
        encode({b"t": b"x", b"y": b"r", b"r": {b"id": ID, b"values": b"notalist"}}),
        b"d" * 10_000,  # over the size limit
        b"l" * 100 + b"e" * 100,  # over the depth limit
    ],
)
def test_malformed_messages_raise_krpc_error(message: bytes) -> None:
    with pytest.raises(KrpcError):
        krpc.decode_message(message)


def test_parse_peers_skips_junk() -> None:
    good = krpc.compact_address(("10.0.0.1", 80))
    assert krpc.parse_peers([good, b"bad", 5, krpc.compact_address(("1.1.1.1", 0))]) == [
        ("10.0.0.1", 80)
    ]


def test_read_only_flag_bep43() -> None:
    data = encode({b"t": b"x", b"y": b"q", b"q": b"ping", b"a": {b"id": ID}, b"ro": 1})
    message = krpc.decode_message(data)
    assert isinstance(message, Query) and message.read_only
