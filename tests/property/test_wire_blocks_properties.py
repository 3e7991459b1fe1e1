"""Hypothesis: the batched block path of ``PeerConnection`` (a ``block_sink`` fed from
``get_buffer``/``buffer_updated``) reports exactly what the event path reports, in the
same order, for any bytes cut into any reads; and arbitrary bytes make it raise only
RemoteProtocolError."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.transfer import (
    BLOCK_SIZE,
    BlockReceived,
    Choke,
    Have,
    PeerConnection,
    Piece,
    RemoteProtocolError,
    Request,
    Unchoke,
)
from swarmseek.transfer.wire_messages import PROTOCOL, encode_message

INFO_HASH = b"\x11" * 20
PIECES, PIECE_LENGTH = 5, 2 * BLOCK_SIZE
TOTAL = PIECES * PIECE_LENGTH - 100
HANDSHAKE = (
    bytes([19]) + PROTOCOL + bytes([0, 0, 0, 0, 0, 0x10, 0, 0x05]) + INFO_HASH + b"\x22" * 20
)
# Blocks we request on both connections before the peer's messages arrive.
REQUESTED = [
    (p, o, min(BLOCK_SIZE, TOTAL - p * PIECE_LENGTH - o)) for p in range(3) for o in (0, BLOCK_SIZE)
]


def _connection(sink: list[object] | None) -> PeerConnection:
    conn = PeerConnection(
        b"\x33" * 20, INFO_HASH, num_pieces=PIECES, piece_length=PIECE_LENGTH, total_length=TOTAL
    )
    conn.receive_data(HANDSHAKE + encode_message(Unchoke()))
    conn.events()
    conn.send_requests(REQUESTED)
    if sink is not None:

        def take(blocks: list[tuple[int, int, memoryview, bool]]) -> None:
            # The views are only valid now: copy, as the torrent does.
            sink.extend(("block", p, o, bytes(d), s) for p, o, d, s in blocks)

        conn.block_sink = take
    return conn


def _run(
    conn: PeerConnection, log: list[object], data: bytes, cuts: list[int], direct: bool
) -> None:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    try:
        for start, end in itertools.pairwise(bounds):
            if direct:
                # As asyncio's BufferedProtocol does: fill what get_buffer lends, in as
                # many reads as it takes.
                pos = start
                while pos < end:
                    room = conn.get_buffer()
                    n = min(len(room), end - pos)
                    room[:n] = data[pos : pos + n]
                    del room
                    conn.buffer_updated(n)
                    pos += n
            else:
                conn.receive_data(data[start:end])
            while (event := conn.next_event()) is not None:
                if isinstance(event, BlockReceived):
                    log.append(
                        ("block", event.piece, event.offset, bytes(event.data), event.solicited)
                    )
                else:
                    log.append(event)
    except RemoteProtocolError as exc:
        log.append(("error", str(exc)))


def _block_messages() -> st.SearchStrategy[bytes]:
    requested = st.sampled_from(REQUESTED).map(
        lambda r: encode_message(Piece(r[0], r[1], bytes([r[0] + 1]) * r[2]))
    )
    anywhere = st.builds(
        Piece,
        st.integers(0, PIECES),
        st.integers(0, 3 * BLOCK_SIZE),
        st.binary(min_size=1, max_size=40),
    ).map(encode_message)
    others = st.sampled_from([Choke(), Unchoke(), Have(1), Request(0, 0, 10)]).map(encode_message)
    return st.one_of(requested, requested, anywhere, others, st.binary(max_size=20))


@given(
    st.lists(_block_messages(), max_size=14),
    st.lists(st.integers(0, 200_000), max_size=8),
    st.booleans(),
)
def test_block_sink_reports_what_events_report(
    frames: list[bytes], cuts: list[int], direct: bool
) -> None:
    data = b"".join(frames)
    expected: list[object] = []
    _run(_connection(None), expected, data, cuts, direct=False)
    got: list[object] = []
    _run(_connection(got), got, data, cuts, direct=direct)
    assert got == expected


@given(st.binary(max_size=3000), st.lists(st.integers(0, 5000), max_size=8), st.booleans())
def test_fuzz_block_sink(data: bytes, cuts: list[int], direct: bool) -> None:
    log: list[object] = []
    conn = _connection(log)
    _run(conn, log, data, cuts, direct=direct)
    assert conn._end - conn._pos <= len(data)


def test_a_read_of_blocks_is_one_batch_between_the_events_around_it() -> None:
    batches: list[list[tuple[int, int, bytes, bool]]] = []
    conn = _connection(None)
    conn.block_sink = lambda blocks: batches.append([(p, o, bytes(d), s) for p, o, d, s in blocks])
    stream = (
        encode_message(Have(4))
        + b"".join(encode_message(Piece(p, o, b"x" * n)) for p, o, n in REQUESTED[:3])
        + encode_message(Choke())
    )
    room = conn.get_buffer()
    room[: len(stream)] = stream
    del room
    conn.buffer_updated(len(stream))
    first = conn.next_event()
    assert first is not None and not batches  # the have comes first, alone
    second = conn.next_event()
    assert [len(b) for b in batches] == [3]  # then every block of the read at once
    assert batches[0][0] == (0, 0, b"x" * BLOCK_SIZE, True)
    assert type(second).__name__ == "PeerChoked"
    assert conn.next_event() is None
    assert len(conn.our_requests) == len(REQUESTED) - 3


def test_blocks_before_a_lie_are_delivered_then_the_connection_fails() -> None:
    log: list[object] = []
    conn = _connection(log)
    good = encode_message(Piece(0, 0, b"a" * BLOCK_SIZE))
    outside = encode_message(Piece(0, PIECE_LENGTH - 10, b"b" * 20))  # runs past piece 0
    conn.receive_data(good + outside)
    try:
        conn.next_event()
    except RemoteProtocolError:
        pass
    else:
        raise AssertionError("a block outside its piece must fail the connection")
    assert log == [("block", 0, 0, b"a" * BLOCK_SIZE, True)]
