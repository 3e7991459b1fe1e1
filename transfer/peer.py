"""One connected peer: the wire protocol state plus what the torrent knows of it.

``Peer`` is the sink of a :class:`PeerProtocol`: every read goes into its
``PeerConnection`` and every event is dispatched (a dict, not a ladder) to the
owning :class:`~swarmseek.transfer.torrent.Torrent`; outgoing bytes are collected and
written once per read (one ``transport.write`` of joined buffers).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .bitfield import Bitfield
from .errors import ProtocolError
from .peer_io import PeerProtocol
from .wire import PeerConnection
from .wire_messages import Request
from .wire_send import BorrowedBlock

if TYPE_CHECKING:
    from .picker import Block
    from .torrent import Torrent

log = logging.getLogger(__name__)


class Peer:
    """A connected peer of one torrent (hashable by identity: the picker's key)."""

    __slots__ = (
        "_lazy",
        "_out",
        "_rate_bytes_up",
        "address",
        "bitfield_raw",
        "closed",
        "conn",
        "connected_at",
        "download_rate",
        "downloaded",
        "early_haves",
        "handshaken",
        "last_block_at",
        "last_received_at",
        "last_sent_at",
        "metadata_pending",
        "outgoing",
        "proto",
        "rate_bytes_down",
        "requested_at",
        "seed",
        "snubbed",
        "torrent",
        "unchoked_at",
        "upload_queue",
        "upload_rate",
        "uploaded",
    )

    def __init__(
        self,
        torrent: Torrent,
        proto: PeerProtocol,
        conn: PeerConnection,
        *,
        outgoing: bool,
        now: float,
    ) -> None:
        self.torrent = torrent
        self.proto = proto
        self.conn = conn
        self.address = proto.address
        self.outgoing = outgoing
        self.connected_at = now
        self.last_received_at = now
        self.last_sent_at = now
        self.last_block_at: float | None = None
        self.unchoked_at: float | None = None
        self.requested_at = now
        self.closed = False
        self.handshaken = False
        self.seed = False
        self.snubbed = False
        self.bitfield_raw: bytes | None = None  # before metadata: re-checked later
        self.metadata_pending = 0
        self.early_haves: set[int] = (
            set()
        )  # have messages before metadata (bounded by MAX_EARLY_HAVES)
        self.downloaded = 0
        self.uploaded = 0
        self.rate_bytes_down = 0
        self._rate_bytes_up = 0
        self.download_rate = 0.0
        self.upload_rate = 0.0
        self.upload_queue: deque[Request] = deque()
        self._out = bytearray()
        self._lazy = bytearray()
        conn.block_sink = self._on_blocks

    def __repr__(self) -> str:
        return f"<Peer {self.address[0]}:{self.address[1]}>"

    # ----------------------------------------------------------------- sink
    # Reads land in the connection's own buffer (``get_buffer`` and ``buffer_updated``,
    # a DirectSink; an encrypted read is decrypted there first, by the PeerProtocol);
    # bytes buffered before this sink was attached are copied in by ``on_data``.
    # Piece messages reach ``Torrent.on_blocks`` in one batch per read, as views of
    # that buffer (``PeerConnection.block_sink``); other messages as events.

    def get_buffer(self) -> memoryview:
        return self.conn.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self.closed:
            return
        try:
            self.conn.buffer_updated(nbytes)
        except ProtocolError as exc:
            self.close(f"protocol error: {exc}")
            return
        self._handle_input()

    def on_data(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            return
        try:
            self.conn.receive_data(data)
        except ProtocolError as exc:
            self.close(f"protocol error: {exc}")
            return
        self._handle_input()

    def _handle_input(self) -> None:
        torrent = self.torrent
        conn = self.conn
        self.last_received_at = torrent.now()
        try:
            handlers = HANDLERS
            while (event := conn.next_event()) is not None:
                if self.gone():  # a block batch may have closed us
                    return
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(torrent, self, event)
                if self.gone():  # a handler may have closed us
                    return
            if self.gone():
                return
            torrent.after_events(self)
        except ProtocolError as exc:
            self.close(f"protocol error: {exc}")
            return
        self.flush()

    def gone(self) -> bool:
        # A method, not ``self.closed``: mypy would narrow the attribute after one check.
        return self.closed

    def _on_blocks(self, blocks: list[BorrowedBlock]) -> None:
        if not self.closed:
            self.torrent.on_blocks(self, blocks)

    def on_lost(self, reason: str) -> None:
        self.close(reason)

    def on_writable(self, writable: bool) -> None:
        if writable and not self.closed:
            self.torrent.upload_ready(self)

    # ---------------------------------------------------------------- output
    def send(self, message: Any) -> None:
        self._out += self.conn.send(message)

    def send_lazily(self, message: Any) -> None:
        """Send ``message`` with the next write, or at the next tick at the latest.

        For what is not urgent (a ``have`` to a seed): one small write, and a wake-up
        of the peer, less per piece.
        """
        self._lazy += self.conn.send(message)

    def send_block(self, request: Request, data: bytes) -> None:
        """Answer ``request`` with ``data``: ``send(Piece(...))`` without its copies."""
        self.conn.send_piece_into(self._out, request.piece, request.offset, data)

    def send_requests(self, blocks: list[Block]) -> None:
        self._out += self.conn.send_requests(blocks)

    def flush(self, *, lazy: bool = False) -> None:
        """Write what is queued; what ``send_lazily`` queued goes along (or if ``lazy``)."""
        out = self._out
        queued = self.conn.data_to_send()
        if queued:
            out += queued
        if self._lazy and (out or lazy):
            out[:0] = self._lazy  # queued first: it goes first
            self._lazy = bytearray()
        if out:
            self.proto.write(out)
            self._out = bytearray()
            self.last_sent_at = self.torrent.now()

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        log.debug("%s peer %s closed: %s", self.torrent.name, self, reason)
        self.proto.close(reason)
        self.torrent.peer_closed(self)

    # ------------------------------------------------------------- rates
    def count_down(self, n: int) -> None:
        self.downloaded += n
        self.rate_bytes_down += n

    def count_up(self, n: int) -> None:
        self.uploaded += n
        self._rate_bytes_up += n

    def update_rates(self, elapsed: float) -> None:
        """Exponential average of the last seconds (libtorrent's stat window spirit)."""
        if elapsed <= 0:
            return
        down = self.rate_bytes_down / elapsed
        up = self._rate_bytes_up / elapsed
        self.download_rate = 0.5 * self.download_rate + 0.5 * down
        self.upload_rate = 0.5 * self.upload_rate + 0.5 * up
        self.rate_bytes_down = self._rate_bytes_up = 0

    def has_bitfield(self, size: int) -> Bitfield | None:
        """The bitfield the peer sent before we knew the piece count, re-checked."""
        if self.bitfield_raw is None:
            return None
        return Bitfield.from_bytes(self.bitfield_raw, size)


Handler = Callable[["Torrent", Peer, Any], None]

# Event type -> Torrent method; filled in by ``torrent.py`` (which imports this module).
HANDLERS: dict[type, Handler] = {}
