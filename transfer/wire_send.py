"""The sending half of a peer connection: state, checks and encoding (see ``wire``)."""

from __future__ import annotations

import enum
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import wire_events as ev
from .errors import LocalProtocolError
from .extension import UT_METADATA, ExtensionHandshake, encode_extension_handshake
from .metadata import (
    MetadataData,
    MetadataMessage,
    MetadataReject,
    MetadataRequest,
    encode_metadata_message,
)
from .wire_messages import (
    BLOCK_SIZE,
    MAX_REQUEST_LENGTH,
    PIECE,
    REQUEST,
    AllowedFast,
    BitfieldMessage,
    Cancel,
    Choke,
    CoreMessage,
    Extended,
    ExtensionMessage,
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
    encode_handshake,
    encode_message,
    make_reserved,
)

# A piece message's header: <length><id><index><begin> (BEP 3).
_PIECE_FRAME = struct.Struct(">IBII")

# libtorrent's ``max_allowed_in_request_queue`` (settings_pack default 2000): requests
# a peer may have pending with us; more are dropped so a peer cannot grow our memory.
MAX_PEER_REQUESTS = 2000


class Phase(enum.Enum):
    HANDSHAKE = "handshake"  # waiting for the peer's handshake
    AWAITING_ACCEPT = "awaiting accept"  # incoming: caller must pick the torrent
    OPEN = "open"
    FAILED = "failed"


# Choke/interest state per direction as a table, h2-style:
# (current value, message type) -> new value. Anything missing is an error for what we
# send; for what the peer sends a repeat is harmless and common, so it is listed.
_LOCAL_CHOKE = {(False, Choke): True, (True, Unchoke): False}
_LOCAL_INTEREST = {(False, Interested): True, (True, NotInterested): False}
_REMOTE_CHOKE = {**_LOCAL_CHOKE, (True, Choke): True, (False, Unchoke): False}
_REMOTE_INTEREST = {
    **_LOCAL_INTEREST,
    (True, Interested): True,
    (False, NotInterested): False,
}

# A block as the wire tracks it: (piece, offset, length).
BlockKey = tuple[int, int, int]
# A block handed to a block sink: (piece, offset, data, solicited); ``data`` is a view
# of the receive buffer, valid until the connection next receives bytes.
BorrowedBlock = tuple[int, int, memoryview, bool]
_U32 = 0xFFFFFFFF
# A request message whole: length prefix 13, id, piece, offset, length.
_REQUEST_FRAME = struct.Struct(">IBIII")


class OutstandingRequests:
    """Read-only view of the requests we sent and the peer has not answered yet.

    Membership takes a :class:`Request` or a (piece, offset, length) tuple; iteration
    yields Requests, oldest first, from a snapshot (so the caller may cancel as it goes).
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: dict[BlockKey, None]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, Request):
            return (item.piece, item.offset, item.length) in self._keys
        return item in self._keys

    def __iter__(self) -> Iterator[Request]:
        return iter([Request(*key) for key in self._keys])


_Sendable = CoreMessage | ExtensionHandshake | ExtensionMessage | MetadataMessage


class WireState:
    """Connection state shared by both directions, and everything we send."""

    def __init__(
        self,
        our_peer_id: bytes,
        info_hash: bytes | None,
        *,
        initiator: bool = True,
        num_pieces: int | None = None,
        piece_length: int | None = None,
        total_length: int | None = None,
        extensions: bool = True,
        fast: bool = True,
        dht: bool = False,
    ) -> None:
        if len(our_peer_id) != 20 or (info_hash is not None and len(info_hash) != 20):
            raise LocalProtocolError("peer id and info hash are 20 bytes")
        if initiator and info_hash is None:
            raise LocalProtocolError("an outgoing connection needs an info hash")
        self.our_peer_id = our_peer_id
        self.info_hash = info_hash
        self.initiator = initiator
        self.num_pieces = num_pieces
        self.piece_length = piece_length
        self.total_length = total_length
        self._reserved = make_reserved(extensions=extensions, fast=fast, dht=dht)
        self.phase = Phase.HANDSHAKE
        self.remote: Handshake | None = None
        self.extensions = False  # negotiated: both set the bit
        self.fast = False
        self.am_choking, self.am_interested = True, False
        self.peer_choking, self.peer_interested = True, False
        # Received bytes: the valid ones are ``_in[_pos:_end]``; the rest is room for
        # the next read (see ``PeerConnection.get_buffer``). ``_in`` is never resized,
        # only replaced: a memoryview of it may be alive (``_view``, borrowed blocks).
        self._in = bytearray()
        self._view = memoryview(self._in)
        self._pos = 0
        self._end = 0
        # Set by the owner to take piece messages without events (see ``wire.BlockSink``).
        self.block_sink: Callable[[list[BorrowedBlock]], None] | None = None
        self._out = bytearray()
        self._events: deque[ev.Event] = deque()
        # Sent, not yet answered, oldest first, keyed by plain (piece, offset, length)
        # tuples: one is looked up per block received, and a tuple hashes in C where a
        # dataclass hashes in Python. ``our_requests`` shows them as Requests.
        self._requested: dict[BlockKey, None] = {}
        # Cancelled requests the peer may still answer (a piece or, BEP 6, a reject),
        # oldest first; bounded because a peer may also just drop them.
        self._cancelled: dict[BlockKey, None] = {}
        self.peer_requests: dict[Request, None] = {}  # received, not yet served
        self.allowed_fast_in: set[int] = set()  # pieces the peer lets us request choked
        self.allowed_fast_out: set[int] = set()
        self.our_extension_ids: dict[int, bytes] = {}
        self.peer_extension_ids: dict[bytes, int] = {}
        self.peer_extension_handshake: ExtensionHandshake | None = None
        self._peer_sent_pieces = False  # bitfield/have*/have_all/have_none seen
        self._we_sent_pieces = False
        self.invalid_requests = 0
        if initiator:
            self._queue_handshake()

    @property
    def our_requests(self) -> OutstandingRequests:
        """Requests we sent that the peer has not answered yet (a read-only view)."""
        return OutstandingRequests(self._requested)

    # ----------------------------------------------------------------- sending

    def data_to_send(self) -> bytes:
        """Bytes queued by the connection itself (handshake, automatic replies)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def set_num_pieces(
        self, num_pieces: int, piece_length: int | None = None, total_length: int | None = None
    ) -> None:
        """Learn the torrent's shape once metadata is known (magnet downloads).

        With ``piece_length`` and ``total_length`` requests and blocks are also checked
        to lie inside their piece.
        """
        self.num_pieces = num_pieces
        self.piece_length = piece_length
        self.total_length = total_length

    def piece_size(self, piece: int) -> int | None:
        """Bytes in ``piece``, or None while the geometry is unknown."""
        if self.piece_length is None or self.total_length is None or self.num_pieces is None:
            return None
        if piece == self.num_pieces - 1:
            return self.total_length - piece * self.piece_length
        return self.piece_length

    def fits(self, piece: int, offset: int, length: int) -> bool:
        """Does (offset, length) lie inside ``piece`` (always True if unknown)?"""
        if self.num_pieces is not None and not 0 <= piece < self.num_pieces:
            return False
        size = self.piece_size(piece)
        return size is None or offset + length <= size

    def can_request(self, piece: int) -> bool:
        return not self.peer_choking or (self.fast and piece in self.allowed_fast_in)

    def send(self, message: _Sendable) -> bytes:
        """Encode ``message`` after checking it is allowed now; return all bytes to write."""
        if self.phase is not Phase.OPEN:
            raise LocalProtocolError(f"cannot send {type(message).__name__} in {self.phase}")
        handler = _SEND.get(type(message))
        if handler is None:
            raise LocalProtocolError(f"cannot send {type(message).__name__}")
        handler(self, message)
        return self.data_to_send()

    def send_piece_into(self, out: bytearray, piece: int, offset: int, data: bytes) -> None:
        """``out += send(Piece(piece, offset, data))``, for an upload's hot path: the
        block is framed straight into ``out`` (after any automatic replies queued
        before it), one copy instead of one per layer. The same checks as ``send``."""
        if self.phase is not Phase.OPEN:
            raise LocalProtocolError(f"cannot send Piece in {self.phase}")
        if len(data) > BLOCK_SIZE or not data:
            raise LocalProtocolError("a block is 1 to 16 KiB")
        request = Request(piece, offset, len(data))
        if request not in self.peer_requests:
            raise LocalProtocolError(f"{Piece(piece, offset, data)!r} answers no pending request")
        del self.peer_requests[request]
        if self._out:
            out += self._out
            self._out.clear()
        out += _PIECE_FRAME.pack(9 + len(data), PIECE, piece, offset)
        out += data

    def send_requests(self, blocks: Iterable[BlockKey]) -> bytes:
        """Request every (piece, offset, length) of ``blocks``; return all bytes to write.

        The same checks as ``send(Request(...))`` for each, in one call: a pipeline is
        topped up with hundreds of requests at a time, so this is a hot path.
        """
        if self.phase is not Phase.OPEN:
            raise LocalProtocolError(f"cannot send Request in {self.phase}")
        requested, out, pack = self._requested, self._out, _REQUEST_FRAME.pack
        # The checks of ``_send_request``, with the geometry read once per call.
        pieces, piece_length, total = self.num_pieces, self.piece_length, self.total_length
        last = -1 if pieces is None else pieces - 1
        choked = self.peer_choking
        for piece, offset, length in blocks:
            if piece < 0 or (pieces is not None and piece > last):
                raise LocalProtocolError(f"piece {piece} out of range")
            if not 0 < length <= MAX_REQUEST_LENGTH:
                raise LocalProtocolError(f"request length {length} not in 1..16 KiB")
            if not 0 <= offset <= _U32 or piece > _U32:
                raise LocalProtocolError(f"request {piece}/{offset} does not fit in 32 bits")
            if piece_length is not None and total is not None and pieces is not None:
                size = piece_length if piece != last else total - piece * piece_length
                if offset + length > size:
                    raise LocalProtocolError(
                        f"request {piece}/{offset}+{length} runs past its piece"
                    )
            if choked and not self.can_request(piece):
                raise LocalProtocolError("request while choked by the peer")
            key = (piece, offset, length)
            if key in requested:
                raise LocalProtocolError(f"request {key} already requested")
            requested[key] = None
            out += pack(13, REQUEST, piece, offset, length)
        return self.data_to_send()

    def _queue_handshake(self) -> None:
        assert self.info_hash is not None
        self._out += encode_handshake(Handshake(self.info_hash, self.our_peer_id, self._reserved))

    # ---------------------------------------------------------- send handlers

    def _send_raw(self, message: CoreMessage) -> None:
        self._out += encode_message(message)

    def _send_choke(self, m: Choke | Unchoke) -> None:
        new = _LOCAL_CHOKE.get((self.am_choking, type(m)))
        if new is None:
            raise LocalProtocolError(f"{type(m).__name__} while am_choking={self.am_choking}")
        self.am_choking = new
        self._send_raw(m)
        if new:
            for request in list(self.peer_requests):
                if self.fast and request.piece in self.allowed_fast_out:
                    continue
                # BEP 6: with the fast extension a choke no longer discards requests
                # implicitly; every one we will not serve gets an explicit reject.
                if self.fast:
                    self._send_raw(Reject(request.piece, request.offset, request.length))
                del self.peer_requests[request]

    def _send_interest(self, m: Interested | NotInterested) -> None:
        new = _LOCAL_INTEREST.get((self.am_interested, type(m)))
        if new is None:
            raise LocalProtocolError(f"{type(m).__name__} while interested={self.am_interested}")
        self.am_interested = new
        self._send_raw(m)

    def _check_local_piece(self, piece: int) -> None:
        if piece < 0 or (self.num_pieces is not None and piece >= self.num_pieces):
            raise LocalProtocolError(f"piece {piece} out of range")

    def _send_have(self, m: Have | Suggest | AllowedFast) -> None:
        self._check_local_piece(m.piece)
        if not isinstance(m, Have):
            self._local_require_fast(m)
            if isinstance(m, AllowedFast):
                self.allowed_fast_out.add(m.piece)
        self._send_raw(m)

    def _local_require_fast(self, m: object) -> None:
        if not self.fast:
            raise LocalProtocolError(f"{type(m).__name__} needs the fast extension")

    def _send_pieces_first(self, m: BitfieldMessage | HaveAll | HaveNone) -> None:
        if self._we_sent_pieces:
            raise LocalProtocolError("bitfield/have_all/have_none only as the first message")
        if isinstance(m, BitfieldMessage):
            if self.num_pieces is not None and m.bitfield.size != self.num_pieces:
                raise LocalProtocolError("bitfield size differs from the piece count")
        else:
            self._local_require_fast(m)
        self._we_sent_pieces = True
        self._send_raw(m)

    def _send_request(self, m: Request) -> None:
        self._check_local_piece(m.piece)
        if not 0 < m.length <= MAX_REQUEST_LENGTH:
            raise LocalProtocolError(f"request length {m.length} not in 1..16 KiB")
        if not self.fits(m.piece, m.offset, m.length):
            raise LocalProtocolError(f"{m} runs past the end of its piece")
        if not self.can_request(m.piece):
            raise LocalProtocolError("request while choked by the peer")
        key = (m.piece, m.offset, m.length)
        if key in self._requested:
            raise LocalProtocolError(f"{m} already requested")
        self._requested[key] = None
        self._send_raw(m)

    def _send_cancel(self, m: Cancel) -> None:
        request = (m.piece, m.offset, m.length)
        if request not in self._requested:
            raise LocalProtocolError(f"cancel of {Request(*request)}, which is not outstanding")
        del self._requested[request]
        self._cancelled[request] = None
        if len(self._cancelled) > MAX_PEER_REQUESTS:
            del self._cancelled[next(iter(self._cancelled))]
        self._send_raw(m)

    def _send_piece(self, m: Piece) -> None:
        if m.request not in self.peer_requests:
            raise LocalProtocolError(f"{m!r} answers no pending request")
        del self.peer_requests[m.request]
        self._send_raw(m)

    def _send_reject(self, m: Reject) -> None:
        self._local_require_fast(m)
        request = Request(m.piece, m.offset, m.length)
        if request not in self.peer_requests:
            raise LocalProtocolError(f"reject of {request}, which is not pending")
        del self.peer_requests[request]
        self._send_raw(m)

    def _send_extension_handshake(self, m: ExtensionHandshake) -> None:
        if not self.extensions:
            raise LocalProtocolError("the peer does not support BEP 10")
        self.our_extension_ids = {i: name for name, i in m.m.items() if i}
        self._send_raw(Extended(0, encode_extension_handshake(m)))

    def _send_extension(self, m: ExtensionMessage) -> None:
        ext_id = self.peer_extension_ids.get(m.name)
        if not self.extensions or ext_id is None:
            raise LocalProtocolError(f"the peer does not support {m.name!r}")
        self._send_raw(Extended(ext_id, m.payload))

    def _send_metadata(self, m: MetadataMessage) -> None:
        self._send_extension(ExtensionMessage(UT_METADATA, encode_metadata_message(m)))


_W = WireState
_SEND: dict[type, Callable[[WireState, Any], None]] = {
    KeepAlive: _W._send_raw,
    Port: _W._send_raw,
    Choke: _W._send_choke,
    Unchoke: _W._send_choke,
    Interested: _W._send_interest,
    NotInterested: _W._send_interest,
    Have: _W._send_have,
    Suggest: _W._send_have,
    AllowedFast: _W._send_have,
    BitfieldMessage: _W._send_pieces_first,
    HaveAll: _W._send_pieces_first,
    HaveNone: _W._send_pieces_first,
    Request: _W._send_request,
    Cancel: _W._send_cancel,
    Piece: _W._send_piece,
    Reject: _W._send_reject,
    ExtensionHandshake: _W._send_extension_handshake,
    ExtensionMessage: _W._send_extension,
    MetadataRequest: _W._send_metadata,
    MetadataData: _W._send_metadata,
    MetadataReject: _W._send_metadata,
}
