"""The BitTorrent peer wire protocol (BEP 3, 6, 9, 10) as a pure state machine.

Modelled on h11: no sockets, no asyncio, no clock. The adapter feeds bytes with
``receive_data(data)`` and drains events with ``next_event()`` (``None`` means "need
more data"); it sends with ``send(message)``, which returns *every* byte to write
now, automatic replies queued earlier included, so the order on the wire is always
right. Between calls, replies the connection makes by itself (our handshake when we
accepted an incoming connection, BEP 6 rejects) wait in ``data_to_send()``.

A peer that breaks the protocol raises :class:`RemoteProtocolError` (close, maybe
ban); misuse by our own code raises :class:`LocalProtocolError`. After a remote
error the connection is dead and every further call raises again.

The adapter's loop, in outline::

    conn = PeerConnection(peer_id, info_hash, num_pieces=n)   # outgoing
    writer.write(conn.data_to_send())                         # our handshake
    while data := await reader.read(65536):
        conn.receive_data(data)
        while (event := conn.next_event()) is not None:
            match event:
                case HandshakeReceived(): writer.write(conn.send(ExtensionHandshake(...)))
                case BlockReceived(): ...                         # picker, storage
        writer.write(conn.data_to_send())                     # automatic replies

Incoming connections start with ``initiator=False`` (and ``info_hash=None`` when one
listener serves many torrents: after ``HandshakeReceived`` call ``accept(info_hash)``).
The state it tracks is public: ``am_choking``, ``am_interested``, ``peer_choking``,
``peer_interested``, ``our_requests``, ``peer_requests``, ``allowed_fast_in``,
``peer_extension_ids``, ``fast``, ``extensions``.

For speed, an adapter may read straight into the connection's buffer
(``get_buffer()``, then ``buffer_updated(n)``) instead of ``receive_data``, and may set
``block_sink``: piece messages then skip the event queue and reach it in one batch per
read, each block a view of the receive buffer valid only during the call.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from . import wire_events as ev
from .bitfield import Bitfield
from .errors import LocalProtocolError, RemoteProtocolError
from .extension import (
    UT_METADATA,
    decode_extension_handshake,
)
from .metadata import (
    MetadataData,
    MetadataReject,
    MetadataRequest,
    decode_metadata_message,
)
from .wire_messages import (
    DHT_BIT,
    EXTENSION_BIT,
    FAST_BIT,
    HANDSHAKE_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_PIECE_MESSAGE,
    MAX_REQUEST_LENGTH,
    PIECE,
    AllowedFast,
    BitfieldMessage,
    Cancel,
    Choke,
    Extended,
    Handshake,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    NotInterested,
    Piece,
    Port,
    Reject,
    Request,
    Suggest,
    Unchoke,
    check_handshake_prefix,
    decode_handshake,
    decode_message,
    encode_message,
    max_length,
)
from .wire_send import (
    _REMOTE_CHOKE,
    _REMOTE_INTEREST,
    MAX_PEER_REQUESTS,
    BorrowedBlock,
    Phase,
    WireState,
)

# BEP 3 piece message after its length prefix and id: <index><begin>, two u32.
_PIECE_HEADER = struct.Struct(">II")
# The whole piece message header: <length><id><index><begin>.
_PIECE_FRAME = struct.Struct(">IBII")
# Receive buffer: reads of up to READ_SIZE bytes land in it (get_buffer); with room
# for one unparsed message of the largest length we accept in front of a read.
READ_SIZE = 256 * 1024
READ_MIN = 64 * 1024  # less room than this after the buffered bytes: compact first
RECEIVE_BUFFER = READ_SIZE + 4 + MAX_MESSAGE_LENGTH


class PeerConnection(WireState):
    """One peer connection's protocol state (see the module docstring for the loop).

    ``PeerConnection(our_peer_id, info_hash, *, initiator=True, num_pieces=None,
    piece_length=None, total_length=None, extensions=True, fast=True, dht=False)``;
    sending lives in :class:`WireState`.
    """

    # ----------------------------------------------------------------- public API

    def __repr__(self) -> str:
        peer = self.remote.peer_id.hex() if self.remote else "?"
        return (
            f"<PeerConnection {self.phase.value} peer={peer} choking={self.am_choking}"
            f" interested={self.am_interested} peer_choking={self.peer_choking}"
            f" peer_interested={self.peer_interested} requests={len(self.our_requests)}>"
        )

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the peer; call ``next_event()`` until it returns None."""
        if self.phase is Phase.FAILED:
            raise RemoteProtocolError("connection already failed")
        size = len(data)
        if self._end + size > len(self._in):
            self._make_room(size)
        self._view[self._end : self._end + size] = data
        self._end += size

    def get_buffer(self) -> memoryview:
        """Room for the next read, to receive into without a copy (asyncio's
        ``BufferedProtocol.get_buffer``); report what landed with ``buffer_updated``."""
        if len(self._in) - self._end < READ_MIN:
            self._make_room(READ_SIZE)
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were read into the buffer ``get_buffer`` returned."""
        if self.phase is Phase.FAILED:
            raise RemoteProtocolError("connection already failed")
        self._end += nbytes

    def next_event(self) -> ev.Event | None:
        """The next event, or None when more data is needed (or ``accept`` is due)."""
        if self.phase is Phase.FAILED:
            raise RemoteProtocolError("connection already failed")
        try:
            while not self._events:
                if not self._parse_one():
                    return None
        except RemoteProtocolError:
            self.phase = Phase.FAILED
            raise
        return self._events.popleft()

    def events(self) -> list[ev.Event]:
        """Drain every event available now."""
        out: list[ev.Event] = []
        while (event := self.next_event()) is not None:
            out.append(event)
        return out

    def accept(
        self,
        info_hash: bytes,
        num_pieces: int | None = None,
        piece_length: int | None = None,
        total_length: int | None = None,
    ) -> None:
        """Answer an incoming handshake that arrived with ``info_hash=None``."""
        if self.phase is not Phase.AWAITING_ACCEPT or self.remote is None:
            raise LocalProtocolError("nothing to accept")
        if info_hash != self.remote.info_hash:
            raise LocalProtocolError("accept() must name the info hash the peer asked for")
        self.info_hash = info_hash
        self.num_pieces, self.piece_length, self.total_length = (
            num_pieces,
            piece_length,
            total_length,
        )
        self._queue_handshake()
        self.phase = Phase.OPEN

    # -------------------------------------------------------------- handshake

    def _parse_handshake(self) -> bool:
        available = self._in[self._pos : min(self._end, self._pos + HANDSHAKE_LENGTH)]
        check_handshake_prefix(bytes(available[:20]))
        if len(available) < HANDSHAKE_LENGTH:
            return False
        self._pos += HANDSHAKE_LENGTH
        remote = decode_handshake(bytes(available))
        if self.info_hash is not None and remote.info_hash != self.info_hash:
            raise RemoteProtocolError("peer answered for another torrent")
        if remote.peer_id == self.our_peer_id:
            raise RemoteProtocolError("connected to ourselves")
        self.remote = remote
        ours = Handshake(b"", b"", self._reserved)
        self.extensions = ours.has(EXTENSION_BIT) and remote.has(EXTENSION_BIT)
        self.fast = ours.has(FAST_BIT) and remote.has(FAST_BIT)
        self._events.append(
            ev.HandshakeReceived(
                remote.info_hash,
                remote.peer_id,
                remote.reserved,
                self.extensions,
                self.fast,
                remote.has(DHT_BIT),
            )
        )
        if self.initiator:
            self.phase = Phase.OPEN
        elif self.info_hash is None:
            self.phase = Phase.AWAITING_ACCEPT
        else:
            self._queue_handshake()
            self.phase = Phase.OPEN
        return True

    # ---------------------------------------------------------------- framing

    def _parse_one(self) -> bool:
        if self.phase is Phase.HANDSHAKE:
            return self._parse_handshake()
        if self.phase is not Phase.OPEN:
            return False
        buffered = self._end - self._pos
        if buffered < 4:
            if not buffered:
                self._pos = self._end = 0  # all parsed: the next read starts at 0
            return False
        (length,) = struct.unpack_from(">I", self._in, self._pos)
        # Refuse at once rather than buffer: no message we accept is longer.
        if length > MAX_MESSAGE_LENGTH:
            raise RemoteProtocolError(f"message of {length} bytes is over the limit")
        if length and buffered >= 5:
            limit = max_length(self._in[self._pos + 4], self.num_pieces)
            if length > limit:
                raise RemoteProtocolError(
                    f"message {self._in[self._pos + 4]} of {length} bytes (limit {limit})"
                )
        if buffered < 4 + length:
            return False
        if length > 9 and self._in[self._pos + 4] == PIECE:
            if self.block_sink is not None:
                self._parse_blocks()
                return True
            # One message per 16 KiB block: header fields read in place and the block
            # copied once, without the generic decoder's Piece object.
            piece, offset = _PIECE_HEADER.unpack_from(self._in, self._pos + 5)
            data = bytes(self._view[self._pos + 13 : self._pos + 4 + length])
            self._pos += 4 + length
            self._block(piece, offset, data)
            return True
        body = bytes(self._view[self._pos + 4 : self._pos + 4 + length])  # one copy
        self._pos += 4 + length
        message = decode_message(body)
        if message is None:
            self._events.append(ev.UnknownMessageReceived(body[0], length))
        else:
            _RECEIVE[type(message)](self, message)
        return True

    def _make_room(self, size: int) -> None:
        """Make ``size`` bytes free after ``_end``: move the unparsed bytes to the front,
        or into a new buffer when they do not fit (never resized: views may exist)."""
        kept = self._end - self._pos
        need = kept + size
        capacity = len(self._in)
        if need <= capacity and (capacity <= 2 * RECEIVE_BUFFER or need > RECEIVE_BUFFER):
            if kept and self._pos:  # a copy first: the two ranges may overlap
                self._in[:kept] = bytes(self._view[self._pos : self._end])
        else:
            # Grow by doubling (a test may feed megabytes before parsing), but one
            # read's worth is the usual size; shrink back after a large feed.
            grown = min(2 * need, RECEIVE_BUFFER) if need <= RECEIVE_BUFFER else 2 * need
            new = bytearray(max(need, grown))
            new[:kept] = self._view[self._pos : self._end]
            self._in, self._view = new, memoryview(new)
        self._pos, self._end = 0, kept

    def _parse_blocks(self) -> None:
        """Hand every complete piece message from ``_pos`` on to ``block_sink`` at once.

        The batched hot path of a download: no event objects and no copy; each block
        is a view of the receive buffer (see ``BorrowedBlock``).
        """
        buf, view, pos, end = self._in, self._view, self._pos, self._end
        requested, cancelled = self._requested, self._cancelled
        unpack = _PIECE_FRAME.unpack_from
        batch: list[BorrowedBlock] = []
        error: str | None = None
        while end - pos >= 13:
            length, kind, piece, offset = unpack(buf, pos)
            if kind != PIECE or not 9 < length <= MAX_PIECE_MESSAGE or end - pos < 4 + length:
                break  # anything else goes through _parse_one (limits checked there)
            size = length - 9
            key = (piece, offset, size)
            # One dict lookup when we asked for exactly this block: it fits its piece.
            solicited = requested.pop(key, False) is None
            if not solicited and not self.fits(piece, offset, size):
                error = f"piece {piece} offset {offset}+{size} lies outside it"
                break
            if cancelled:
                cancelled.pop(key, None)
            batch.append((piece, offset, view[pos + 13 : pos + 4 + length], solicited))
            pos += 4 + length
        self._pos = pos
        if batch:
            assert self.block_sink is not None
            self.block_sink(batch)
        if error is not None:
            raise RemoteProtocolError(error)

    # ------------------------------------------------------- receive handlers

    def _emit(self, event: ev.Event) -> None:
        self._events.append(event)

    def _require_fast(self, what: str) -> None:
        if not self.fast:
            raise RemoteProtocolError(f"{what} without the fast extension (BEP 6)")

    def _check_piece(self, piece: int, what: str) -> None:
        if self.num_pieces is not None and piece >= self.num_pieces:
            raise RemoteProtocolError(f"{what} for piece {piece} of {self.num_pieces}")

    def _on_keepalive(self, m: KeepAlive) -> None:
        self._emit(ev.KeepAliveReceived())

    def _on_choke(self, m: Choke | Unchoke) -> None:
        self.peer_choking = _REMOTE_CHOKE[(self.peer_choking, type(m))]
        if isinstance(m, Unchoke):
            self._emit(ev.PeerUnchoked())
            return
        cancelled: tuple[Request, ...] = ()
        if not self.fast:
            # BEP 3: a choke discards every request; with BEP 6 the peer rejects them.
            cancelled = tuple(self.our_requests)
            self._requested.clear()
            self._cancelled.clear()
        self._emit(ev.PeerChoked(cancelled))

    def _on_interest(self, m: Interested | NotInterested) -> None:
        self.peer_interested = _REMOTE_INTEREST[(self.peer_interested, type(m))]
        self._emit(ev.PeerInterested() if self.peer_interested else ev.PeerNotInterested())

    def _on_have(self, m: Have) -> None:
        self._check_piece(m.piece, "have")
        self._peer_sent_pieces = True
        self._emit(ev.HaveReceived(m.piece))

    def _on_bitfield(self, m: BitfieldMessage) -> None:
        # aria2 1.36 sends ``have`` messages and later a bitfield on the same
        # connection; libtorrent accepts a late bitfield too, so we do (it only adds).
        self._peer_sent_pieces = True
        size = self.num_pieces if self.num_pieces is not None else len(m.raw) * 8
        self._emit(ev.BitfieldReceived(Bitfield.from_bytes(m.raw, size)))

    def _on_have_all(self, m: HaveAll | HaveNone) -> None:
        self._require_fast(type(m).__name__)
        # BEP 6 says "first message", but aria2 1.36 sends have_all once it completes,
        # after have messages; like libtorrent we accept it late.
        self._peer_sent_pieces = True
        self._emit(ev.HaveAllReceived() if isinstance(m, HaveAll) else ev.HaveNoneReceived())

    def _on_request(self, m: Request) -> None:
        valid = 0 < m.length <= MAX_REQUEST_LENGTH and self.fits(m.piece, m.offset, m.length)
        served = not self.am_choking or m.piece in self.allowed_fast_out
        if not valid or not served or len(self.peer_requests) >= MAX_PEER_REQUESTS:
            # libtorrent answers an invalid or choked request with a reject (BEP 6) and
            # silently drops it without the fast extension; it does not disconnect.
            self.invalid_requests += not valid
            if self.fast:
                self._out += encode_message(Reject(m.piece, m.offset, m.length))
            return
        if m in self.peer_requests:
            return  # a duplicate: one answer is enough
        self.peer_requests[m] = None
        self._emit(ev.RequestReceived(m.piece, m.offset, m.length))

    def _on_piece(self, m: Piece) -> None:
        self._block(m.piece, m.offset, m.data)

    def _block(self, piece: int, offset: int, data: bytes) -> None:
        key = (piece, offset, len(data))
        # One dict lookup when we asked for exactly this block: it fits its piece.
        solicited = self._requested.pop(key, False) is None
        if not solicited and not self.fits(piece, offset, len(data)):
            raise RemoteProtocolError(f"piece {piece} offset {offset}+{len(data)} lies outside it")
        if self._cancelled:
            self._cancelled.pop(key, None)
        self._events.append(ev.BlockReceived(piece, offset, data, solicited))

    def _on_cancel(self, m: Cancel) -> None:
        request = Request(m.piece, m.offset, m.length)
        if request in self.peer_requests:
            del self.peer_requests[request]
            self._emit(ev.CancelReceived(m.piece, m.offset, m.length))

    def _on_port(self, m: Port) -> None:
        self._emit(ev.PortReceived(m.port))

    def _on_suggest(self, m: Suggest) -> None:
        self._require_fast("suggest")
        self._check_piece(m.piece, "suggest")
        self._emit(ev.SuggestReceived(m.piece))

    def _on_reject(self, m: Reject) -> None:
        self._require_fast("reject")
        key = (m.piece, m.offset, m.length)
        if key in self._requested:
            del self._requested[key]
        elif key in self._cancelled:
            self._cancelled.pop(key, None)
        else:
            # BEP 6: "If a peer receives a reject for a request that was never sent
            # then the peer SHOULD close the connection."
            raise RemoteProtocolError(f"reject for a request never sent: {Request(*key)}")
        self._emit(ev.RejectReceived(m.piece, m.offset, m.length))

    def _on_allowed_fast(self, m: AllowedFast) -> None:
        self._require_fast("allowed_fast")
        self._check_piece(m.piece, "allowed_fast")
        self.allowed_fast_in.add(m.piece)
        self._emit(ev.AllowedFastReceived(m.piece))

    def _on_extended(self, m: Extended) -> None:
        if not self.extensions:
            raise RemoteProtocolError("extended message without BEP 10 negotiated")
        if m.ext_id == 0:
            handshake = decode_extension_handshake(m.payload)
            # BEP 10: later handshakes update the map; id 0 switches an extension off.
            for name, ext_id in handshake.m.items():
                if ext_id:
                    self.peer_extension_ids[name] = ext_id
                else:
                    self.peer_extension_ids.pop(name, None)
            self.peer_extension_handshake = handshake
            self._emit(ev.ExtensionHandshakeReceived(handshake))
            return
        known = self.our_extension_ids.get(m.ext_id)
        if known == UT_METADATA:
            self._emit(_METADATA_EVENTS[type(meta := decode_metadata_message(m.payload))](meta))
        else:
            self._emit(ev.ExtensionMessageReceived(known, m.ext_id, m.payload))


_METADATA_EVENTS: dict[type, Callable[[Any], ev.Event]] = {
    MetadataRequest: lambda m: ev.MetadataRequestReceived(m.piece),
    MetadataData: lambda m: ev.MetadataDataReceived(m.piece, m.total_size, m.data),
    MetadataReject: lambda m: ev.MetadataRejectReceived(m.piece),
}

_P = PeerConnection
_RECEIVE: dict[type, Callable[[PeerConnection, Any], None]] = {
    KeepAlive: _P._on_keepalive,
    Choke: _P._on_choke,
    Unchoke: _P._on_choke,
    Interested: _P._on_interest,
    NotInterested: _P._on_interest,
    Have: _P._on_have,
    BitfieldMessage: _P._on_bitfield,
    HaveAll: _P._on_have_all,
    HaveNone: _P._on_have_all,
    Request: _P._on_request,
    Piece: _P._on_piece,
    Cancel: _P._on_cancel,
    Port: _P._on_port,
    Suggest: _P._on_suggest,
    Reject: _P._on_reject,
    AllowedFast: _P._on_allowed_fast,
    Extended: _P._on_extended,
}
