"""Hypothesis: an encrypted connection's direct path (RC4 reads landing in the wire
protocol's buffer through ``PeerProtocol``, decrypted there in place, blocks through
``block_sink``) reports exactly what the event path reports for the plaintext, for any
bytes cut into any reads; arbitrary ciphertext makes it raise only our own errors."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.transfer import BlockReceived, PeerConnection, RemoteProtocolError, StreamCipher
from swarmseek.transfer.mse_crypto import rc4_drop1024
from swarmseek.transfer.peer_io import DirectSink, PeerProtocol
from tests.property.test_wire_blocks_properties import _block_messages, _connection, _run

KEY_OUT, KEY_IN = b"\x01" * 20, b"\x02" * 20


class ConnectionSink:
    """What ``peer.Peer`` does with a connection's reads, minus the torrent: lend the
    wire protocol's buffer, then drain its events into ``log``."""

    def __init__(self, conn: PeerConnection, log: list[object]) -> None:
        self.conn, self.log, self.failed = conn, log, False

    def get_buffer(self) -> memoryview:
        return self.conn.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if not self.failed:
            self._then(self.conn.buffer_updated, nbytes)

    def on_data(self, data: bytes | bytearray | memoryview) -> None:
        if not self.failed:
            self._then(self.conn.receive_data, data)

    def _then(self, step: Callable[[Any], None], arg: Any) -> None:
        try:
            step(arg)
            while (event := self.conn.next_event()) is not None:
                if isinstance(event, BlockReceived):
                    self.log.append(
                        ("block", event.piece, event.offset, bytes(event.data), event.solicited)
                    )
                else:
                    self.log.append(event)
        except RemoteProtocolError as exc:
            self.log.append(("error", str(exc)))
            self.failed = True

    def on_lost(self, reason: str) -> None:
        pass

    def on_writable(self, writable: bool) -> None:
        pass


def _receive_encrypted(ciphertext: bytes, cuts: list[int], log: list[object]) -> None:
    """Feed ``ciphertext`` to a ``PeerProtocol`` as asyncio's BufferedProtocol does."""
    proto = PeerProtocol()
    proto.use_cipher(StreamCipher.rc4(rc4_drop1024(KEY_OUT), rc4_drop1024(KEY_IN)))
    sink = ConnectionSink(_connection(log), log)
    assert isinstance(sink, DirectSink)
    proto.attach(sink)
    bounds = sorted({0, len(ciphertext), *(c % (len(ciphertext) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        pos = start
        while pos < end:  # a read fills what get_buffer lends, in as many reads as it takes
            room = proto.get_buffer(-1)
            assert room.obj is sink.conn._in  # the read lands in the wire buffer itself
            n = min(len(room), end - pos)
            room[:n] = ciphertext[pos : pos + n]
            del room
            proto.buffer_updated(n)
            pos += n


@given(
    st.lists(_block_messages(), max_size=14),
    st.lists(st.integers(0, 200_000), max_size=8),
    st.lists(st.integers(0, 200_000), max_size=8),
)
def test_encrypted_direct_path_reports_what_the_plaintext_event_path_reports(
    frames: list[bytes], plain_cuts: list[int], cuts: list[int]
) -> None:
    plain = b"".join(frames)
    expected: list[object] = []
    _run(_connection(None), expected, plain, plain_cuts, direct=False)
    got: list[object] = []
    _receive_encrypted(rc4_drop1024(KEY_IN).update(plain), cuts, got)
    assert got == expected


@given(st.binary(max_size=3000), st.lists(st.integers(0, 5000), max_size=8))
def test_fuzz_encrypted_direct_path(ciphertext: bytes, cuts: list[int]) -> None:
    log: list[object] = []
    _receive_encrypted(ciphertext, cuts, log)  # RemoteProtocolError is caught and logged
    assert all(not isinstance(e, tuple) or e[0] in ("block", "error") for e in log)
