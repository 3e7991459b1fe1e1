"""One torrent's download and seed controller (the asyncio side of picker and choker).

Pieces are assembled in memory as blocks arrive (one bytearray per partial piece), then
hashed and written with one ``pwrite`` in a worker thread: SHA-1 and ``os.pwrite``
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

from . import wire_events as ev
from .choker import Choker, PeerStats, desired_queue_depth
from .errors import MetadataHashMismatch, MetainfoError, ProtocolError, StorageError
from .extension import UT_METADATA, ExtensionHandshake
from .metadata import (
    MetadataAssembler,
    MetadataData,
    MetadataReject,
    MetadataRequest,
    metadata_pieces,
)
from .metainfo import Info, InfoHash
from .peer import HANDLERS, Peer
from .peer_io import PeerConnectError, PeerProtocol, Timeouts, open_peer
from .picker import Block, PiecePicker
from .resume import ResumeStore
from .storage import DiskStorage, PieceStorage, data_paths
from .swarm_config import SessionConfig, TorrentState, TorrentStatus
from .torrent_io import TorrentIO
from .verify import verify_async
from .wire import PeerConnection
from .wire_messages import (
    MAX_METADATA_SIZE,
    BitfieldMessage,
    Cancel,
    Choke,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    NotInterested,
    Reject,
    Request,
    Unchoke,
)

log = logging.getLogger(__name__)
METADATA_REQUESTS_PER_PEER = 2
# Have messages remembered before the piece count is known: the most pieces metadata
# of MAX_METADATA_SIZE can describe (20 bytes of hash each).
MAX_EARLY_HAVES = MAX_METADATA_SIZE // 20
StorageFactory = Callable[[Info, Path], PieceStorage]


class Torrent(TorrentIO):
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
        self._buffers: dict[int, bytearray] = {}
        self._candidates: dict[tuple[str, int], None] = {}
        self._failed_at: dict[tuple[str, int], float] = {}
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
                tasks = [tg.create_task(self._tick_loop()), tg.create_task(self._connector())]
                tasks += self.start_io(tg)
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
                self.storage = DiskStorage(info, self.save_path)
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
        try:
            await asyncio.to_thread(self.resume.commit, info.infohash, have, storage, paths)
        except (OSError, StorageError) as exc:
            log.warning("%s: resume commit failed: %s", self.name, exc)

    # ------------------------------------------------------------- connecting
    def add_peers(self, addresses: list[tuple[str, int]]) -> None:
        """Addresses from a tracker, the DHT or the user; connected to when there is room."""
        for address in addresses:
            if address not in self._banned_addrs:
                self._candidates.setdefault(address, None)
        self._wake_connector.set()

    def _want_connections(self) -> bool:
        if self._paused or self._stop.is_set() or self.state is TorrentState.ERROR:
            return False
        return len(self.peers) + self._connecting < self.config.max_peers_per_torrent

    async def _connector(self) -> None:
        assert self._tg is not None
        while True:
            await self._wake_connector.wait()
            self._wake_connector.clear()
            now = self.now()
            connected = {p.address for p in self.peers}
            for address in list(self._candidates):
                if not self._want_connections() or self._connecting >= self.config.max_half_open:
                    break
                if self.complete and self.state is TorrentState.SEEDING and not self.seed_mode:
                    pass  # seeds still connect: leechers may need us
                failed = self._failed_at.get(address)
                if address in connected or (failed and now - failed < self.config.retry_interval):
                    continue
                del self._candidates[address]
                self._connecting += 1
                self._tg.create_task(self._connect(address))

    async def _connect(self, address: tuple[str, int]) -> None:
        try:
            info = self.info
            conn = PeerConnection(
                self.peer_id,
                self.info_hash,
                num_pieces=info.num_pieces if info else None,
                piece_length=info.piece_length if info else None,
                total_length=info.total_length if info else None,
            )
            log.debug("%s: connecting to %s:%s", self.name, *address)
            proto = await open_peer(
                address[0],
                address[1],
                self.info_hash,
                conn.data_to_send(),
                policy=self.config.encryption,
                rng=self.rng,
                timeouts=Timeouts(self.config.connect_timeout, self.config.handshake_timeout),
            )
        except PeerConnectError as exc:
            log.debug("%s: %s", self.name, exc)
            self._failed_at[address] = self.now()
            self._candidates.setdefault(address, None)
            return
        finally:
            self._connecting -= 1
            self._wake_connector.set()
        if self._stop.is_set() or (not self._want_connections() and not proto.closed):
            proto.close("not wanted")
            return
        proto.address = address
        self._add_peer(proto, conn, outgoing=True)

    def attach_incoming(self, proto: PeerProtocol) -> bool:
        """The listener identified this torrent for ``proto``."""
        if not self._want_connections() or proto.closed:
            return False
        info = self.info
        conn = PeerConnection(
            self.peer_id,
            self.info_hash,
            initiator=False,
            num_pieces=info.num_pieces if info else None,
            piece_length=info.piece_length if info else None,
            total_length=info.total_length if info else None,
        )
        self._add_peer(proto, conn, outgoing=False)
        return True

    def _add_peer(self, proto: PeerProtocol, conn: PeerConnection, *, outgoing: bool) -> None:
        peer = Peer(self, proto, conn, outgoing=outgoing, now=self.now())
        self.peers.append(peer)
        self.connections["encrypted" if proto.encrypted else "plaintext"] += 1
        log.debug(
            "%s: peer %s added (%s, encrypted=%s)",
            self.name,
            peer,
            "out" if outgoing else "in",
            proto.encrypted,
        )
        proto.attach(peer)

    def peer_closed(self, peer: Peer) -> None:
        if peer in self.peers:
            self.peers.remove(peer)
        if self.picker is not None and peer.handshaken:
            self.picker.remove_peer(peer)
            self._refill_all()
        self._assembler.release(peer)
        self.choker.forget(peer)
        peer.upload_queue.clear()
        if peer.outgoing and not self._stop.is_set():
            self._failed_at[peer.address] = self.now()
            if peer.address not in self._banned_addrs and not self.complete:
                self._candidates.setdefault(peer.address, None)
        self._wake_connector.set()

    def ban(self, peer_id: bytes, address: tuple[str, int], reason: str) -> None:
        log.info("%s: banning %s:%s (%s)", self.name, address[0], address[1], reason)
        self._banned_ids.add(peer_id)
        self._banned_addrs.add(address)
        self._candidates.pop(address, None)
        self.banned.set()
        for peer in list(self.peers):
            if peer.address == address or (
                peer.conn.remote and peer.conn.remote.peer_id == peer_id
            ):
                peer.close(f"banned: {reason}")

    # ------------------------------------------------------------ wire events
    def on_handshake(self, peer: Peer, e: ev.HandshakeReceived) -> None:
        if e.peer_id in self._banned_ids:
            peer.close("banned peer id")
            return
        if any(
            p is not peer and p.conn.remote and p.conn.remote.peer_id == e.peer_id
            for p in self.peers
        ):
            peer.close("duplicate connection")
            return
        peer.handshaken = True
        picker, info = self.picker, self.info
        if picker is not None and info is not None:
            picker.add_peer(peer)
            if picker.complete and peer.conn.fast:
                peer.send(HaveAll())
            elif len(picker.have) == 0 and peer.conn.fast:
                peer.send(HaveNone())
            elif len(picker.have):
                peer.send(BitfieldMessage.of(picker.have))
        elif peer.conn.fast:
            peer.send(HaveNone())
        if peer.conn.extensions:
            peer.send(
                ExtensionHandshake(
                    m={UT_METADATA: 3},
                    v="swarmseek 0.1",
                    reqq=2000,
                    metadata_size=len(info.raw) if info else None,
                )
            )

    def _peer_learns_geometry(self, peer: Peer, info: Info) -> None:
        if not peer.handshaken or peer.closed:
            return
        peer.conn.set_num_pieces(info.num_pieces, info.piece_length, info.total_length)
        assert self.picker is not None
        self.picker.add_peer(peer)
        try:
            bitfield = peer.has_bitfield(info.num_pieces)
        except ProtocolError as exc:
            peer.close(f"bad bitfield: {exc}")
            return
        # We told this peer "nothing" while checking or fetching metadata: now tell it
        # what we have (BEP 3 allows have messages at any time).
        for piece in self.picker.have:
            peer.send(Have(piece))
        if peer.seed:
            self.picker.peer_has_all(peer)
        elif bitfield is not None:
            self.picker.set_bitfield(peer, bitfield)
        for piece in peer.early_haves:
            if piece >= info.num_pieces:
                peer.close(f"have {piece} beyond the last piece")
                return
            self.picker.peer_has(peer, piece)
        peer.early_haves.clear()
        self._update_interest(peer)
        self.after_events(peer)
        peer.flush()

    def on_bitfield(self, peer: Peer, e: ev.BitfieldReceived) -> None:
        if self.picker is None:
            peer.bitfield_raw = e.bitfield.to_bytes()
            return
        self.picker.set_bitfield(peer, e.bitfield)
        peer.seed = e.bitfield.complete
        self._update_interest(peer)

    def on_have(self, peer: Peer, e: ev.HaveReceived) -> None:
        picker = self.picker
        if picker is None:
            if len(peer.early_haves) < MAX_EARLY_HAVES:
                peer.early_haves.add(e.piece)
            return
        picker.peer_has(peer, e.piece)
        if not peer.conn.am_interested and e.piece not in picker.have and picker.priority[e.piece]:
            peer.send(Interested())
        if picker.has(peer, picker.num_pieces - 1) and picker._peers.get(peer, 0) is None:
            peer.seed = True

    def on_have_all(self, peer: Peer, e: ev.HaveAllReceived) -> None:
        peer.seed = True
        if self.picker is not None:
            self.picker.peer_has_all(peer)
            self._update_interest(peer)

    def on_have_none(self, peer: Peer, e: ev.HaveNoneReceived) -> None:
        pass

    def _update_interest(self, peer: Peer) -> None:
        picker = self.picker
        if picker is None or peer.closed:
            return
        want = not picker.complete and (peer.seed or picker.is_interesting(peer))
        if want and not peer.conn.am_interested:
            peer.send(Interested())
        elif not want and peer.conn.am_interested:
            peer.send(NotInterested())
        if self.complete and peer.seed and not self.seed_mode:
            peer.close("both seeds")

    def on_choked(self, peer: Peer, e: ev.PeerChoked) -> None:
        peer.unchoked_at = None
        if self.picker is not None:
            for request in e.cancelled:
                self.picker.abort(peer, Block(request.piece, request.offset, request.length))
            self._refill_all()

    def on_unchoked(self, peer: Peer, e: ev.PeerUnchoked) -> None:
        peer.unchoked_at = self.now()
        peer.requested_at = self.now()

    def on_interest(self, peer: Peer, e: object) -> None:
        if peer.conn.peer_interested and len(self.choker.unchoked) <= self.config.upload_slots:
            self.rechoke()

    def on_reject(self, peer: Peer, e: ev.RejectReceived) -> None:
        if self.picker is not None:
            self.picker.abort(peer, Block(e.piece, e.offset, e.length))

    def on_allowed_fast(self, peer: Peer, e: ev.AllowedFastReceived) -> None:
        pass  # we only request while unchoked; allowed-fast pieces are a small optimisation

    def on_request(self, peer: Peer, e: ev.RequestReceived) -> None:
        picker = self.picker
        request = Request(e.piece, e.offset, e.length)
        if picker is None or e.piece not in picker.have:
            if peer.conn.fast:
                peer.send(Reject(e.piece, e.offset, e.length))
            else:
                peer.conn.peer_requests.pop(request, None)
            return
        peer.upload_queue.append(request)
        self.upload_ready(peer)

    def on_cancel(self, peer: Peer, e: ev.CancelReceived) -> None:
        pass  # the connection forgot the request; the upload worker skips it

    # ----------------------------------------------------------- downloading
    def after_events(self, peer: Peer) -> None:
        """Top up ``peer``'s request pipeline (called after each read)."""
        picker = self.picker
        conn = peer.conn
        if picker is None or conn.peer_choking or not conn.am_interested or self._paused:
            return
        depth = desired_queue_depth(
            peer.download_rate, minimum=self.config.min_queue_depth, snubbed=peer.snubbed
        )
        want = depth - len(conn.our_requests)
        if want < max(1, depth // 4):
            return  # request in batches: fewer, larger writes
        if not conn.our_requests:
            peer.requested_at = self.now()
        for block in picker.pick(peer, want):
            peer.send(Request(block.piece, block.offset, block.length))

    def _refill_all(self) -> None:
        for peer in list(self.peers):
            if not peer.closed and peer.handshaken:
                self.after_events(peer)
                peer.flush()

    def on_block(self, peer: Peer, e: ev.BlockReceived) -> None:
        data = e.data
        size = len(data)
        peer.count_down(size)
        self.downloaded += size
        peer.last_block_at = self.now()
        peer.snubbed = False
        picker = self.picker
        if picker is None:
            return
        block = Block(e.piece, e.offset, size)
        receipt = picker.block_received(peer, block)
        for other, dup in receipt.cancels:
            request = Request(dup.piece, dup.offset, dup.length)
            if isinstance(other, Peer) and request in other.conn.our_requests:
                other.send(Cancel(dup.piece, dup.offset, dup.length))
                other.flush()
        if not receipt.accepted:
            return
        piece = e.piece
        buf = self._buffers.get(piece)
        if buf is None:
            buf = self._buffers[piece] = bytearray(picker.piece_size(piece))
        buf[e.offset : e.offset + size] = data
        if picker.block_written(block):
            senders = picker.contributors(piece)
            who = {
                b.offset: (s.conn.remote.peer_id if s.conn.remote else b"", s.address)
                for b, s in senders.items()
                if isinstance(s, Peer)
            }
            self.queue_piece(piece, self._buffers.pop(piece), who)

    def piece_verified(
        self,
        piece: int,
        ok: bool,
        blocks: list[bytes] | None,
        who: dict[int, tuple[bytes, tuple[str, int]]],
    ) -> None:
        """A hash/write job ended (on the loop)."""
        picker, info = self.picker, self.info
        assert picker is not None and info is not None
        if ok:
            picker.piece_passed(piece)
            self.verified_bytes += info.piece_size(piece)
            self._uncommitted = True
            suspects = self._suspects.pop(piece, None)
            if suspects and blocks is not None:
                self._smart_ban(piece, suspects, blocks)
            for peer in self.peers:
                if peer.handshaken:
                    peer.send(Have(piece))
                    if peer.conn.am_interested and not peer.seed:
                        self._update_interest(peer)
                    peer.flush()
            if picker.complete:
                assert self._tg is not None
                self._tg.create_task(self._on_complete())
            return
        picker.piece_failed(piece)
        senders = {sender for sender in who.values()}
        log.info("%s: piece %d failed its hash check (%d senders)", self.name, piece, len(senders))
        if len(senders) == 1:
            peer_id, address = next(iter(senders))
            self.ban(peer_id, address, f"sent piece {piece} that failed its hash check")
        elif blocks is not None:
            record = self._suspects.setdefault(piece, {})
            for offset, (peer_id, address) in who.items():
                record[offset] = (peer_id, address, blocks[offset // picker.block_size])
        self._refill_all()

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
            peer.flush()
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

    # ---------------------------------------------------------------- metadata
    def on_extension_handshake(self, peer: Peer, e: ev.ExtensionHandshakeReceived) -> None:
        size = e.handshake.metadata_size
        if self.info is None and size and UT_METADATA in peer.conn.peer_extension_ids:
            self._assembler.set_size(size)
            self._request_metadata(peer)

    def _request_metadata(self, peer: Peer) -> None:
        if self.info is not None or UT_METADATA not in peer.conn.peer_extension_ids:
            return
        if self._assembler.total_size is None:
            return
        while peer.metadata_pending < METADATA_REQUESTS_PER_PEER:
            index = self._assembler.pick(peer)
            if index is None:
                return
            peer.metadata_pending += 1
            peer.send(MetadataRequest(index))

    def on_metadata_request(self, peer: Peer, e: ev.MetadataRequestReceived) -> None:
        if self.info is None:
            peer.send(MetadataReject(e.piece))
            return
        if not self._metadata_chunks:
            self._metadata_chunks = metadata_pieces(self.info.raw)
        if e.piece >= len(self._metadata_chunks):
            peer.send(MetadataReject(e.piece))
            return
        peer.send(MetadataData(e.piece, len(self.info.raw), self._metadata_chunks[e.piece]))

    def on_metadata_reject(self, peer: Peer, e: ev.MetadataRejectReceived) -> None:
        peer.metadata_pending = max(0, peer.metadata_pending - 1)
        self._assembler.release(peer, e.piece)

    def on_metadata_data(self, peer: Peer, e: ev.MetadataDataReceived) -> None:
        peer.metadata_pending = max(0, peer.metadata_pending - 1)
        if self.info is not None:
            return
        try:
            raw = self._assembler.add_piece(peer, MetadataData(e.piece, e.total_size, e.data))
        except MetadataHashMismatch as exc:
            for bad in exc.peers:
                if isinstance(bad, Peer) and bad.conn.remote is not None:
                    self.ban(bad.conn.remote.peer_id, bad.address, "metadata mismatch")
            return
        if raw is None:
            self._request_metadata(peer)
            return
        try:
            info = Info.from_bytes(raw, self.info_hash)
        except MetainfoError as exc:
            self.fail(f"metadata is unusable: {exc}")
            return
        log.debug("%s: metadata received (%d bytes)", self.name, len(raw))
        self.info = info
        self.name = info.name
        self.total_length = info.total_length
        self.metadata_ready.set()
        assert self._tg is not None
        self._tg.create_task(self._start_pieces(info))


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
