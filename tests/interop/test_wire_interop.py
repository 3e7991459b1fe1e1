"""Our pure wire protocol against a real libtorrent seeder over 127.0.0.1.

A thin blocking-socket adapter (a test stand-in for the future asyncio swarm) drives
``PeerConnection``, ``MetadataAssembler`` and ``PiecePicker``: handshake with BEP 6
and BEP 10, metadata by BEP 9 as for a magnet link, then every block, each piece
checked against its SHA-1. Socket timeouts only bound a failure.
"""

from __future__ import annotations

import hashlib
import random
import socket
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from swarmseek.transfer import (
    UT_METADATA,
    BitfieldReceived,
    Block,
    BlockReceived,
    ExtensionHandshake,
    ExtensionHandshakeReceived,
    HandshakeReceived,
    HaveAll,
    HaveAllReceived,
    HaveReceived,
    Interested,
    MetadataAssembler,
    MetadataData,
    MetadataDataReceived,
    MetadataRequest,
    MetadataRequestReceived,
    PeerChoked,
    PeerConnection,
    PeerInterested,
    Piece,
    PiecePicker,
    RejectReceived,
    Request,
    RequestReceived,
    Unchoke,
    decode,
    metadata_pieces,
)
from tests.support.clients import lt_session, wait_for_alert, wait_until

pytestmark = pytest.mark.interop

PIECE_LENGTH = 32 * 1024
SIZE = 20 * PIECE_LENGTH + 12345  # a short last piece with a short last block


def make_torrent(folder: Path) -> tuple[Any, bytes]:
    data = random.Random(5).randbytes(SIZE)
    (folder / "payload.bin").write_bytes(data)
    # v1 only: a hybrid torrent's info_hash() is the truncated v2 hash.
    files = lt.list_files(str(folder / "payload.bin"))
    creator = lt.create_torrent(files, PIECE_LENGTH, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(folder))
    return lt.torrent_info(creator.generate()), data


class Adapter:
    """Just enough blocking I/O around a PeerConnection for a test."""

    def __init__(self, sock: socket.socket, conn: PeerConnection) -> None:
        self.sock, self.conn = sock, conn
        self.pending: list[Any] = []
        self.skipped: list[Any] = []  # events passed over by until(), replayed by next()
        self.flush()

    def flush(self) -> None:
        if out := self.conn.data_to_send():
            self.sock.sendall(out)

    def send(self, message: Any) -> None:
        self.sock.sendall(self.conn.send(message))

    def next(self) -> Any:
        if self.skipped:
            return self.skipped.pop(0)
        return self._read()

    def _read(self) -> Any:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("libtorrent closed the connection")
            self.conn.receive_data(data)
            self.pending += self.conn.events()
            self.flush()
        return self.pending.pop(0)

    def until(self, kind: type) -> Any:
        while not isinstance(event := self._read(), kind):
            self.skipped.append(event)
        return event


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_metadata_and_pieces_from_libtorrent(tmp_path: Path, fast: bool) -> None:
    info, payload = make_torrent(tmp_path)
    info_hash = info.info_hashes().v1.to_bytes()
    session = lt_session()
    params = lt.add_torrent_params()
    params.ti, params.save_path, params.flags = info, str(tmp_path), lt.torrent_flags.seed_mode
    handle = session.add_torrent(params)
    # An incoming connection is dropped until the torrent has started.
    wait_until(lambda: handle.status().state == lt.torrent_status.seeding, session)
    port = session.listen_port()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        conn = PeerConnection(
            b"-SS0001-" + bytes(12), info_hash, num_pieces=None, dht=True, fast=fast
        )
        peer = Adapter(sock, conn)
        hs = peer.until(HandshakeReceived)
        assert hs.extensions and hs.fast == fast and hs.info_hash == info_hash
        peer.send(ExtensionHandshake(m={UT_METADATA: 3}, v="swarmseek-test"))
        ext = peer.until(ExtensionHandshakeReceived).handshake
        assert UT_METADATA in ext.m and ext.metadata_size

        # BEP 9, as for a magnet link: fetch the info dictionary and verify it.
        assembler = MetadataAssembler(info_hash)
        assembler.set_size(ext.metadata_size)
        for piece in range(assembler.num_pieces):
            peer.send(MetadataRequest(piece))
        info_bytes = None
        while info_bytes is None:
            data = peer.until(MetadataDataReceived)
            info_bytes = assembler.add_piece(
                "lt", MetadataData(data.piece, data.total_size, data.data)
            )
        info_dict = decode(info_bytes)
        hashes = info_dict[b"pieces"]
        num_pieces = len(hashes) // 20
        conn.set_num_pieces(num_pieces)

        # Pieces, picked by the picker, every one hash-checked.
        picker = PiecePicker(num_pieces, PIECE_LENGTH, SIZE, rng=random.Random(1))
        picker.add_peer("lt")
        buffers = {i: bytearray(picker.piece_size(i)) for i in range(num_pieces)}
        peer.send(Interested())
        outstanding: set[Block] = set()
        while not picker.complete:
            if not conn.peer_choking and len(outstanding) < 16:
                for block in picker.pick("lt", 16 - len(outstanding)):
                    peer.send(Request(block.piece, block.offset, block.length))
                    outstanding.add(block)
            event = peer.next()
            if isinstance(event, HaveAllReceived):
                picker.peer_has_all("lt")
            elif isinstance(event, BitfieldReceived):
                for piece in event.bitfield:
                    if piece < num_pieces:
                        picker.peer_has("lt", piece)
            elif isinstance(event, HaveReceived):
                picker.peer_has("lt", event.piece)
            elif isinstance(event, RejectReceived | PeerChoked):
                blocks = [
                    Block(r.piece, r.offset, r.length) for r in getattr(event, "cancelled", ())
                ]
                if isinstance(event, RejectReceived):
                    blocks = [Block(event.piece, event.offset, event.length)]
                for block in blocks:
                    picker.abort("lt", block)
                    outstanding.discard(block)
            elif isinstance(event, BlockReceived):
                block = Block(event.piece, event.offset, len(event.data))
                outstanding.discard(block)
                if picker.block_received("lt", block).accepted:
                    buffers[block.piece][block.offset : block.offset + block.length] = event.data
                    if picker.block_written(block):
                        digest = hashlib.sha1(buffers[block.piece]).digest()
                        assert digest == hashes[20 * block.piece : 20 * block.piece + 20]
                        picker.piece_passed(block.piece)
            # PeerUnchoked, AllowedFastReceived...: the loop's next round acts on them.
            picker.check_invariant()
        assert b"".join(bytes(buffers[i]) for i in range(num_pieces)) == payload
    finally:
        sock.close()
        del session


def test_libtorrent_downloads_magnet_from_us(tmp_path: Path) -> None:
    """We seed: serve BEP 9 metadata to a magnet-only libtorrent, then every block."""
    (tmp_path / "src").mkdir()
    info, payload = make_torrent(tmp_path / "src")
    info_hash = info.info_hashes().v1.to_bytes()
    info_bytes = info.info_section()

    session = lt_session()
    params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{info_hash.hex()}")
    params.save_path = str(tmp_path / "dl")
    handle = session.add_torrent(params)
    # An incoming connection is dropped until the torrent has started.
    wait_for_alert(session, lambda a: isinstance(a, lt.torrent_resumed_alert))
    sock = socket.create_connection(("127.0.0.1", session.listen_port()), timeout=30)
    try:
        num_pieces = info.num_pieces()
        conn = PeerConnection(b"-SS0001-" + b"s" * 12, info_hash, num_pieces=num_pieces)
        peer = Adapter(sock, conn)
        hs = peer.until(HandshakeReceived)
        assert hs.fast and hs.extensions
        peer.send(ExtensionHandshake(m={UT_METADATA: 2}, metadata_size=len(info_bytes)))
        peer.send(HaveAll())
        pieces = metadata_pieces(info_bytes)
        served = 0
        while True:
            try:
                event = peer.next()
            except AssertionError:  # libtorrent hung up: it has everything
                break
            if isinstance(event, MetadataRequestReceived):
                peer.send(MetadataData(event.piece, len(info_bytes), pieces[event.piece]))
            elif isinstance(event, PeerInterested) and conn.am_choking:
                peer.send(Unchoke())
            elif isinstance(event, RequestReceived):
                start = event.piece * PIECE_LENGTH + event.offset
                peer.send(Piece(event.piece, event.offset, payload[start : start + event.length]))
                served += 1
        assert served == sum(-(-info.piece_size(i) // 16384) for i in range(num_pieces))
        # libtorrent verified every piece's SHA-1 before it hung up on a fellow seed.
        wait_until(lambda: handle.status().is_seeding, session)
        target = tmp_path / "dl" / "payload.bin"
        wait_until(lambda: target.exists() and target.read_bytes() == payload, session)
    finally:
        sock.close()
        del session
