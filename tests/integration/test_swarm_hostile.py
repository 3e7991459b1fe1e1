"""Hostile and broken peers: liars, peers that vanish mid-piece, garbage, policies."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from swarmseek.transfer import EncryptionPolicy, Info, MemoryStorage, PeerConnection, create_torrent
from swarmseek.transfer import wire_events as ev
from swarmseek.transfer.session import Session
from swarmseek.transfer.wire_messages import HaveAll, Piece, Unchoke
from tests.support.swarm_helpers import FAST, make_torrent, same_tree, wait_finished

pytestmark = pytest.mark.timeout(120)
# The raw fake peers below speak plaintext only.
PLAIN = dataclasses.replace(FAST, encryption=EncryptionPolicy.DISABLE)


class LyingStorage(MemoryStorage):
    """A seeder's storage that flips a byte in every block it serves."""

    def read_block(self, piece: int, offset: int, length: int) -> bytes:
        data = bytearray(super().read_block(piece, offset, length))
        data[0] ^= 0xFF
        return bytes(data)


def liar_factory(content: bytes):  # type: ignore[no-untyped-def]
    def make(info: Info, _save: Path) -> MemoryStorage:
        return LyingStorage.filled(info, content)

    return make


async def test_lying_peer_is_banned_and_download_is_correct(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"f.bin": 40 * 16384 + 5})
    content = (tmp_path / "seed" / "f.bin").read_bytes()
    async with Session(FAST) as liar, Session(FAST) as honest, Session(FAST) as leecher:
        await liar.add(
            meta, tmp_path / "nowhere", seed_mode=True, storage_factory=liar_factory(content)
        )
        await honest.add(meta, tmp_path / "seed")
        torrent = await leecher.add(meta, tmp_path / "out", peers=[("127.0.0.1", liar.port)])
        async with asyncio.timeout(30):
            await torrent.banned.wait()
        assert ("127.0.0.1", liar.port) in torrent._banned_addrs
        assert torrent.verified_bytes == 0  # nothing the liar sent was counted
        torrent.add_peers([("127.0.0.1", honest.port), ("127.0.0.1", liar.port)])
        await wait_finished(torrent)
        assert all(p.address != ("127.0.0.1", liar.port) for p in torrent.peers)
    assert same_tree(tmp_path / "seed" / "f.bin", tmp_path / "out" / "f.bin")


async def test_smart_ban_spares_honest_cosenders(tmp_path: Path) -> None:
    """Multi-block pieces shared by a liar and an honest seeder: only the liar goes."""
    data = tmp_path / "seed" / "big.bin"
    data.parent.mkdir()
    data.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    meta = create_torrent(data, piece_length=256 * 1024).metainfo
    content = data.read_bytes()
    async with Session(FAST) as liar, Session(FAST) as honest, Session(FAST) as leecher:
        await liar.add(meta, tmp_path / "x", seed_mode=True, storage_factory=liar_factory(content))
        await honest.add(meta, tmp_path / "seed")
        torrent = await leecher.add(
            meta, tmp_path / "out", peers=[("127.0.0.1", liar.port), ("127.0.0.1", honest.port)]
        )
        await wait_finished(torrent)
        assert ("127.0.0.1", honest.port) not in torrent._banned_addrs
    assert same_tree(data, tmp_path / "out" / "big.bin")


async def _fake_seeder(
    meta_info: Info,
    content: bytes,
    *,
    blocks_before_close: int | None = None,
    garbage: bool = False,
    closed: asyncio.Event,
) -> asyncio.Server:
    """A raw peer built on PeerConnection: has everything, then misbehaves."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConnection(
            b"-FAKE01-" + bytes(12),
            meta_info.infohash,
            initiator=False,
            num_pieces=meta_info.num_pieces,
        )
        sent = 0
        try:
            while data := await reader.read(65536):
                conn.receive_data(data)
                for event in conn.events():
                    if isinstance(event, ev.HandshakeReceived):
                        writer.write(conn.data_to_send())
                        if garbage:
                            writer.write(b"\xff" * 64)
                            continue
                        writer.write(conn.send(HaveAll()) + conn.send(Unchoke()))
                    elif isinstance(event, ev.RequestReceived):
                        start = event.piece * meta_info.piece_length + event.offset
                        block = content[start : start + event.length]
                        writer.write(conn.send(Piece(event.piece, event.offset, block)))
                        sent += 1
                        if blocks_before_close is not None and sent >= blocks_before_close:
                            await writer.drain()
                            writer.close()
                            return
                await writer.drain()
        finally:
            writer.close()
            closed.set()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_peer_disconnecting_mid_piece(tmp_path: Path) -> None:
    data = tmp_path / "seed" / "p.bin"
    data.parent.mkdir()
    data.write_bytes(bytes(range(251)) * 2000)
    meta = create_torrent(data, piece_length=128 * 1024).metainfo
    closed = asyncio.Event()
    server = await _fake_seeder(meta.info, data.read_bytes(), blocks_before_close=3, closed=closed)
    async with server, Session(FAST) as honest, Session(PLAIN) as leecher:
        port = server.sockets[0].getsockname()[1]
        torrent = await leecher.add(meta, tmp_path / "out", peers=[("127.0.0.1", port)])
        async with asyncio.timeout(30):
            await closed.wait()
            while torrent.peers:  # until the leecher has read the last bytes and the EOF
                await asyncio.sleep(0.01)
        assert torrent.downloaded == 3 * 16384 and torrent.verified_bytes == 0  # mid-piece
        await honest.add(meta, tmp_path / "seed")
        torrent.add_peers([("127.0.0.1", honest.port)])
        await wait_finished(torrent)
    assert same_tree(data, tmp_path / "out" / "p.bin")


async def test_garbage_after_handshake_is_dropped_others_unaffected(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"g.bin": 300_000})
    closed = asyncio.Event()
    server = await _fake_seeder(meta.info, b"", garbage=True, closed=closed)
    async with server, Session(FAST) as honest, Session(PLAIN) as leecher:
        await honest.add(meta, tmp_path / "seed")
        port = server.sockets[0].getsockname()[1]
        torrent = await leecher.add(
            meta, tmp_path / "out", peers=[("127.0.0.1", port), ("127.0.0.1", honest.port)]
        )
        async with asyncio.timeout(30):
            await closed.wait()  # we hung up on the garbage
        await wait_finished(torrent)
    assert same_tree(tmp_path / "seed" / "g.bin", tmp_path / "out" / "g.bin")


async def _raw_plaintext_handshake(port: int, info_hash: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = PeerConnection(b"-RAW001-" + bytes(12), info_hash)
    writer.write(conn.data_to_send())
    try:
        return await reader.read(68)  # b"" when refused
    finally:
        writer.close()


async def test_require_refuses_plaintext_and_prefer_serves_it(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"e.bin": 50_000})
    require = dataclasses.replace(FAST, encryption=EncryptionPolicy.REQUIRE)
    async with Session(require) as strict, Session(FAST) as lenient:
        await strict.add(meta, tmp_path / "seed")
        await lenient.add(meta, tmp_path / "seed")
        async with asyncio.timeout(30):
            assert await _raw_plaintext_handshake(strict.port, meta.infohash) == b""
            answer = await _raw_plaintext_handshake(lenient.port, meta.infohash)
        assert answer[:20] == b"\x13BitTorrent protocol" and answer[28:48] == meta.infohash


@pytest.mark.parametrize(
    ("seed_policy", "get_policy", "encrypted"),
    [
        (EncryptionPolicy.REQUIRE, EncryptionPolicy.REQUIRE, True),
        (EncryptionPolicy.REQUIRE, EncryptionPolicy.PREFER, True),
        (EncryptionPolicy.DISABLE, EncryptionPolicy.PREFER, False),  # plaintext retry
        (EncryptionPolicy.PREFER, EncryptionPolicy.DISABLE, False),
    ],
)
async def test_encryption_policies_between_our_nodes(
    tmp_path: Path, seed_policy: EncryptionPolicy, get_policy: EncryptionPolicy, encrypted: bool
) -> None:
    meta = make_torrent(tmp_path / "seed", {"e.bin": 200_000})
    async with (
        Session(dataclasses.replace(FAST, encryption=seed_policy)) as seeder,
        Session(dataclasses.replace(FAST, encryption=get_policy)) as leecher,
    ):
        await seeder.add(meta, tmp_path / "seed")
        torrent = await leecher.add(meta, tmp_path / "out", peers=[("127.0.0.1", seeder.port)])
        await wait_finished(torrent)
        kind = "encrypted" if encrypted else "plaintext"
        assert (
            torrent.connections[kind] >= 1
            and sum(torrent.connections.values()) == torrent.connections[kind]
        )
    assert same_tree(tmp_path / "seed" / "e.bin", tmp_path / "out" / "e.bin")


async def test_silent_peer_times_out_and_its_blocks_go_elsewhere(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"q.bin": 400_000})
    cancelled = asyncio.Event()
    requested = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConnection(b"-MUTE01-" + bytes(12), meta.infohash, initiator=False)
        while data := await reader.read(65536):
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, ev.HandshakeReceived):
                    writer.write(conn.data_to_send() + conn.send(HaveAll()) + conn.send(Unchoke()))
                elif isinstance(event, ev.RequestReceived):
                    requested.set()  # and never answer
                elif isinstance(event, ev.CancelReceived):
                    cancelled.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    config = dataclasses.replace(PLAIN, request_timeout=0.3)
    async with server, Session(FAST) as honest, Session(config) as leecher:
        port = server.sockets[0].getsockname()[1]
        torrent = await leecher.add(meta, tmp_path / "out", peers=[("127.0.0.1", port)])
        async with asyncio.timeout(30):
            await requested.wait()
            await cancelled.wait()  # timed out: its requests were cancelled
        assert any(p.snubbed for p in torrent.peers)
        await honest.add(meta, tmp_path / "seed")
        torrent.add_peers([("127.0.0.1", honest.port)])
        await wait_finished(torrent)
    assert same_tree(tmp_path / "seed" / "q.bin", tmp_path / "out" / "q.bin")
