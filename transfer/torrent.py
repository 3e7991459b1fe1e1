"""One torrent's download and seed controller (the asyncio side of picker and choker).

Pieces are assembled in memory as blocks arrive (one page-aligned buffer per partial
piece), then hashed and written with one ``pwrite`` in a worker thread (around the page
cache where it can: ``directio.py``): SHA-1 and ``os.pwrite``
release the GIL, so the event loop keeps moving bytes while a piece is verified, and a
piece is written to disk only once it is known good. Only then does the picker count
it, a ``have`` go out, and a later resume commit record it (flush first). A deep disk
queue pauses every peer's reads (high/low water marks).

Bans: a failed piece sent by one peer bans that peer; a piece with several senders is
remembered block by block and, once the piece passes, the senders whose blocks differ
from the good data are banned (libtorrent's smart ban). Honest co-senders are never
banned. On loopback every peer shares one IP, so bans are by peer id and address.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from pathlib import Path

from . import trace
from . import wire_events as ev
from .choker import Choker, PeerStats, desired_queue_depth
from .errors import MetainfoError, StorageError
from .metadata import (
    MetadataAssembler,
)
from .metainfo import Info, InfoHash
from .peer import HANDLERS, Peer
from .picker import Block, PiecePicker
from .resume import ResumeStore
from .storage import DiskStorage, PieceStorage, data_paths
from .swarm_config import SessionConfig, TorrentState, TorrentStatus
from .torrent_blocks import TorrentBlocks
from .torrent_io import TorrentIO
from .torrent_peers import TorrentPeers
from .verify import verify_async
from .wire_messages import (
    BLOCK_SIZE,
    MAX_METADATA_SIZE,
    Cancel,
    Choke,
    KeepAlive,
    NotInterested,
    Unchoke,
)

log = logging.getLogger(__name__)
METADATA_REQUESTS_PER_PEER = 2
# Strict end game: at most this many blocks already requested elsewhere are asked of
# an idle peer at once (libtorrent's strict_end_game_mode asks for one at a time).
ENDGAME_REQUESTS = 16
# Have messages remembered before the piece count is known: the most pieces metadata
# of MAX_METADATA_SIZE can describe (20 bytes of hash each).
MAX_EARLY_HAVES = MAX_METADATA_SIZE // 20
StorageFactory = Callable[[Info, Path], PieceStorage]


class Torrent(TorrentPeers, TorrentBlocks, TorrentIO):
    """A torrent in a session; the session's TaskGroup runs ``run()``."""

    def __init__(
        self,
        info_hash: InfoHash,
        *,
        config: SessionConfig,
        peer_id: bytes,
        save_path: Path,
        info: Info | None = None,
        name: str | None = None,
        resume: ResumeStore | None = None,
        seed_mode: bool = False,
        storage_factory: StorageFactory | None = None,
        rng: random.Random | None = None,
        listen_port: Callable[[], int] = lambda: 0,
    ) -> None:
        super().__init__()
        self.info_hash = info_hash
        self.config = config
        self.peer_id = peer_id
        self.save_path = Path(save_path)
        self.info = info
        self.name = name or (info.name if info else info_hash.hex())
        self.resume = resume
        self.seed_mode = seed_mode
        self.storage_factory = storage_factory
        self.rng = rng or random.Random()
        self.listen_port = listen_port
        self.loop = asyncio.get_running_loop()
        self.state = TorrentState.METADATA if info is None else TorrentState.CHECKING
        self.error: str | None = None
        self.picker: PiecePicker | None = None
        self.storage: PieceStorage | None = None
        self.peers: list[Peer] = []
        self.choker = Choker(
            self.rng,
            slots=config.upload_slots,
            interval=config.rechoke_interval,
            optimistic_interval=config.optimistic_interval,
        )
        self.verified_bytes = 0
        self.downloaded = 0
        self.uploaded = 0
        self.finished = asyncio.Event()  # complete and committed, or failed (see error)
        self.metadata_ready = asyncio.Event()
        self.dht_announced = asyncio.Event()
        self.tracker_announced = asyncio.Event()
        self.banned = asyncio.Event()  # set at every ban (tests and the API watch it)
        self.connections = {"encrypted": 0, "plaintext": 0}
        self._assembler = MetadataAssembler(info_hash)
        self._metadata_chunks: list[bytes] = []
        self._buffers: dict[int, memoryview] = {}
        self._candidates: dict[tuple[str, int], None] = {}
        self._failed_at: dict[tuple[str, int], tuple[float, int]] = {}  # when, failures
        self._connecting = 0
        self._wake_connector = asyncio.Event()
        self._stop = asyncio.Event()
        self._paused = False
        self._banned_ids: set[bytes] = set()
        self._banned_addrs: set[tuple[str, int]] = set()
        self._suspects: dict[int, dict[int, tuple[bytes, tuple[str, int], bytes]]] = {}
        self._uncommitted = False
        self._tg: asyncio.TaskGroup | None = None
        self.total_length: int | None = info.total_length if info else None

    # ----------------------------------------------------------------- basics
    def now(self) -> float:
        return self.loop.time()

    @property
    def complete(self) -> bool:
        return self.picker is not None and self.picker.complete

    def status(self) -> TorrentStatus:
        rate = sum(p.download_rate for p in self.peers)
        left = None if self.total_length is None else self.total_length - self.verified_bytes
        eta = None if left is None or rate <= 0 else left / rate
        return TorrentStatus(
            info_hash=self.info_hash.hex(),
            name=self.name,
            state=self.state.value,
            total_bytes=self.total_length,
            verified_bytes=self.verified_bytes,
            download_rate=rate,
            upload_rate=sum(p.upload_rate for p in self.peers),
            peers=len(self.peers),
            seeds=sum(1 for p in self.peers if p.seed),
            eta=0.0 if left == 0 else eta,
            uploaded=self.uploaded,
            downloaded=self.downloaded,
            error=self.error,
        )

    def _set_state(self, state: TorrentState) -> None:
        if state is not self.state:
            log.debug("%s: %s -> %s", self.name, self.state.value, state.value)
            self.state = state

    # -------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        """Run until ``stop()``: connect, download, seed; commit resume data at the end."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                trace.mark("run")
                tasks = [tg.create_task(self._tick_loop()), tg.create_task(self._connector())]
                tasks += self.start_io(tg)
                if trace.TRACER is not None:
                    tasks.append(tg.create_task(trace.TRACER.sample(self)))
                if self.info is not None:
                    await self._start_pieces(self.info)
                await self._stop.wait()
                for peer in list(self.peers):
                    peer.close("torrent stopped")
                for task in tasks:
                    task.cancel()
        finally:
            await self._commit()
            if self.storage is not None:
                await asyncio.to_thread(self.storage.close)
            if trace.TRACER is not None:
                trace.TRACER.event("closed")
            if self.state is not TorrentState.ERROR:
                self._set_state(TorrentState.STOPPED)
            self.finished.set()

    def stop(self) -> None:
        self._stop.set()

    def pause(self) -> None:
        self._paused = True
        for peer in list(self.peers):
            peer.close("paused")
        self._set_state(TorrentState.PAUSED)

    def resume_download(self) -> None:
        self._paused = False
        if self.info is None:
            self._set_state(TorrentState.METADATA)
        else:
            self._set_state(TorrentState.SEEDING if self.complete else TorrentState.DOWNLOADING)
        self._failed_at.clear()
        self._wake_connector.set()

    def fail(self, message: str) -> None:
        log.error("%s: %s", self.name, message)
        self.error = message
        self._set_state(TorrentState.ERROR)
        self.finished.set()
        self._stop.set()

    async def _start_pieces(self, info: Info) -> None:
        self._set_state(TorrentState.CHECKING)
        self.total_length = info.total_length
        try:
            if self.storage_factory is not None:
                self.storage = self.storage_factory(info, self.save_path)
            else:
                self.storage = DiskStorage(info, self.save_path, direct=self.config.direct_io)
            if self.seed_mode:
                have = [True] * info.num_pieces
            else:
                result = await verify_async(info, self.save_path, resume=self.resume)
                have = list(result.have)
            if isinstance(self.storage, DiskStorage):
                await asyncio.to_thread(self.storage.create_empty_files)
        except (OSError, MetainfoError) as exc:
            self.fail(f"cannot use {self.save_path}: {exc}")
            return
        trace.mark("checked")
        picker = PiecePicker(info.num_pieces, info.piece_length, info.total_length, rng=self.rng)
        for piece, ok in enumerate(have):
            if ok:
                picker.we_have(piece)
                self.verified_bytes += info.piece_size(piece)
        self.picker = picker
        log.debug("%s: %d of %d pieces on disk", self.name, len(picker.have), info.num_pieces)
        for peer in list(self.peers):
            self._peer_learns_geometry(peer, info)
        if picker.complete:
            await self._on_complete()
        else:
            self._set_state(TorrentState.DOWNLOADING)
        self._wake_connector.set()

    async def _on_complete(self) -> None:
        self._set_state(TorrentState.SEEDING)
        if trace.TRACER is not None:
            trace.TRACER.event("complete")
        await self._commit()
        log.info("%s: complete, %d bytes verified", self.name, self.verified_bytes)
        for peer in list(self.peers):
            if peer.conn.am_interested:
                peer.send(NotInterested())
                peer.flush()
            if peer.seed:
                peer.close("both seeds")
        self.finished.set()
        self.on_completed()

    def on_completed(self) -> None:
        """Hook for peer sources (tracker 'completed')."""

    async def _commit(self) -> None:
        picker, storage, info = self.picker, self.storage, self.info
        if self.resume is None or picker is None or storage is None or info is None:
            return
        if self.seed_mode or (not self._uncommitted and self.state is not TorrentState.SEEDING):
            return
        self._uncommitted = False
        have = [p in picker.have for p in range(info.num_pieces)]
        paths = data_paths(info, self.save_path)
        began = self.now()
        try:
            await asyncio.to_thread(self.resume.commit, info.infohash, have, storage, paths)
        except (OSError, StorageError) as exc:
            log.warning("%s: resume commit failed: %s", self.name, exc)
        if trace.TRACER is not None:
            trace.TRACER.event("commit", seconds=round(self.now() - began, 4))

    # ----------------------------------------------------------- downloading
    def after_events(self, peer: Peer) -> None:
        """Top up ``peer``'s request pipeline (called after each read)."""
        picker = self.picker
        conn = peer.conn
        if picker is None or conn.peer_choking or not conn.am_interested or self._paused:
            return
        depth = desired_queue_depth(
            peer.download_rate,
            minimum=self.config.min_queue_depth,
            snubbed=peer.snubbed,
            received=peer.downloaded // BLOCK_SIZE,
        )
        want = depth - len(conn.our_requests)
        if want < max(1, depth // 2):
            # Request in batches: fewer, larger writes. Each write wakes a seeder, which
            # on a busy machine takes the CPU from us there and then; half the queue
            # (1.5 s of data at the peer's rate) is still in flight when we top it up.
            return
        idle = not conn.our_requests
        if idle:
            peer.requested_at = self.now()
        # Strict end game (libtorrent's default): blocks already requested from another
        # peer only go to a peer with nothing else in flight, a few at a time, so fast
        # peers do not all download the last megabytes twice.
        blocks = picker.pick(peer, want, endgame=ENDGAME_REQUESTS if idle else 0)
        if blocks:
            peer.send_requests(blocks)

    def _refill_all(self) -> None:
        for peer in list(self.peers):
            if not peer.closed and peer.handshaken:
                self.after_events(peer)
                peer.flush()

    # ------------------------------------------------------------------ ticks
    async def _tick_loop(self) -> None:
        last = self.now()
        last_commit = last
        while True:
            await asyncio.sleep(self.config.tick)
            now = self.now()
            self._housekeeping(now, now - last)
            last = now
            if self._uncommitted and now - last_commit >= self.config.resume_interval:
                last_commit = now
                await self._commit()

    def _housekeeping(self, now: float, elapsed: float) -> None:
        cfg = self.config
        for peer in list(self.peers):
            peer.update_rates(elapsed)
            if not peer.handshaken and now - peer.connected_at > cfg.handshake_timeout:
                peer.close("no handshake in time")
                continue
            if now - peer.last_received_at > cfg.idle_timeout:
                peer.close("idle")
                continue
            self._check_requests(peer, now)
            if peer.handshaken and now - peer.last_sent_at > cfg.keepalive_interval:
                peer.send(KeepAlive())
            peer.flush(lazy=True)
        if self.choker.due(now):
            self.rechoke()
        if self.info is None:
            for peer in self.peers:
                self._request_metadata(peer)
                peer.flush()
        self._wake_connector.set()

    def _check_requests(self, peer: Peer, now: float) -> None:
        conn = peer.conn
        if not conn.our_requests or self.picker is None:
            return
        since = max(peer.last_block_at or 0.0, peer.requested_at)
        if now - since < self.config.request_timeout:
            return
        log.debug("%s: %s timed out on %d requests", self.name, peer, len(conn.our_requests))
        peer.snubbed = True
        for request in list(conn.our_requests):
            self.picker.abort(peer, Block(request.piece, request.offset, request.length))
            peer.send(Cancel(request.piece, request.offset, request.length))
        peer.requested_at = now
        self._refill_all()

    def rechoke(self) -> None:
        now = self.now()
        stats = [
            PeerStats(
                p, p.conn.peer_interested, p.download_rate, p.upload_rate, p.connected_at, p.snubbed
            )
            for p in self.peers
            if p.handshaken and not p.closed
        ]
        decision = self.choker.rechoke(now, stats, seeding=self.complete)
        for peer in decision.unchoke:
            assert isinstance(peer, Peer)
            if peer.conn.am_choking:
                peer.send(Unchoke())
                peer.flush()
        for peer in decision.choke:
            assert isinstance(peer, Peer)
            if not peer.conn.am_choking and not peer.closed:
                peer.send(Choke())
                peer.upload_queue.clear()
                peer.flush()


HANDLERS.update(
    {
        ev.HandshakeReceived: Torrent.on_handshake,
        ev.BitfieldReceived: Torrent.on_bitfield,
        ev.HaveReceived: Torrent.on_have,
        ev.HaveAllReceived: Torrent.on_have_all,
        ev.HaveNoneReceived: Torrent.on_have_none,
        ev.PeerChoked: Torrent.on_choked,
        ev.PeerUnchoked: Torrent.on_unchoked,
        ev.PeerInterested: Torrent.on_interest,
        ev.PeerNotInterested: Torrent.on_interest,
        ev.BlockReceived: Torrent.on_block,
        ev.RejectReceived: Torrent.on_reject,
        ev.RequestReceived: Torrent.on_request,
        ev.CancelReceived: Torrent.on_cancel,
        ev.AllowedFastReceived: Torrent.on_allowed_fast,
        ev.ExtensionHandshakeReceived: Torrent.on_extension_handshake,
        ev.MetadataRequestReceived: Torrent.on_metadata_request,
        ev.MetadataDataReceived: Torrent.on_metadata_data,
        ev.MetadataRejectReceived: Torrent.on_metadata_reject,
    }
)
