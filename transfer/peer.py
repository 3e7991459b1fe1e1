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

if TYPE_CHECKING:
    from .picker import Block
    from .torrent import Torrent

log = logging.getLogger(__name__)


class Peer:
    """A connected peer of one torrent (hashable by identity: the picker's key)."""

    __slots__ = (
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

    def __repr__(self) -> str:
        return f"<Peer {self.address[0]}:{self.address[1]}>"

    # ----------------------------------------------------------------- sink
    def on_data(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            return
        torrent = self.torrent
        conn = self.conn
        self.last_received_at = torrent.now()
        try:
            conn.receive_data(data)
            handlers = HANDLERS
            while (event := conn.next_event()) is not None:
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(torrent, self, event)
                if self.gone():  # a handler may have closed us
                    return
            torrent.after_events(self)
        except ProtocolError as exc:
            self.close(f"protocol error: {exc}")
            return
        self.flush()

    def gone(self) -> bool:
        return self.closed

    def on_lost(self, reason: str) -> None:
        self.close(reason)

    def on_writable(self, writable: bool) -> None:
        if writable and not self.closed:
            self.torrent.upload_ready(self)

    # ---------------------------------------------------------------- output
    def send(self, message: Any) -> None:
        self._out += self.conn.send(message)

    def send_requests(self, blocks: list[Block]) -> None:
        self._out += self.conn.send_requests(blocks)

    def flush(self) -> None:
        out = self._out
        queued = self.conn.data_to_send()
        if queued:
            out += queued
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
