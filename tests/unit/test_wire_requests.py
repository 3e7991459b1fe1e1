"""Batched requests (``send_requests``) and the outstanding-requests view."""

from __future__ import annotations

import struct

import pytest

from swarmseek.transfer import (
    BlockReceived,
    Cancel,
    LocalProtocolError,
    PeerConnection,
    Request,
)

ID_A, ID_B, INFO_HASH = b"A" * 20, b"B" * 20, b"I" * 20
PIECE = 4 * 16384


def frame(message_id: int, body: bytes = b"") -> bytes:
    return struct.pack(">IB", len(body) + 1, message_id) + body


def unchoked(**kwargs: int) -> PeerConnection:
    conn = PeerConnection(
        ID_A, INFO_HASH, num_pieces=4, piece_length=PIECE, total_length=4 * PIECE - 100
    )
    conn.data_to_send()
    reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x05])
    conn.receive_data(bytes([19]) + b"BitTorrent protocol" + reserved + INFO_HASH + ID_B)
    conn.receive_data(frame(1))  # unchoke
    conn.events()
    return conn


def test_send_requests_writes_what_send_request_writes() -> None:
    blocks = [(0, 0, 16384), (0, 16384, 16384), (3, 3 * 16384, 16384 - 100)]
    one, many = unchoked(), unchoked()
    expected = b"".join(one.send(Request(*b)) for b in blocks)
    assert many.send_requests(blocks) == expected
    assert list(many.our_requests) == [Request(*b) for b in blocks] == list(one.our_requests)
    assert Request(0, 0, 16384) in many.our_requests and (0, 16384, 16384) in many.our_requests
    assert len(many.our_requests) == 3


@pytest.mark.parametrize(
    "block",
    [
        (4, 0, 16384),  # no such piece
        (0, 0, 16385),  # over 16 KiB
        (0, 0, 0),
        (0, -16384, 16384),
        (3, 3 * 16384, 16384),  # past the short last piece
    ],
)
def test_send_requests_refuses_what_send_refuses(block: tuple[int, int, int]) -> None:
    conn = unchoked()
    with pytest.raises(LocalProtocolError):
        conn.send(Request(*block))
    with pytest.raises(LocalProtocolError):
        conn.send_requests([block])


def test_send_requests_refuses_duplicates_and_while_choked() -> None:
    conn = unchoked()
    conn.send_requests([(1, 0, 16384)])
    with pytest.raises(LocalProtocolError, match="already requested"):
        conn.send_requests([(1, 0, 16384)])
    conn.receive_data(frame(0))  # choke
    conn.events()
    with pytest.raises(LocalProtocolError, match="choked"):
        conn.send_requests([(1, 16384, 16384)])


def test_answered_and_cancelled_requests_leave_the_view() -> None:
    conn = unchoked()
    conn.send_requests([(1, 0, 16384), (1, 16384, 16384)])
    conn.receive_data(frame(7, struct.pack(">II", 1, 0) + bytes(16384)))
    (event,) = conn.events()
    assert isinstance(event, BlockReceived) and event.solicited
    conn.send(Cancel(1, 16384, 16384))
    assert not conn.our_requests
    # A block cancelled but sent anyway is unsolicited, not an error.
    conn.receive_data(frame(7, struct.pack(">II", 1, 16384) + bytes(16384)))
    (late,) = conn.events()
    assert isinstance(late, BlockReceived) and not late.solicited


def test_iterating_the_view_while_cancelling_is_safe() -> None:
    conn = unchoked()
    conn.send_requests([(2, i * 16384, 16384) for i in range(4)])
    for request in conn.our_requests:
        conn.send(Cancel(request.piece, request.offset, request.length))
    assert not conn.our_requests
