"""The threads side of a torrent: hashing and writing pieces, reading blocks to upload.

A mixin of :class:`~swarmseek.transfer.torrent.Torrent`. Work leaves the event loop
in batches through ``asyncio.to_thread`` from tasks of the torrent's TaskGroup:
``disk_workers`` tasks take complete pieces from a queue (SHA-1 then one ``pwrite``
per piece), one task serves upload requests (many ``pread`` calls per thread hop).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from . import trace
from .directio import aligned_buffer
from .wire_messages import Request

if TYPE_CHECKING:
    from .metainfo import Info
    from .peer import Peer
    from .picker import PiecePicker
    from .storage import PieceStorage
    from .swarm_config import SessionConfig

log = logging.getLogger(__name__)

# Who sent each block of a piece, by block index (None: nobody, or not a peer).
Senders = list[Any]
# Upload batches: at most this many blocks read per thread hop, per peer per round.
UPLOAD_BATCH = 256
UPLOAD_PER_PEER = 64
# Piece buffers kept for reuse once hashed and written: about what is assembled and
# queued at once with a few fast peers (a 1 GiB download then allocates a few dozen).
SPARE_BYTES = 32 << 20


class TorrentIO:
    """Disk queue and upload worker (see the module docstring)."""

    if TYPE_CHECKING:
        info: Info | None
        picker: PiecePicker | None
        storage: PieceStorage | None
        peers: list[Peer]
        config: SessionConfig
        name: str
        uploaded: int
        _suspects: dict[int, dict[int, tuple[bytes, tuple[str, int], bytes]]]

        def piece_verified(
            self, piece: int, ok: bool, blocks: list[bytes] | None, senders: Senders
        ) -> None: ...

        def fail(self, message: str) -> None: ...

    def __init__(self) -> None:
        self._disk_queue: asyncio.Queue[tuple[int, memoryview, Senders]] = asyncio.Queue()
        self._queued_at: dict[int, float] = {}  # only while tracing
        self._spare: list[memoryview] = []  # piece buffers back from the disk workers
        self._disk_bytes = 0
        self._reading_paused = False
        self._upload_wake = asyncio.Event()

    def start_io(self, tg: asyncio.TaskGroup) -> list[asyncio.Task[Any]]:
        tasks = [tg.create_task(self._disk_worker()) for _ in range(self.config.disk_workers)]
        tasks.append(tg.create_task(self._upload_worker()))
        return tasks

    @property
    def disk_backlog(self) -> int:
        """Bytes of complete pieces waiting to be hashed and written."""
        return self._disk_bytes

    # ------------------------------------------------------------------ disk
    def piece_buffer(self, size: int) -> memoryview:
        """A buffer to assemble a piece of ``size`` bytes in (every byte is written
        before it is hashed: a reused one needs no zeroing, and no fresh pages). Its
        memory is page-aligned, so storage can write it without the page cache."""
        if self._spare and len(self._spare[-1]) == size:
            return self._spare.pop()
        return aligned_buffer(size)

    def _recycle(self, buf: memoryview) -> None:
        assert self.info is not None
        if len(buf) == self.info.piece_length and len(self._spare) * len(buf) < SPARE_BYTES:
            self._spare.append(buf)

    def queue_piece(self, piece: int, buf: memoryview, senders: Senders) -> None:
        self._disk_queue.put_nowait((piece, buf, senders))
        if trace.TRACER is not None:
            self._queued_at[piece] = trace.TRACER.now()
        self._disk_bytes += len(buf)
        if not self._reading_paused and self._disk_bytes > self.config.disk_high_water:
            self._reading_paused = True
            log.debug("%s: disk queue %d bytes: pausing reads", self.name, self._disk_bytes)
            for peer in self.peers:
                peer.proto.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if self._reading_paused and self._disk_bytes < self.config.disk_low_water:
            self._reading_paused = False
            log.debug("%s: disk queue drained: resuming reads", self.name)
            for peer in self.peers:
                peer.proto.resume_reading()

    async def _disk_worker(self) -> None:
        while True:
            piece, buf, senders = await self._disk_queue.get()
            # Block digests (for a smart ban) are needed when the piece fails, or passes
            # after an earlier failure: not for every piece with several senders.
            suspect = piece in self._suspects
            try:
                ok, blocks = await asyncio.to_thread(self._hash_and_write, piece, buf, suspect)
            except OSError as exc:
                self.fail(f"cannot write piece {piece}: {exc.strerror or exc}")
                return
            finally:
                self._disk_bytes -= len(buf)
                self._maybe_resume_reading()
            self._recycle(buf)
            self.piece_verified(piece, ok, blocks, senders)

    def _hash_and_write(
        self, piece: int, buf: memoryview, suspect: bool
    ) -> tuple[bool, list[bytes] | None]:
        """In a worker thread: SHA-1 the piece; write it only if it matches."""
        assert self.info is not None and self.storage is not None
        tracer = trace.TRACER
        began = tracer.now() if tracer is not None else 0.0
        ok = hashlib.sha1(buf).digest() == self.info.piece_hash(piece)
        blocks = _block_digests(buf) if suspect or not ok else None
        hashed = tracer.now() if tracer is not None else 0.0
        if ok:
            self.storage.write_block(piece, 0, buf)
        if tracer is not None:
            queued = began - self._queued_at.pop(piece, began)
            done = tracer.now()
            tracer.event(
                "piece",
                piece=piece,
                queued=round(queued, 5),
                hash=round(hashed - began, 5),
                write=round(done - hashed, 5),
            )
        return ok, blocks

    # ---------------------------------------------------------------- upload
    def upload_ready(self, peer: Peer) -> None:
        self._upload_wake.set()

    async def _upload_worker(self) -> None:
        while True:
            await self._upload_wake.wait()
            self._upload_wake.clear()
            batch: list[tuple[Peer, Request]] = []
            for peer in list(self.peers):
                queue = peer.upload_queue
                taken = 0
                while queue and taken < UPLOAD_PER_PEER and len(batch) < UPLOAD_BATCH:
                    if peer.closed or not peer.proto.writable:
                        break
                    request = queue.popleft()
                    if request in peer.conn.peer_requests:
                        batch.append((peer, request))
                        taken += 1
            if not batch or self.storage is None:
                continue
            try:
                datas = await asyncio.to_thread(self._read_blocks, [r for _, r in batch])
            except OSError as exc:
                log.warning("%s: cannot read blocks to upload: %s", self.name, exc)
                continue
            touched: dict[Peer, None] = {}
            for (peer, request), data in zip(batch, datas, strict=True):
                if not peer.closed and request in peer.conn.peer_requests:
                    peer.send_block(request, data)
                    peer.count_up(len(data))
                    self.uploaded += len(data)
                    touched[peer] = None
            for peer in touched:
                peer.flush()
            if any(p.upload_queue and p.proto.writable for p in self.peers):
                self._upload_wake.set()

    def _read_blocks(self, requests: list[Request]) -> list[bytes]:
        storage = self.storage
        assert storage is not None
        return [storage.read_block(r.piece, r.offset, r.length) for r in requests]


def _block_digests(buf: memoryview, block_size: int = 16384) -> list[bytes]:
    return [hashlib.sha1(buf[i : i + block_size]).digest() for i in range(0, len(buf), block_size)]
