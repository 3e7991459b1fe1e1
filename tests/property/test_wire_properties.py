"""Hypothesis: every wire codec round-trips; no input makes the parser raise anything
but RemoteProtocolError, or buffer without bound; the picker keeps its invariant."""

from __future__ import annotations

import itertools
import random
import struct

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from swarmseek.transfer import (
    BLOCK_SIZE,
    AllowedFast,
    Bitfield,
    BitfieldMessage,
    BlockState,
    Cancel,
    Choke,
    Choker,
    ExtensionHandshake,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    MetadataData,
    MetadataReject,
    MetadataRequest,
    NotInterested,
    PeerConnection,
    PeerStats,
    Piece,
    PiecePicker,
    Port,
    Reject,
    RemoteProtocolError,
    Request,
    Suggest,
    Unchoke,
)
from swarmseek.transfer.extension import decode_extension_handshake, encode_extension_handshake
from swarmseek.transfer.metadata import decode_metadata_message, encode_metadata_message
from swarmseek.transfer.wire import RECEIVE_BUFFER
from swarmseek.transfer.wire_messages import (
    MAX_MESSAGE_LENGTH,
    PROTOCOL,
    Extended,
    Handshake,
    decode_handshake,
    decode_message,
    encode_handshake,
    encode_message,
)

u32 = st.integers(0, 2**32 - 1)
metadata_payloads = st.one_of(
    st.builds(
        lambda kind, piece, size, tail: (
            b"d8:msg_typei%de5:piecei%de10:total_sizei%dee" % (kind, piece, size) + tail
        ),
        st.integers(-1, 3),
        st.integers(-1, 600),
        st.integers(-1, 9 * 1024 * 1024),
        st.binary(max_size=40),
    ),
    st.binary(max_size=60),
)
INFO_HASH = b"\x11" * 20

core_messages = st.one_of(
    st.sampled_from([KeepAlive(), Choke(), Unchoke(), Interested(), NotInterested()]),
    st.sampled_from([HaveAll(), HaveNone()]),
    st.builds(Have, u32),
    st.builds(Suggest, u32),
    st.builds(AllowedFast, u32),
    st.builds(Request, u32, u32, u32),
    st.builds(Cancel, u32, u32, u32),
    st.builds(Reject, u32, u32, u32),
    st.builds(Piece, u32, u32, st.binary(min_size=1, max_size=BLOCK_SIZE)),
    st.builds(Port, st.integers(0, 0xFFFF)),
    st.builds(Extended, st.integers(0, 255), st.binary(max_size=300)),
    st.builds(Extended, st.just(1), metadata_payloads),
    st.binary(max_size=64).map(lambda b: BitfieldMessage(Bitfield(0), b)),
)


@given(core_messages)
def test_core_message_round_trip(message: object) -> None:
    data = encode_message(message)  # type: ignore[arg-type]
    (length,) = struct.unpack(">I", data[:4])
    assert length == len(data) - 4
    assert decode_message(data[4:]) == message


@given(
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=8, max_size=8),
)
def test_handshake_round_trip(info_hash: bytes, peer_id: bytes, reserved: bytes) -> None:
    handshake = Handshake(info_hash, peer_id, reserved)
    assert decode_handshake(encode_handshake(handshake)) == handshake


metadata_messages = st.one_of(
    st.builds(MetadataRequest, st.integers(0, 511)),
    st.builds(MetadataReject, st.integers(0, 511)),
    st.builds(
        MetadataData,
        st.integers(0, 511),
        st.integers(1, 8 * 1024 * 1024),
        st.binary(max_size=BLOCK_SIZE),
    ),
)


@given(metadata_messages)
def test_metadata_message_round_trip(message: object) -> None:
    assert decode_metadata_message(encode_metadata_message(message)) == message  # type: ignore[arg-type]


@given(
    st.dictionaries(st.binary(min_size=1, max_size=20), st.integers(0, 255), max_size=8),
    st.none() | st.text(max_size=30),
    st.none() | st.integers(1, 0xFFFF),
    st.none() | st.integers(1, 10_000),
    st.none() | st.integers(1, 2**40),
    st.none() | st.binary(min_size=4, max_size=4) | st.binary(min_size=16, max_size=16),
)
def test_extension_handshake_round_trip(m, v, p, reqq, size, yourip) -> None:  # type: ignore[no-untyped-def]
    hs = ExtensionHandshake(m=m, v=v, p=p, reqq=reqq, metadata_size=size, yourip=yourip)
    assert decode_extension_handshake(encode_extension_handshake(hs)) == hs


@given(st.integers(0, 300), st.data())
def test_bitfield_round_trip(size: int, data: st.DataObject) -> None:
    pieces = data.draw(st.sets(st.integers(0, max(size - 1, 0)))) if size else set()
    bits = Bitfield(size, pieces)
    again = Bitfield.from_bytes(bits.to_bytes(), size)
    assert again == bits and set(again) == pieces and len(again) == len(pieces)


# --- fuzzing the parser -------------------------------------------------------


def _peer_handshake() -> bytes:
    return bytes([19]) + PROTOCOL + bytes([0, 0, 0, 0, 0, 0x10, 0, 0x05]) + INFO_HASH + b"\x22" * 20


def _feed(conn: PeerConnection, data: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    try:
        for start, end in itertools.pairwise(bounds):
            conn.receive_data(data[start:end])
            conn.events()
            # Never more buffered than one maximal message plus its length prefix.
            assert conn._end - conn._pos <= MAX_MESSAGE_LENGTH + 4 + (end - start)
            assert len(conn._in) <= max(2 * RECEIVE_BUFFER, 2 * (end - start))
    except RemoteProtocolError:
        pass


@given(st.binary(max_size=2000), st.lists(st.integers(0, 5000), max_size=8))
def test_fuzz_handshake_phase(data: bytes, cuts: list[int]) -> None:
    _feed(PeerConnection(b"\x33" * 20, INFO_HASH, initiator=False), data, cuts)


@given(
    st.binary(max_size=2000),
    st.lists(st.integers(0, 5000), max_size=8),
    st.sampled_from(["unknown", "count", "geometry"]),
)
def test_fuzz_open_connection(data: bytes, cuts: list[int], known: str) -> None:
    conn = PeerConnection(b"\x33" * 20, INFO_HASH, num_pieces=37 if known != "unknown" else None)
    if known == "geometry":
        conn.set_num_pieces(37, 32768, 37 * 32768 - 5)
    conn.receive_data(_peer_handshake())
    conn.events()
    _feed(conn, data, cuts)


framed = st.one_of(core_messages.map(encode_message), st.binary(max_size=40))


@given(st.lists(framed, max_size=12), st.lists(st.integers(0, 50_000), max_size=8))
def test_fuzz_with_plausible_frames(frames: list[bytes], cuts: list[int]) -> None:
    conn = PeerConnection(b"\x33" * 20, INFO_HASH, num_pieces=37)
    conn.receive_data(_peer_handshake())
    conn.events()
    conn.send(Unchoke())
    conn.send(ExtensionHandshake(m={b"ut_metadata": 1, b"ut_pex": 2}))
    _feed(conn, b"".join(frames), cuts)


# --- picker state machine -------------------------------------------------------

PEERS = ["a", "b", "c", "d"]


class PickerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.picker = PiecePicker(6, 2 * BLOCK_SIZE, 5 * 2 * BLOCK_SIZE + 100, rng=random.Random(0))
        self.connected: set[str] = set()
        self.outstanding: set[tuple[str, object]] = set()

    @rule(peer=st.sampled_from(PEERS), pieces=st.sets(st.integers(0, 5)))
    def connect(self, peer: str, pieces: set[int]) -> None:
        if peer not in self.connected:
            self.picker.add_peer(peer, Bitfield(6, pieces))
            self.connected.add(peer)

    @precondition(lambda self: self.connected)
    @rule(data=st.data())
    def have(self, data: st.DataObject) -> None:
        peer = data.draw(st.sampled_from(sorted(self.connected)))
        if data.draw(st.booleans()):
            self.picker.peer_has_all(peer)
        else:
            self.picker.peer_has(peer, data.draw(st.integers(0, 5)))

    @precondition(lambda self: self.connected)
    @rule(data=st.data(), count=st.integers(1, 5))
    def pick(self, data: st.DataObject, count: int) -> None:
        peer = data.draw(st.sampled_from(sorted(self.connected)))
        for block in self.picker.pick(peer, count):
            assert (peer, block) not in self.outstanding
            assert self.picker.has(peer, block.piece)
            self.outstanding.add((peer, block))

    @precondition(lambda self: self.outstanding)
    @rule(data=st.data(), action=st.sampled_from(["receive", "take", "abort"]))
    def answer(self, data: st.DataObject, action: str) -> None:
        peer, block = data.draw(st.sampled_from(sorted(self.outstanding, key=repr)))
        self.outstanding.discard((peer, block))
        if action == "abort":
            self.picker.abort(peer, block)  # type: ignore[arg-type]
            return
        if action == "take":  # the fast path, which declines anything but the plain case
            done = self.picker.take_requested(peer, *block)  # type: ignore[misc]
            if done >= 0:
                assert self.picker.state(block) is BlockState.FINISHED  # type: ignore[arg-type]
                self._finished(data, peer, block, done == 1)
                return
        receipt = self.picker.block_received(peer, block)  # type: ignore[arg-type]
        for other in receipt.cancels:
            self.outstanding.discard(other)  # type: ignore[arg-type]
            self.picker.abort(*other)
        if receipt.accepted:
            self._finished(data, peer, block, self.picker.block_written(block))  # type: ignore[arg-type]

    def _finished(self, data: st.DataObject, peer: str, block: object, complete: bool) -> None:
        if complete:
            if data.draw(st.booleans()):
                self.picker.piece_passed(block.piece)  # type: ignore[attr-defined]
            else:
                senders = self.picker.piece_failed(block.piece)  # type: ignore[attr-defined]
                assert peer in senders

    @rule(piece=st.integers(0, 5), priority=st.integers(0, 3))
    def prioritise(self, piece: int, priority: int) -> None:
        self.picker.set_priority(piece, priority)

    @precondition(lambda self: self.connected)
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        peer = data.draw(st.sampled_from(sorted(self.connected)))
        reopened = self.picker.remove_peer(peer)
        for block in reopened:
            assert self.picker.state(block) is BlockState.OPEN
        self.connected.discard(peer)
        self.outstanding = {(p, b) for p, b in self.outstanding if p != peer}

    @invariant()
    def consistent(self) -> None:
        self.picker.check_invariant()


TestPickerMachine = PickerMachine.TestCase


# --- choker ---------------------------------------------------------------------

peer_stats = st.builds(
    PeerStats,
    st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]),
    st.booleans(),
    st.floats(0, 1e7),
    st.floats(0, 1e7),
    st.floats(-100, 100),
    st.booleans(),
)


@given(st.lists(st.lists(peer_stats, max_size=7), min_size=1, max_size=6), st.integers(0, 5))
def test_choker_rounds_keep_its_promises(rounds: list[list[PeerStats]], slots: int) -> None:
    choker = Choker(random.Random(0), slots=slots)
    unchoked: set[object] = set()
    for step, drawn in enumerate(rounds):
        peers = list({s.peer: s for s in drawn}.values())  # one entry per peer
        decision = choker.rechoke(step * 10.0, peers, seeding=step % 2 == 1)
        unchoked = (unchoked - decision.choke) | decision.unchoke
        assert unchoked == choker.unchoked
        assert len(unchoked) <= slots + 1
        interested = {s.peer for s in peers if s.interested}
        assert unchoked <= interested
        regular = unchoked - {decision.optimistic}
        assert not regular & {s.peer for s in peers if s.snubbed}
