"""Peer wire protocol: bytes in, events out (h11's ``receive_and_get`` style)."""

from __future__ import annotations

import struct

import pytest

from swarmseek.transfer import (
    AllowedFast,
    AllowedFastReceived,
    Bitfield,
    BitfieldMessage,
    BitfieldReceived,
    BlockReceived,
    Cancel,
    CancelReceived,
    Choke,
    ExtensionHandshake,
    ExtensionHandshakeReceived,
    ExtensionMessage,
    ExtensionMessageReceived,
    HandshakeReceived,
    Have,
    HaveAll,
    HaveAllReceived,
    HaveNone,
    HaveNoneReceived,
    HaveReceived,
    Interested,
    KeepAlive,
    KeepAliveReceived,
    LocalProtocolError,
    MetadataData,
    MetadataDataReceived,
    MetadataReject,
    MetadataRejectReceived,
    MetadataRequest,
    MetadataRequestReceived,
    NotInterested,
    PeerChoked,
    PeerConnection,
    PeerInterested,
    PeerNotInterested,
    PeerUnchoked,
    Phase,
    Piece,
    Port,
    PortReceived,
    Reject,
    RejectReceived,
    RemoteProtocolError,
    Request,
    RequestReceived,
    Suggest,
    SuggestReceived,
    Unchoke,
    UnknownMessageReceived,
)
from swarmseek.transfer.wire_messages import MAX_MESSAGE_LENGTH, PROTOCOL

INFO_HASH = bytes(range(20))
ID_A = b"-SS0001-aaaaaaaaaaaa"
ID_B = b"-SS0001-bbbbbbbbbbbb"
N = 20  # pieces


def frame(message_id: int, body: bytes = b"") -> bytes:
    return struct.pack(">IB", len(body) + 1, message_id) + body


def handshake(info_hash: bytes = INFO_HASH, peer_id: bytes = ID_B, reserved: bytes = b"") -> bytes:
    reserved = reserved or bytes([0, 0, 0, 0, 0, 0x10, 0, 0x05])
    return bytes([19]) + PROTOCOL + reserved + info_hash + peer_id


def receive_and_get(conn: PeerConnection, data: bytes) -> list[object]:
    conn.receive_data(data)
    return list(conn.events())


def opened(*, fast: bool = True, extensions: bool = True, num_pieces: int | None = N):
    """An outgoing connection whose handshake with a (simulated) peer is done."""
    conn = PeerConnection(ID_A, INFO_HASH, num_pieces=num_pieces, fast=fast, extensions=extensions)
    conn.data_to_send()
    events = receive_and_get(conn, handshake())
    assert isinstance(events[0], HandshakeReceived)
    return conn


def pair(*, fast: bool = True, num_pieces: int | None = N):
    """Two connections wired back to back, handshakes exchanged."""
    a = PeerConnection(ID_A, INFO_HASH, num_pieces=num_pieces, fast=fast)
    b = PeerConnection(ID_B, INFO_HASH, initiator=False, num_pieces=num_pieces, fast=fast)
    assert isinstance(receive_and_get(b, a.data_to_send())[0], HandshakeReceived)
    assert isinstance(receive_and_get(a, b.data_to_send())[0], HandshakeReceived)
    return a, b


# --- handshake ---------------------------------------------------------------


def test_initiator_sends_handshake_with_reserved_bits() -> None:
    conn = PeerConnection(ID_A, INFO_HASH, dht=True)
    data = conn.data_to_send()
    assert len(data) == 68
    assert data[:20] == bytes([19]) + PROTOCOL
    assert data[25] & 0x10 and data[27] & 0x04 and data[27] & 0x01
    assert data[28:48] == INFO_HASH and data[48:] == ID_A


def test_handshake_byte_by_byte() -> None:
    conn = PeerConnection(ID_A, INFO_HASH)
    events: list[object] = []
    for byte in handshake():
        events += receive_and_get(conn, bytes([byte]))
    assert events == [
        HandshakeReceived(INFO_HASH, ID_B, bytes([0, 0, 0, 0, 0, 0x10, 0, 5]), True, True, True)
    ]
    assert conn.phase is Phase.OPEN


def test_negotiation_needs_both_sides() -> None:
    conn = PeerConnection(ID_A, INFO_HASH, fast=False)
    (event,) = receive_and_get(conn, handshake())
    assert isinstance(event, HandshakeReceived)
    assert event.extensions and not event.fast
    assert conn.extensions and not conn.fast


def test_wrong_protocol_string_rejected_at_first_byte() -> None:
    conn = PeerConnection(ID_A, INFO_HASH)
    with pytest.raises(RemoteProtocolError):
        receive_and_get(conn, b"\x13Bad")
    assert conn.phase is Phase.FAILED
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(b"")


def test_http_request_is_not_a_handshake() -> None:
    with pytest.raises(RemoteProtocolError):
        receive_and_get(PeerConnection(ID_A, INFO_HASH), b"GET / HTTP/1.1\r\n")


def test_wrong_info_hash_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="another torrent"):
        receive_and_get(PeerConnection(ID_A, INFO_HASH), handshake(info_hash=b"x" * 20))


def test_connection_to_ourselves_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="ourselves"):
        receive_and_get(PeerConnection(ID_A, INFO_HASH), handshake(peer_id=ID_A))


def test_incoming_with_known_torrent_answers_handshake() -> None:
    conn = PeerConnection(ID_A, INFO_HASH, initiator=False)
    assert conn.data_to_send() == b""
    receive_and_get(conn, handshake())
    assert conn.data_to_send()[28:48] == INFO_HASH


def test_incoming_waits_for_accept_before_parsing_on() -> None:
    conn = PeerConnection(ID_A, None, initiator=False)
    events = receive_and_get(conn, handshake() + frame(4, struct.pack(">I", 3)))
    assert [type(e) for e in events] == [HandshakeReceived]
    assert conn.phase is Phase.AWAITING_ACCEPT and conn.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        conn.accept(b"z" * 20)
    conn.accept(INFO_HASH, num_pieces=N)
    assert conn.data_to_send()[28:48] == INFO_HASH
    assert conn.events() == [HaveReceived(3)]


def test_outgoing_needs_info_hash() -> None:
    with pytest.raises(LocalProtocolError):
        PeerConnection(ID_A, None)


def test_send_before_handshake_is_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        PeerConnection(ID_A, INFO_HASH).send(Interested())


# --- core messages in --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "event"),
    [
        (b"\0\0\0\0", KeepAliveReceived()),
        (frame(1), PeerUnchoked()),
        (frame(2), PeerInterested()),
        (frame(4, struct.pack(">I", 7)), HaveReceived(7)),
        (frame(8, struct.pack(">III", 1, 0, 16384)), None),  # cancel of nothing: silent
        (frame(9, struct.pack(">H", 6881)), PortReceived(6881)),
        (frame(13, struct.pack(">I", 2)), SuggestReceived(2)),
        (frame(17, struct.pack(">I", 2)), AllowedFastReceived(2)),
        (frame(14), HaveAllReceived()),
        (frame(15), HaveNoneReceived()),
        (frame(99, b"xyz"), UnknownMessageReceived(99, 4)),
    ],
)
def test_core_message_events(data: bytes, event: object) -> None:
    assert receive_and_get(opened(), data) == ([] if event is None else [event])


def test_choke_unchoke_interest_transitions() -> None:
    conn = opened()
    assert receive_and_get(conn, frame(1) + frame(0) + frame(0)) == [
        PeerUnchoked(),
        PeerChoked(),
        PeerChoked(),
    ]
    assert conn.peer_choking
    assert receive_and_get(conn, frame(2) + frame(3)) == [PeerInterested(), PeerNotInterested()]
    assert not conn.peer_interested


def test_bitfield_checked_against_piece_count() -> None:
    bits = Bitfield(N, [0, 5, 19])
    (event,) = receive_and_get(opened(), frame(5, bits.to_bytes()))
    assert isinstance(event, BitfieldReceived) and event.bitfield == bits


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff",  # too short for 20 pieces
        b"\xff\xff\xff\x00",  # too long
        b"\xff\xff\xf1",  # spare bits set
    ],
)
def test_bad_bitfield_rejected(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        receive_and_get(opened(), frame(5, payload))


def test_bitfield_without_piece_count_sized_by_bytes() -> None:
    (event,) = receive_and_get(opened(num_pieces=None), frame(5, b"\x80\x01"))
    assert isinstance(event, BitfieldReceived)
    assert event.bitfield.size == 16 and list(event.bitfield) == [0, 15]


def test_late_bitfield_after_have_accepted_as_aria2_sends_it() -> None:
    conn = opened()
    receive_and_get(conn, frame(4, struct.pack(">I", 1)))
    (event,) = receive_and_get(conn, frame(5, Bitfield(N, [1, 2]).to_bytes()))
    assert isinstance(event, BitfieldReceived) and list(event.bitfield) == [1, 2]


def test_late_have_all_accepted_as_aria2_sends_it() -> None:
    conn = opened(fast=True)
    receive_and_get(conn, frame(15) + frame(4, struct.pack(">I", 1)))
    assert receive_and_get(conn, frame(14)) == [HaveAllReceived()]


def test_have_out_of_range() -> None:
    with pytest.raises(RemoteProtocolError):
        receive_and_get(opened(), frame(4, struct.pack(">I", N)))


@pytest.mark.parametrize(
    "data",
    [frame(13, struct.pack(">I", 1)), frame(14), frame(15), frame(17, struct.pack(">I", 1))],
)
def test_fast_messages_need_fast_extension(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="BEP 6"):
        receive_and_get(opened(fast=False), data)


def test_extended_needs_extension_bit() -> None:
    with pytest.raises(RemoteProtocolError, match="BEP 10"):
        receive_and_get(opened(extensions=False), frame(20, b"\0de"))


@pytest.mark.parametrize(
    "data",
    [
        frame(0, b"x"),  # choke with a payload
        frame(4, b"\0\0\0"),  # have of 3 bytes
        frame(6, b"\0" * 11),  # request of 11 bytes
        frame(9, b"\0"),  # port of 1 byte
        frame(7, b"\0" * 4),  # piece without offset
        frame(20),  # extended without id
    ],
)
def test_malformed_lengths(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        receive_and_get(opened(), data)


def test_huge_length_prefix_rejected_before_buffering() -> None:
    conn = opened()
    with pytest.raises(RemoteProtocolError, match="over the limit"):
        receive_and_get(conn, struct.pack(">I", MAX_MESSAGE_LENGTH + 1))


def test_oversized_piece_rejected_at_its_id_byte() -> None:
    conn = opened()
    with pytest.raises(RemoteProtocolError):
        receive_and_get(conn, struct.pack(">IB", 9 + 16384 + 1, 7))


def test_oversized_choke_rejected_at_its_id_byte() -> None:
    with pytest.raises(RemoteProtocolError):
        receive_and_get(opened(), struct.pack(">IB", 2, 0))


# --- requests, blocks, rejects ---------------------------------------------


def unchoked_interested(*, fast: bool = True) -> PeerConnection:
    conn = opened(fast=fast)
    conn.send(Unchoke())
    receive_and_get(conn, frame(2))
    return conn


def test_request_received_when_unchoked() -> None:
    conn = unchoked_interested()
    events = receive_and_get(conn, frame(6, struct.pack(">III", 3, 16384, 16384)))
    assert events == [RequestReceived(3, 16384, 16384)]
    assert Request(3, 16384, 16384) in conn.peer_requests


def test_request_while_choking_is_rejected_with_fast() -> None:
    conn = opened()
    assert receive_and_get(conn, frame(6, struct.pack(">III", 3, 0, 16384))) == []
    assert conn.data_to_send() == frame(16, struct.pack(">III", 3, 0, 16384))


def test_request_while_choking_is_dropped_without_fast() -> None:
    conn = opened(fast=False)
    assert receive_and_get(conn, frame(6, struct.pack(">III", 3, 0, 16384))) == []
    assert conn.data_to_send() == b""


def test_request_for_allowed_fast_piece_while_choking() -> None:
    conn = opened()
    conn.send(AllowedFast(3))
    events = receive_and_get(conn, frame(6, struct.pack(">III", 3, 0, 16384)))
    assert events == [RequestReceived(3, 0, 16384)]


@pytest.mark.parametrize(
    ("piece", "length"), [(0, 16385), (0, 0), (N, 16384)], ids=["over 16 KiB", "empty", "range"]
)
def test_invalid_request_rejected_not_fatal(piece: int, length: int) -> None:
    conn = unchoked_interested()
    assert receive_and_get(conn, frame(6, struct.pack(">III", piece, 0, length))) == []
    assert conn.invalid_requests == 1
    assert conn.data_to_send() == frame(16, struct.pack(">III", piece, 0, length))


def test_cancel_received_removes_pending_request() -> None:
    conn = unchoked_interested()
    receive_and_get(conn, frame(6, struct.pack(">III", 3, 0, 16384)))
    events = receive_and_get(conn, frame(8, struct.pack(">III", 3, 0, 16384)))
    assert events == [CancelReceived(3, 0, 16384)]
    with pytest.raises(LocalProtocolError):
        conn.send(Piece(3, 0, b"x" * 16384))


def test_block_received_solicited_and_unsolicited() -> None:
    conn = opened()
    receive_and_get(conn, frame(1))
    conn.send(Request(2, 0, 4))
    events = receive_and_get(conn, frame(7, struct.pack(">II", 2, 0) + b"abcd"))
    assert events == [BlockReceived(2, 0, b"abcd", True)]
    events = receive_and_get(conn, frame(7, struct.pack(">II", 2, 0) + b"abcd"))
    assert events == [BlockReceived(2, 0, b"abcd", False)]


def test_block_repr_hides_data() -> None:
    event = BlockReceived(1, 0, b"\xab" * 16384)
    assert "length=16384" in repr(event) and "\\xab" not in repr(event)
    assert "\\xab" not in repr(Piece(1, 0, b"\xab" * 100))


def test_choke_without_fast_cancels_our_requests() -> None:
    conn = opened(fast=False)
    receive_and_get(conn, frame(1))
    conn.send(Request(1, 0, 16384))
    conn.send(Request(1, 16384, 16384))
    (event,) = receive_and_get(conn, frame(0))
    assert event == PeerChoked((Request(1, 0, 16384), Request(1, 16384, 16384)))
    assert not conn.our_requests


def test_choke_with_fast_keeps_requests_until_rejected() -> None:
    conn = opened()
    receive_and_get(conn, frame(1))
    conn.send(Request(1, 0, 16384))
    assert receive_and_get(conn, frame(0)) == [PeerChoked()]
    assert Request(1, 0, 16384) in conn.our_requests
    events = receive_and_get(conn, frame(16, struct.pack(">III", 1, 0, 16384)))
    assert events == [RejectReceived(1, 0, 16384)]
    assert not conn.our_requests


def test_reject_for_request_never_sent_is_fatal() -> None:
    with pytest.raises(RemoteProtocolError, match="never sent"):
        receive_and_get(opened(), frame(16, struct.pack(">III", 1, 0, 16384)))


def test_reject_after_our_cancel_is_fine() -> None:
    conn = opened()
    receive_and_get(conn, frame(1))
    conn.send(Request(1, 0, 16384))
    conn.send(Cancel(1, 0, 16384))
    events = receive_and_get(conn, frame(16, struct.pack(">III", 1, 0, 16384)))
    assert events == [RejectReceived(1, 0, 16384)]


# --- what we send ------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "data"),
    [
        (KeepAlive(), b"\0\0\0\0"),
        (Interested(), frame(2)),
        (Have(3), frame(4, struct.pack(">I", 3))),
        (Port(6881), frame(9, struct.pack(">H", 6881))),
        (HaveAll(), frame(14)),
        (HaveNone(), frame(15)),
        (Suggest(1), frame(13, struct.pack(">I", 1))),
        (AllowedFast(1), frame(17, struct.pack(">I", 1))),
        (BitfieldMessage.of(Bitfield(N, [0])), frame(5, b"\x80\0\0")),
    ],
)
def test_send_encodes(message: object, data: bytes) -> None:
    assert opened().send(message) == data  # type: ignore[arg-type]


def test_local_transition_table() -> None:
    conn = opened()
    with pytest.raises(LocalProtocolError):
        conn.send(Choke())  # already choking
    with pytest.raises(LocalProtocolError):
        conn.send(NotInterested())
    conn.send(Unchoke())
    conn.send(Interested())
    assert not conn.am_choking and conn.am_interested
    with pytest.raises(LocalProtocolError):
        conn.send(Unchoke())


def test_request_while_choked_is_local_error() -> None:
    conn = opened()
    with pytest.raises(LocalProtocolError, match="choked"):
        conn.send(Request(1, 0, 16384))
    receive_and_get(conn, frame(17, struct.pack(">I", 1)))
    assert conn.send(Request(1, 0, 16384)) == frame(6, struct.pack(">III", 1, 0, 16384))


@pytest.mark.parametrize(
    "message",
    [Request(1, 0, 16385), Request(1, 0, 0), Request(N, 0, 1)],
)
def test_bad_requests_are_local_errors(message: Request) -> None:
    conn = opened()
    receive_and_get(conn, frame(1))
    with pytest.raises(LocalProtocolError):
        conn.send(message)


def test_duplicate_request_and_stray_cancel() -> None:
    conn = opened()
    receive_and_get(conn, frame(1))
    conn.send(Request(1, 0, 10))
    with pytest.raises(LocalProtocolError):
        conn.send(Request(1, 0, 10))
    with pytest.raises(LocalProtocolError):
        conn.send(Cancel(2, 0, 10))


def test_piece_only_answers_a_request() -> None:
    conn = unchoked_interested()
    with pytest.raises(LocalProtocolError):
        conn.send(Piece(1, 0, b"x"))
    receive_and_get(conn, frame(6, struct.pack(">III", 1, 0, 1)))
    assert conn.send(Piece(1, 0, b"x")) == frame(7, struct.pack(">II", 1, 0) + b"x")


def test_piece_framed_into_a_buffer_is_what_send_returns() -> None:
    conn = unchoked_interested()
    out = bytearray(b"before")
    with pytest.raises(LocalProtocolError):
        conn.send_piece_into(out, 1, 0, b"x")  # answers no request
    receive_and_get(conn, frame(6, struct.pack(">III", 1, 0, 3)))
    receive_and_get(conn, frame(6, struct.pack(">III", 2, 0, 0)))  # invalid: a reject queued
    conn.send_piece_into(out, 1, 0, b"xyz")
    reject = frame(16, struct.pack(">III", 2, 0, 0))
    assert out == b"before" + reject + frame(7, struct.pack(">II", 1, 0) + b"xyz")
    assert conn.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        conn.send_piece_into(out, 1, 0, b"xyz")  # already answered
    with pytest.raises(LocalProtocolError):
        conn.send_piece_into(out, 1, 0, b"")


def test_our_choke_with_fast_rejects_pending_requests() -> None:
    conn = unchoked_interested()
    conn.send(AllowedFast(5))
    receive_and_get(conn, frame(6, struct.pack(">III", 1, 0, 1)))
    receive_and_get(conn, frame(6, struct.pack(">III", 5, 0, 1)))
    data = conn.send(Choke())
    assert data == frame(0) + frame(16, struct.pack(">III", 1, 0, 1))
    assert list(conn.peer_requests) == [Request(5, 0, 1)]


def test_our_choke_without_fast_drops_pending_requests() -> None:
    conn = unchoked_interested(fast=False)
    receive_and_get(conn, frame(6, struct.pack(">III", 1, 0, 1)))
    assert conn.send(Choke()) == frame(0)
    assert not conn.peer_requests


def test_pieces_message_only_first() -> None:
    conn = opened()
    conn.send(HaveAll())
    with pytest.raises(LocalProtocolError):
        conn.send(BitfieldMessage.of(Bitfield(N)))


def test_fast_messages_need_fast_locally() -> None:
    conn = opened(fast=False)
    for message in (HaveAll(), Suggest(1), AllowedFast(1), Reject(1, 0, 1)):
        with pytest.raises(LocalProtocolError):
            conn.send(message)


def test_bitfield_of_wrong_size_is_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        opened().send(BitfieldMessage.of(Bitfield(N + 1)))


def test_send_flushes_queued_replies_first() -> None:
    conn = opened()
    receive_and_get(conn, frame(6, struct.pack(">III", 3, 0, 16384)))  # auto reject queued
    data = conn.send(Interested())
    assert data == frame(16, struct.pack(">III", 3, 0, 16384)) + frame(2)


# --- BEP 10 and BEP 9 over the wire --------------------------------------------


def test_extension_handshake_and_messages_between_two_connections() -> None:
    a, b = pair()
    hs = ExtensionHandshake(m={b"ut_metadata": 3, b"ut_pex": 1}, v="swarmseek 0.1", reqq=250)
    (event,) = receive_and_get(b, a.send(hs))
    assert isinstance(event, ExtensionHandshakeReceived)
    assert event.handshake.m == hs.m and event.handshake.v == "swarmseek 0.1"
    receive_and_get(a, b.send(ExtensionHandshake(m={b"ut_metadata": 9}, metadata_size=5)))
    assert a.peer_extension_ids == {b"ut_metadata": 9}
    # b -> a uses a's ids; a -> b uses b's.
    assert receive_and_get(a, b.send(MetadataRequest(0))) == [MetadataRequestReceived(0)]
    events = receive_and_get(b, a.send(MetadataData(0, 5, b"d1:ae")))
    assert events == [MetadataDataReceived(0, 5, b"d1:ae")]
    assert receive_and_get(a, b.send(MetadataReject(0))) == [MetadataRejectReceived(0)]
    raw = b.send(ExtensionMessage(b"ut_pex", b"de"))
    assert raw == frame(20, b"\x01de")
    assert receive_and_get(a, raw) == [ExtensionMessageReceived(b"ut_pex", 1, b"de")]
    with pytest.raises(LocalProtocolError):
        a.send(ExtensionMessage(b"ut_pex", b"de"))  # b never advertised ut_pex


def test_extension_id_zero_disables() -> None:
    a, b = pair()
    receive_and_get(a, b.send(ExtensionHandshake(m={b"ut_metadata": 2})))
    receive_and_get(a, b.send(ExtensionHandshake(m={b"ut_metadata": 0})))
    with pytest.raises(LocalProtocolError):
        a.send(MetadataRequest(0))


def test_unknown_extension_id_reported() -> None:
    conn = opened()
    assert receive_and_get(conn, frame(20, b"\x07hi")) == [ExtensionMessageReceived(None, 7, b"hi")]


@pytest.mark.parametrize(
    "payload",
    [b"not bencode", b"le", b"d1:mi3ee", b"d1:md1:xi300eee"],
)
def test_bad_extension_handshake(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        receive_and_get(opened(), frame(20, b"\0" + payload))


def test_bad_metadata_message() -> None:
    conn = opened()
    conn.send(ExtensionHandshake(m={b"ut_metadata": 2}))
    with pytest.raises(RemoteProtocolError):
        receive_and_get(conn, frame(20, b"\x02d8:msg_typei7e5:piecei0ee"))


# --- a whole exchange ------------------------------------------------------------


def test_two_connections_transfer_blocks() -> None:
    a, b = pair()
    receive_and_get(a, b.send(BitfieldMessage.of(Bitfield.full(N))))
    receive_and_get(b, a.send(HaveNone()))
    assert receive_and_get(b, a.send(Interested())) == [PeerInterested()]
    assert receive_and_get(a, b.send(Unchoke())) == [PeerUnchoked()]
    requests = [Request(0, i * 16384, 16384) for i in range(3)]
    wire = b"".join(a.send(r) for r in requests)
    got = receive_and_get(b, wire)
    assert got == [RequestReceived(r.piece, r.offset, r.length) for r in requests]
    blocks = b"".join(
        b.send(Piece(r.piece, r.offset, bytes([r.offset >> 14]) * r.length)) for r in requests
    )
    events = []
    for i in range(0, len(blocks), 1000):  # arbitrary chunking
        events += receive_and_get(a, blocks[i : i + 1000])
    assert [e.offset for e in events if isinstance(e, BlockReceived) and e.solicited] == [
        0,
        16384,
        32768,
    ]
    assert not a.our_requests and not b.peer_requests


# --- with the torrent's geometry known -------------------------------------------


def shaped() -> PeerConnection:
    conn = opened()
    conn.set_num_pieces(3, 32768, 2 * 32768 + 1000)
    return conn


def test_request_past_end_of_piece_is_rejected() -> None:
    conn = shaped()
    conn.send(Unchoke())
    assert receive_and_get(conn, frame(6, struct.pack(">III", 2, 0, 1001))) == []
    assert conn.invalid_requests == 1
    events = receive_and_get(conn, frame(6, struct.pack(">III", 2, 0, 1000)))
    assert events == [RequestReceived(2, 0, 1000)]


def test_block_outside_its_piece_is_fatal() -> None:
    conn = shaped()
    with pytest.raises(RemoteProtocolError):
        receive_and_get(conn, frame(7, struct.pack(">II", 0, 32768 - 1) + b"ab"))


def test_block_for_piece_out_of_range_is_fatal() -> None:
    with pytest.raises(RemoteProtocolError):
        receive_and_get(opened(), frame(7, struct.pack(">II", N, 0) + b"ab"))


def test_local_request_past_end_of_piece() -> None:
    conn = shaped()
    receive_and_get(conn, frame(1))
    with pytest.raises(LocalProtocolError):
        conn.send(Request(2, 16384, 16384))
    assert conn.piece_size(2) == 1000 and conn.piece_size(0) == 32768
