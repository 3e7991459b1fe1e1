"""Blocks into pieces: assembling what peers send, and what a hash check decides.

A mixin of :class:`~swarmseek.transfer.torrent.Torrent`. Blocks arrive a read's worth
at a time (``on_blocks``, views of the connection's receive buffer) and are copied
once, into their piece's buffer. A block that only its sender was asked for takes the
picker's fast path (``PiecePicker.take_requested``); anything else (endgame
duplicates, unsolicited or late blocks) goes through ``block_received`` with its
cancels. A complete piece is queued for hashing and writing off the loop
(``TorrentIO``); ``piece_verified`` then counts it, or reopens it and bans.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from . import wire_events as ev
from .peer import Peer
from .picker import Block
from .wire_messages import Cancel, Have
from .wire_send import BorrowedBlock

if TYPE_CHECKING:
    from .metainfo import Info
    from .picker import PiecePicker
    from .torrent_io import Senders

log = logging.getLogger(__name__)


class TorrentBlocks:
    """Piece assembly and verification results (see the module docstring)."""

    if TYPE_CHECKING:
        info: Info | None
        name: str
        picker: PiecePicker | None
        peers: list[Peer]
        downloaded: int
        verified_bytes: int
        _uncommitted: bool
        _tg: asyncio.TaskGroup | None
        _buffers: dict[int, memoryview]
        _suspects: dict[int, dict[int, tuple[bytes, tuple[str, int], bytes]]]

        def queue_piece(self, piece: int, buf: memoryview, senders: Senders) -> None: ...

        def piece_buffer(self, size: int) -> memoryview: ...

        def ban(self, peer_id: bytes, address: tuple[str, int], reason: str) -> None: ...

        def _update_interest(self, peer: Peer) -> None: ...

        def _refill_all(self) -> None: ...

        async def _on_complete(self) -> None: ...

    def on_blocks(self, peer: Peer, blocks: list[BorrowedBlock]) -> None:
        """The blocks of one read from ``peer`` (valid only during this call)."""
        picker = self.picker
        total = 0
        for piece, offset, data, solicited in blocks:
            size = len(data)
            total += size
            if picker is None:
                continue
            done = picker.take_requested(peer, piece, offset, size) if solicited else -1
            if done < 0:  # not the plain case: the general path
                self._block(peer, piece, offset, data)
                if peer.closed:
                    break
                continue
            buf = self._buffers.get(piece)
            if buf is None:
                buf = self._buffers[piece] = self.piece_buffer(picker.piece_size(piece))
            buf[offset : offset + size] = data
            if done:
                self._piece_complete(piece)
        self._count_blocks(peer, total)

    def on_block(self, peer: Peer, e: ev.BlockReceived) -> None:
        """One block as an event (the connection's generic path)."""
        self._count_blocks(peer, len(e.data))
        if self.picker is not None:
            self._block(peer, e.piece, e.offset, e.data)

    def _count_blocks(self, peer: Peer, size: int) -> None:
        peer.downloaded += size
        peer.rate_bytes_down += size
        self.downloaded += size
        peer.last_block_at = peer.last_received_at
        peer.snubbed = False

    def _block(self, peer: Peer, piece: int, offset: int, data: bytes | memoryview) -> None:
        picker = self.picker
        assert picker is not None
        block = Block(piece, offset, len(data))
        receipt = picker.block_received(peer, block)
        for other, dup in receipt.cancels:
            if isinstance(other, Peer) and dup in other.conn.our_requests:
                other.send(Cancel(dup.piece, dup.offset, dup.length))
                other.flush()
        if not receipt.accepted:
            return
        buf = self._buffers.get(piece)
        if buf is None:
            buf = self._buffers[piece] = self.piece_buffer(picker.piece_size(piece))
        buf[offset : offset + len(data)] = data
        if picker.block_written(block):
            self._piece_complete(piece)

    def _piece_complete(self, piece: int) -> None:
        assert self.picker is not None
        self.queue_piece(piece, self._buffers.pop(piece), self.picker.senders(piece))

    def piece_verified(
        self,
        piece: int,
        ok: bool,
        blocks: list[bytes] | None,
        senders: Senders,
    ) -> None:
        """A hash/write job ended (on the loop)."""
        picker, info = self.picker, self.info
        assert picker is not None and info is not None
        if ok:
            self._piece_passed(piece, blocks)
            return
        picker.piece_failed(piece)
        # Who sent each block (by offset): peers are named by id and address, which
        # outlive their connections.
        who = {
            index * picker.block_size: (s.conn.remote.peer_id if s.conn.remote else b"", s.address)
            for index, s in enumerate(senders)
            if isinstance(s, Peer)
        }
        named = set(who.values())
        log.info("%s: piece %d failed its hash check (%d senders)", self.name, piece, len(named))
        if len(named) == 1:
            peer_id, address = next(iter(named))
            self.ban(peer_id, address, f"sent piece {piece} that failed its hash check")
        elif blocks is not None:
            record = self._suspects.setdefault(piece, {})
            for offset, (peer_id, address) in who.items():
                record[offset] = (peer_id, address, blocks[offset // picker.block_size])
        self._refill_all()

    def _piece_passed(self, piece: int, blocks: list[bytes] | None) -> None:
        picker, info = self.picker, self.info
        assert picker is not None and info is not None
        picker.piece_passed(piece)
        self.verified_bytes += info.piece_size(piece)
        self._uncommitted = True
        suspects = self._suspects.pop(piece, None)
        if suspects and blocks is not None:
            self._smart_ban(piece, suspects, blocks)
        for peer in self.peers:
            if not peer.handshaken:
                continue
            if peer.seed:
                # A seed needs nothing from us: the have goes out with the next write
                # to it (or the next tick), not as a write and a wake-up of its own.
                peer.send_lazily(Have(piece))
                continue
            peer.send(Have(piece))
            if peer.conn.am_interested:
                self._update_interest(peer)
            peer.flush()
        if picker.complete:
            assert self._tg is not None
            self._tg.create_task(self._on_complete())

    def _smart_ban(
        self,
        piece: int,
        suspects: dict[int, tuple[bytes, tuple[str, int], bytes]],
        good: list[bytes],
    ) -> None:
        assert self.picker is not None
        for offset, (peer_id, address, digest) in suspects.items():
            if good[offset // self.picker.block_size] != digest:
                self.ban(peer_id, address, f"sent a bad block of piece {piece}")
