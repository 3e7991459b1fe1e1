"""Peers of a torrent: dialling and accepting them, their wire events, BEP 9 metadata.

A mixin of :class:`~swarmseek.transfer.torrent.Torrent` (which owns the state declared
below); split out to keep each module small. Every method runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from . import trace
from . import wire_events as ev
from .choker import Choker
from .errors import MetadataHashMismatch, MetainfoError, ProtocolError
from .extension import UT_METADATA, ExtensionHandshake
from .metadata import (
    MetadataAssembler,
    MetadataData,
    MetadataReject,
    MetadataRequest,
    metadata_pieces,
)
from .metainfo import Info, InfoHash
from .peer import Peer
from .peer_io import PeerConnectError, PeerProtocol, Timeouts, open_peer
from .picker import Block, PiecePicker
from .swarm_config import SessionConfig, TorrentState
from .wire import PeerConnection
from .wire_messages import (
    MAX_METADATA_SIZE,
    BitfieldMessage,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    NotInterested,
    Reject,
    Request,
)

if TYPE_CHECKING:
    from .torrent import Torrent

log = logging.getLogger(__name__)
METADATA_REQUESTS_PER_PEER = 2
# Have messages remembered before the piece count is known: the most pieces metadata
# of MAX_METADATA_SIZE can describe (20 bytes of hash each).
MAX_EARLY_HAVES = MAX_METADATA_SIZE // 20


class TorrentPeers:
    """Connections and per-peer protocol events of a torrent."""

    if TYPE_CHECKING:
        info_hash: InfoHash
        config: SessionConfig
        peer_id: bytes
        info: Info | None
        name: str
        rng: random.Random
        picker: PiecePicker | None
        peers: list[Peer]
        choker: Choker
        state: TorrentState
        seed_mode: bool
        total_length: int | None
        metadata_ready: asyncio.Event
        banned: asyncio.Event
        connections: dict[str, int]
        _assembler: MetadataAssembler
        _metadata_chunks: list[bytes]
        _candidates: dict[tuple[str, int], None]
        _failed_at: dict[tuple[str, int], tuple[float, int]]
        _connecting: int
        _wake_connector: asyncio.Event
        _stop: asyncio.Event
        _paused: bool
        _banned_ids: set[bytes]
        _banned_addrs: set[tuple[str, int]]
        _tg: asyncio.TaskGroup | None
        listen_port: Callable[[], int]

        def now(self) -> float: ...

        @property
        def complete(self) -> bool: ...

        def after_events(self, peer: Peer) -> None: ...

        def rechoke(self) -> None: ...

        def upload_ready(self, peer: Peer) -> None: ...

        def fail(self, message: str) -> None: ...

        def _refill_all(self) -> None: ...

        async def _start_pieces(self, info: Info) -> None: ...

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
                if address in connected or now < self._retry_at(address):
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
            trace.mark("connecting", peer=address[1])
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
            self._failed(address)
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

    def _failed(self, address: tuple[str, int], *, afresh: bool = False) -> None:
        _, count = (0.0, 0) if afresh else self._failed_at.get(address, (0.0, 0))
        self._failed_at[address] = (self.now(), count + 1)

    def _retry_at(self, address: tuple[str, int]) -> float:
        """When a failed address may be dialled again (see SessionConfig.retry_first)."""
        failed = self._failed_at.get(address)
        if failed is None:
            return 0.0
        when, count = failed
        cfg = self.config
        return when + min(cfg.retry_interval, cfg.retry_first * 2.0 ** min(count - 1, 30))

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
        peer = Peer(cast("Torrent", self), proto, conn, outgoing=outgoing, now=self.now())
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
            # A connection that lasted starts the backoff afresh; one the peer keeps
            # closing at once (full, or it dislikes us) is tried ever less often.
            lasted = self.now() - peer.connected_at >= self.config.retry_interval
            self._failed(peer.address, afresh=lasted)
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
        trace.mark("handshake", peer=peer.address[1])
        if e.peer_id in self._banned_ids:
            peer.close("banned peer id")
            return

        def opener(p: Peer) -> bytes:
            return self.peer_id if p.outgoing else e.peer_id

        for other in list(self.peers):
            if other is not peer and other.conn.remote and other.conn.remote.peer_id == e.peer_id:
                # Both sides dialled each other: keep the connection opened by the lower
                # peer id, a rule both ends compute alike (libtorrent does the same).
                if opener(peer) < opener(other):
                    other.close("duplicate connection")
                    break
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
        trace.mark("unchoked", peer=peer.address[1])
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
