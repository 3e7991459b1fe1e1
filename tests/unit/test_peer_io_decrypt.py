"""Off-loop decryption in ``PeerProtocol``: order kept, backlog bounded by pausing reads."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest

from swarmseek.transfer import StreamCipher, peer_io
from swarmseek.transfer.mse_crypto import CryptoMethod, rc4_drop1024
from swarmseek.transfer.peer_io import DECRYPT_HIGH_WATER, PeerProtocol

KEY = bytes(range(20))


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_reading(self) -> bool:
        return self.reading

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


class Sink:
    def __init__(self, want: int) -> None:
        self.data = bytearray()
        self.want = want
        self.done = asyncio.Event()

    def on_data(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data
        if len(self.data) >= self.want:
            self.done.set()

    def on_lost(self, reason: str) -> None:
        pass

    def on_writable(self, writable: bool) -> None:
        pass


def offloaded_cipher() -> StreamCipher:
    decryptor = rc4_drop1024(KEY)

    def in_place(buf: bytearray) -> None:  # whatever the RC4 backend of this machine
        buf[:] = decryptor.update(bytes(buf))

    return StreamCipher(CryptoMethod.RC4, lambda d: d, decryptor.update, in_place)


def connected(want: int) -> tuple[PeerProtocol, FakeTransport, Sink]:
    proto, transport, sink = PeerProtocol(), FakeTransport(), Sink(want)
    proto.connection_made(transport)
    proto.use_cipher(offloaded_cipher())
    proto.attach(sink)
    return proto, transport, sink


def feed(proto: PeerProtocol, data: bytes, rng: random.Random) -> None:
    """Deliver ``data`` as reads of random sizes through the reused read buffer."""
    pos = 0
    while pos < len(data):
        size = min(rng.randint(1, 300_000), len(data) - pos, peer_io.READ_BUFFER)
        view = proto.get_buffer(size)
        view[:size] = data[pos : pos + size]
        proto.buffer_updated(size)
        pos += size


async def test_offloaded_decryption_keeps_every_byte_in_order() -> None:
    rng = random.Random(7)
    plain = rng.randbytes(3_000_000)
    encrypted = rc4_drop1024(KEY).update(plain)
    proto, _, sink = connected(len(plain))
    feed(proto, encrypted, rng)
    async with asyncio.timeout(30):  # bounds a failure only
        await sink.done.wait()
    assert bytes(sink.data) == plain


async def test_decryption_backlog_pauses_reading_until_it_drains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = threading.Event()
    real = peer_io._decrypt_all

    def gated(decrypt: Any, chunks: list[bytearray]) -> list[bytearray]:
        gate.wait(30)
        return real(decrypt, chunks)

    monkeypatch.setattr(peer_io, "_decrypt_all", gated)
    rng = random.Random(8)
    plain = rng.randbytes(2 * DECRYPT_HIGH_WATER)
    proto, transport, sink = connected(len(plain))
    feed(proto, rc4_drop1024(KEY).update(plain), rng)
    assert not transport.reading  # the first job is held: the rest queued past high water
    proto.pause_reading()  # the owner (a deep disk queue) wants reads paused too
    gate.set()
    async with asyncio.timeout(30):
        await sink.done.wait()
    assert bytes(sink.data) == plain
    assert not transport.reading  # drained, but the owner's pause still holds
    proto.resume_reading()
    assert transport.reading
