"""Reads land in the connection's own buffer (a DirectSink), encrypted ones decrypted
there in place; what ``send_lazily`` queued goes out with the next write or a lazy flush."""

from __future__ import annotations

from typing import Any

from swarmseek.transfer import Have, Interested, PeerConnection, StreamCipher
from swarmseek.transfer.mse_crypto import CryptoMethod, rc4_drop1024
from swarmseek.transfer.peer import Peer
from swarmseek.transfer.peer_io import PeerProtocol
from swarmseek.transfer.wire_messages import PROTOCOL, encode_message

INFO_HASH = b"\x11" * 20
HANDSHAKE = bytes([19]) + PROTOCOL + bytes(8) + INFO_HASH + b"\x22" * 20


class DirectSink:
    def __init__(self) -> None:
        self.room = memoryview(bytearray(64))
        self.got: list[bytes] = []

    def get_buffer(self) -> memoryview:
        return self.room

    def buffer_updated(self, nbytes: int) -> None:
        self.got.append(bytes(self.room[:nbytes]))

    def on_data(self, data: bytes | bytearray | memoryview) -> None:
        self.got.append(b"copied:" + bytes(data))

    def on_lost(self, reason: str) -> None:
        pass

    def on_writable(self, writable: bool) -> None:
        pass


def test_plaintext_reads_go_into_the_sinks_buffer() -> None:
    proto = PeerProtocol()
    proto.data_received(b"early")  # before the sink: buffered, then handed over
    sink = DirectSink()
    proto.attach(sink)
    assert sink.got == [b"copied:early"]
    room = proto.get_buffer(-1)
    assert room.obj is sink.room.obj  # the kernel writes straight into the sink's buffer
    room[:3] = b"abc"
    proto.buffer_updated(3)
    assert sink.got[-1] == b"abc"


def _xor1(buf: bytearray | memoryview) -> None:
    buf[:] = bytes(b ^ 1 for b in buf)


def test_encrypted_reads_are_decrypted_in_the_sinks_buffer() -> None:
    proto = PeerProtocol()
    cipher = StreamCipher(CryptoMethod.RC4, lambda d: d, lambda d: bytes(b ^ 1 for b in d), _xor1)
    proto.use_cipher(cipher)
    sink = DirectSink()
    proto.attach(sink)
    room = proto.get_buffer(-1)
    assert room.obj is sink.room.obj  # ciphertext lands there and is decrypted in place
    room[:2] = b"\x01\x01"
    proto.buffer_updated(2)
    assert sink.got == [b"\x00\x00"]


class RecordingTransport:
    def __init__(self) -> None:
        self.written: list[bytes | bytearray] = []

    def write(self, data: bytes | bytearray) -> None:
        self.written.append(data)


def test_encrypted_writes_are_encrypted_in_the_callers_buffer() -> None:
    proto = PeerProtocol()
    proto.use_cipher(StreamCipher.rc4(rc4_drop1024(b"k" * 20), rc4_drop1024(b"j" * 20)))
    transport = RecordingTransport()
    proto.transport = transport  # type: ignore[assignment]
    reference = rc4_drop1024(b"k" * 20)
    given = bytearray(b"block" * 1000)
    proto.write(given)  # a bytearray is given up: encrypted where it is
    assert transport.written[-1] is given
    assert given == reference.update(b"block" * 1000)
    message = b"\0\0\0\x01\x02"
    proto.write(message)  # bytes stay as they are: a copy is encrypted
    assert message == b"\0\0\0\x01\x02"
    assert transport.written[-1] == reference.update(message)


class FakeTorrent:
    def now(self) -> float:
        return 0.0


class RecordingProto:
    address = ("127.0.0.1", 1)

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray) -> None:
        self.writes.append(bytes(data))


def _open_peer() -> tuple[Peer, RecordingProto]:
    conn = PeerConnection(b"\x33" * 20, INFO_HASH, num_pieces=8)
    conn.data_to_send()  # our handshake, already "sent"
    conn.receive_data(HANDSHAKE)
    conn.events()
    proto = RecordingProto()
    fake: Any = proto
    torrent: Any = FakeTorrent()
    return Peer(torrent, fake, conn, outgoing=True, now=0.0), proto


def test_lazy_messages_wait_for_the_next_write_and_go_first() -> None:
    peer, proto = _open_peer()
    peer.send_lazily(Have(1))
    peer.send_lazily(Have(2))
    peer.flush()
    assert proto.writes == []  # nothing else to send: no write of its own
    peer.send(Interested())
    peer.flush()
    assert proto.writes == [encode_message(Have(1)) + encode_message(Have(2)) + b"\0\0\0\x01\x02"]
    peer.flush()
    assert len(proto.writes) == 1


def test_a_lazy_flush_sends_them_alone() -> None:
    peer, proto = _open_peer()
    peer.flush(lazy=True)
    assert proto.writes == []
    peer.send_lazily(Have(3))
    peer.flush(lazy=True)
    assert proto.writes == [encode_message(Have(3))]
